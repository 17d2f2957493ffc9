from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.processing_record_activities_item import ProcessingRecordActivitiesItem
    from ..models.processing_record_controller import ProcessingRecordController


T = TypeVar("T", bound="ProcessingRecord")


@_attrs_define
class ProcessingRecord:
    """
    Attributes:
        controller (ProcessingRecordController):
        region (str):
        generated_at (datetime.datetime):
        activities (list[ProcessingRecordActivitiesItem]):
    """

    controller: ProcessingRecordController
    region: str
    generated_at: datetime.datetime
    activities: list[ProcessingRecordActivitiesItem]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        controller = self.controller.to_dict()

        region = self.region

        generated_at = self.generated_at.isoformat()

        activities = []
        for activities_item_data in self.activities:
            activities_item = activities_item_data.to_dict()
            activities.append(activities_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "controller": controller,
                "region": region,
                "generated_at": generated_at,
                "activities": activities,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.processing_record_activities_item import ProcessingRecordActivitiesItem  # noqa: PLC0415
        from ..models.processing_record_controller import ProcessingRecordController  # noqa: PLC0415

        d = dict(src_dict)
        controller = ProcessingRecordController.from_dict(d.pop("controller"))

        region = d.pop("region")

        generated_at = datetime.datetime.fromisoformat(d.pop("generated_at"))

        activities = []
        _activities = d.pop("activities")
        for activities_item_data in _activities:
            activities_item = ProcessingRecordActivitiesItem.from_dict(activities_item_data)

            activities.append(activities_item)

        processing_record = cls(
            controller=controller,
            region=region,
            generated_at=generated_at,
            activities=activities,
        )

        processing_record.additional_properties = d
        return processing_record

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
