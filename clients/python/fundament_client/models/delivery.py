from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.delivery_status import DeliveryStatus

if TYPE_CHECKING:
    from ..models.attempt import Attempt


T = TypeVar("T", bound="Delivery")


@_attrs_define
class Delivery:
    """
    Attributes:
        id (str):
        webhook_id (str):
        event_id (str):
        event_seq (int):
        status (DeliveryStatus):
        attempt (int): Attempts made so far.
        response_status (int | None): The last attempt's answer.
        duration_ms (int | None): The last attempt's latency.
        at (datetime.datetime): When the last attempt (or the delivery) was made.
        attempts (list[Attempt]): Every attempt, oldest first.
    """

    id: str
    webhook_id: str
    event_id: str
    event_seq: int
    status: DeliveryStatus
    attempt: int
    response_status: int | None
    duration_ms: int | None
    at: datetime.datetime
    attempts: list[Attempt]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        webhook_id = self.webhook_id

        event_id = self.event_id

        event_seq = self.event_seq

        status = self.status.value

        attempt = self.attempt

        response_status: int | None
        response_status = self.response_status

        duration_ms: int | None
        duration_ms = self.duration_ms

        at = self.at.isoformat()

        attempts = []
        for attempts_item_data in self.attempts:
            attempts_item = attempts_item_data.to_dict()
            attempts.append(attempts_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "webhook_id": webhook_id,
                "event_id": event_id,
                "event_seq": event_seq,
                "status": status,
                "attempt": attempt,
                "response_status": response_status,
                "duration_ms": duration_ms,
                "at": at,
                "attempts": attempts,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.attempt import Attempt  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        webhook_id = d.pop("webhook_id")

        event_id = d.pop("event_id")

        event_seq = d.pop("event_seq")

        status = DeliveryStatus(d.pop("status"))

        attempt = d.pop("attempt")

        def _parse_response_status(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        response_status = _parse_response_status(d.pop("response_status"))

        def _parse_duration_ms(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        duration_ms = _parse_duration_ms(d.pop("duration_ms"))

        at = datetime.datetime.fromisoformat(d.pop("at"))

        attempts = []
        _attempts = d.pop("attempts")
        for attempts_item_data in _attempts:
            attempts_item = Attempt.from_dict(attempts_item_data)

            attempts.append(attempts_item)

        delivery = cls(
            id=id,
            webhook_id=webhook_id,
            event_id=event_id,
            event_seq=event_seq,
            status=status,
            attempt=attempt,
            response_status=response_status,
            duration_ms=duration_ms,
            at=at,
            attempts=attempts,
        )

        delivery.additional_properties = d
        return delivery

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
