from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="CollectionEventsStreamResponse200")


@_attrs_define
class CollectionEventsStreamResponse200:
    """
    Attributes:
        data (str): The event as JSON: `id`, `seq`, `type`, `collection`, `record_id`, `at`, `data`.
        id (str | Unset): The event's `seq`.
        event (str | Unset): The event's `type`.
    """

    data: str
    id: str | Unset = UNSET
    event: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = self.data

        id = self.id

        event = self.event

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "data": data,
            }
        )
        if id is not UNSET:
            field_dict["id"] = id
        if event is not UNSET:
            field_dict["event"] = event

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        data = d.pop("data")

        id = d.pop("id", UNSET)

        event = d.pop("event", UNSET)

        collection_events_stream_response_200 = cls(
            data=data,
            id=id,
            event=event,
        )

        collection_events_stream_response_200.additional_properties = d
        return collection_events_stream_response_200

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
