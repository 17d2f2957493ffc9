from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.collection_on_erasure import CollectionOnErasure

if TYPE_CHECKING:
    from ..models.collection_schema import CollectionSchema


T = TypeVar("T", bound="Collection")


@_attrs_define
class Collection:
    """
    Attributes:
        name (str):
        schema (CollectionSchema):
        indexes (list[str]):
        personal_fields (list[str]):
        subject_field (None | str):
        retention_days (int | None):
        purpose (None | str):
        legal_basis (None | str):
        on_erasure (CollectionOnErasure):
        version (int):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
    """

    name: str
    schema: CollectionSchema
    indexes: list[str]
    personal_fields: list[str]
    subject_field: None | str
    retention_days: int | None
    purpose: None | str
    legal_basis: None | str
    on_erasure: CollectionOnErasure
    version: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        schema = self.schema.to_dict()

        indexes = self.indexes

        personal_fields = self.personal_fields

        subject_field: None | str
        subject_field = self.subject_field

        retention_days: int | None
        retention_days = self.retention_days

        purpose: None | str
        purpose = self.purpose

        legal_basis: None | str
        legal_basis = self.legal_basis

        on_erasure = self.on_erasure.value

        version = self.version

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "schema": schema,
                "indexes": indexes,
                "personal_fields": personal_fields,
                "subject_field": subject_field,
                "retention_days": retention_days,
                "purpose": purpose,
                "legal_basis": legal_basis,
                "on_erasure": on_erasure,
                "version": version,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.collection_schema import CollectionSchema  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        schema = CollectionSchema.from_dict(d.pop("schema"))

        indexes = cast(list[str], d.pop("indexes"))

        personal_fields = cast(list[str], d.pop("personal_fields"))

        def _parse_subject_field(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        subject_field = _parse_subject_field(d.pop("subject_field"))

        def _parse_retention_days(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        retention_days = _parse_retention_days(d.pop("retention_days"))

        def _parse_purpose(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        purpose = _parse_purpose(d.pop("purpose"))

        def _parse_legal_basis(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        legal_basis = _parse_legal_basis(d.pop("legal_basis"))

        on_erasure = CollectionOnErasure(d.pop("on_erasure"))

        version = d.pop("version")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        collection = cls(
            name=name,
            schema=schema,
            indexes=indexes,
            personal_fields=personal_fields,
            subject_field=subject_field,
            retention_days=retention_days,
            purpose=purpose,
            legal_basis=legal_basis,
            on_erasure=on_erasure,
            version=version,
            created_at=created_at,
            updated_at=updated_at,
        )

        collection.additional_properties = d
        return collection

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
