from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.subject_export_audit_events_item import SubjectExportAuditEventsItem
    from ..models.subject_export_processing_item import SubjectExportProcessingItem
    from ..models.subject_export_records import SubjectExportRecords


T = TypeVar("T", bound="SubjectExport")


@_attrs_define
class SubjectExport:
    """A finished subject access export (Art. 15 GDPR): what the tenant holds about the subject.

    Attributes:
        subject (str):
        generated_at (datetime.datetime):
        region (str):
        records (SubjectExportRecords): The subject's records, per collection.
        audit_events (list[SubjectExportAuditEventsItem]): Audit events about those records, with their personal values
            revealed.
        processing (list[SubjectExportProcessingItem]): The processing activities of those collections (as in the
            processing record).
    """

    subject: str
    generated_at: datetime.datetime
    region: str
    records: SubjectExportRecords
    audit_events: list[SubjectExportAuditEventsItem]
    processing: list[SubjectExportProcessingItem]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        subject = self.subject

        generated_at = self.generated_at.isoformat()

        region = self.region

        records = self.records.to_dict()

        audit_events = []
        for audit_events_item_data in self.audit_events:
            audit_events_item = audit_events_item_data.to_dict()
            audit_events.append(audit_events_item)

        processing = []
        for processing_item_data in self.processing:
            processing_item = processing_item_data.to_dict()
            processing.append(processing_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "subject": subject,
                "generated_at": generated_at,
                "region": region,
                "records": records,
                "audit_events": audit_events,
                "processing": processing,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.subject_export_audit_events_item import SubjectExportAuditEventsItem  # noqa: PLC0415
        from ..models.subject_export_processing_item import SubjectExportProcessingItem  # noqa: PLC0415
        from ..models.subject_export_records import SubjectExportRecords  # noqa: PLC0415

        d = dict(src_dict)
        subject = d.pop("subject")

        generated_at = datetime.datetime.fromisoformat(d.pop("generated_at"))

        region = d.pop("region")

        records = SubjectExportRecords.from_dict(d.pop("records"))

        audit_events = []
        _audit_events = d.pop("audit_events")
        for audit_events_item_data in _audit_events:
            audit_events_item = SubjectExportAuditEventsItem.from_dict(audit_events_item_data)

            audit_events.append(audit_events_item)

        processing = []
        _processing = d.pop("processing")
        for processing_item_data in _processing:
            processing_item = SubjectExportProcessingItem.from_dict(processing_item_data)

            processing.append(processing_item)

        subject_export = cls(
            subject=subject,
            generated_at=generated_at,
            region=region,
            records=records,
            audit_events=audit_events,
            processing=processing,
        )

        subject_export.additional_properties = d
        return subject_export

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
