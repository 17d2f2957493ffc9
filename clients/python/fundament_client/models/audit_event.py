from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.audit_event_details import AuditEventDetails
    from ..models.ref import Ref


T = TypeVar("T", bound="AuditEvent")


@_attrs_define
class AuditEvent:
    """
    Attributes:
        id (str):
        seq (int):
        at (datetime.datetime):
        actor (Ref):
        action (str):
        target (Ref):
        request_id (None | str):
        details (AuditEventDetails): Names of what changed; never personal values.
        prev_hash (str):
        hash_ (str):
    """

    id: str
    seq: int
    at: datetime.datetime
    actor: Ref
    action: str
    target: Ref
    request_id: None | str
    details: AuditEventDetails
    prev_hash: str
    hash_: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        seq = self.seq

        at = self.at.isoformat()

        actor = self.actor.to_dict()

        action = self.action

        target = self.target.to_dict()

        request_id: None | str
        request_id = self.request_id

        details = self.details.to_dict()

        prev_hash = self.prev_hash

        hash_ = self.hash_

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "request_id": request_id,
                "details": details,
                "prev_hash": prev_hash,
                "hash": hash_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_event_details import AuditEventDetails  # noqa: PLC0415
        from ..models.ref import Ref  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        seq = d.pop("seq")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        actor = Ref.from_dict(d.pop("actor"))

        action = d.pop("action")

        target = Ref.from_dict(d.pop("target"))

        def _parse_request_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        request_id = _parse_request_id(d.pop("request_id"))

        details = AuditEventDetails.from_dict(d.pop("details"))

        prev_hash = d.pop("prev_hash")

        hash_ = d.pop("hash")

        audit_event = cls(
            id=id,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            details=details,
            prev_hash=prev_hash,
            hash_=hash_,
        )

        audit_event.additional_properties = d
        return audit_event

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
