from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.collection_patch_on_erasure import CollectionPatchOnErasure
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.collection_patch_schema import CollectionPatchSchema


T = TypeVar("T", bound="CollectionPatch")


@_attrs_define
class CollectionPatch:
    """JSON Merge Patch of a collection; ``schema`` is merged too (RFC 7396 is recursive).

    Attributes:
        schema (CollectionPatchSchema | Unset):
        indexes (list[str] | Unset): Fields (dot paths) that filters and sorts use through an index: at most 8 per
            collection (the plan may allow fewer). Any value stays storable; long strings are indexed by their first 200
            characters and checked in full.
        personal_fields (list[str] | Unset):
        subject_field (None | str | Unset):
        retention_days (int | None | Unset):
        purpose (None | str | Unset):
        legal_basis (None | str | Unset):
        on_erasure (CollectionPatchOnErasure | Unset):
    """

    schema: CollectionPatchSchema | Unset = UNSET
    indexes: list[str] | Unset = UNSET
    personal_fields: list[str] | Unset = UNSET
    subject_field: None | str | Unset = UNSET
    retention_days: int | None | Unset = UNSET
    purpose: None | str | Unset = UNSET
    legal_basis: None | str | Unset = UNSET
    on_erasure: CollectionPatchOnErasure | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        schema: dict[str, Any] | Unset = UNSET
        if not isinstance(self.schema, Unset):
            schema = self.schema.to_dict()

        indexes: list[str] | Unset = UNSET
        if not isinstance(self.indexes, Unset):
            indexes = self.indexes

        personal_fields: list[str] | Unset = UNSET
        if not isinstance(self.personal_fields, Unset):
            personal_fields = self.personal_fields

        subject_field: None | str | Unset
        if isinstance(self.subject_field, Unset):
            subject_field = UNSET
        else:
            subject_field = self.subject_field

        retention_days: int | None | Unset
        if isinstance(self.retention_days, Unset):
            retention_days = UNSET
        else:
            retention_days = self.retention_days

        purpose: None | str | Unset
        if isinstance(self.purpose, Unset):
            purpose = UNSET
        else:
            purpose = self.purpose

        legal_basis: None | str | Unset
        if isinstance(self.legal_basis, Unset):
            legal_basis = UNSET
        else:
            legal_basis = self.legal_basis

        on_erasure: str | Unset = UNSET
        if not isinstance(self.on_erasure, Unset):
            on_erasure = self.on_erasure.value

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if schema is not UNSET:
            field_dict["schema"] = schema
        if indexes is not UNSET:
            field_dict["indexes"] = indexes
        if personal_fields is not UNSET:
            field_dict["personal_fields"] = personal_fields
        if subject_field is not UNSET:
            field_dict["subject_field"] = subject_field
        if retention_days is not UNSET:
            field_dict["retention_days"] = retention_days
        if purpose is not UNSET:
            field_dict["purpose"] = purpose
        if legal_basis is not UNSET:
            field_dict["legal_basis"] = legal_basis
        if on_erasure is not UNSET:
            field_dict["on_erasure"] = on_erasure

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.collection_patch_schema import CollectionPatchSchema  # noqa: PLC0415

        d = dict(src_dict)
        _schema = d.pop("schema", UNSET)
        schema: CollectionPatchSchema | Unset
        if isinstance(_schema, Unset):
            schema = UNSET
        else:
            schema = CollectionPatchSchema.from_dict(_schema)

        indexes = cast(list[str], d.pop("indexes", UNSET))

        personal_fields = cast(list[str], d.pop("personal_fields", UNSET))

        def _parse_subject_field(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        subject_field = _parse_subject_field(d.pop("subject_field", UNSET))

        def _parse_retention_days(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        retention_days = _parse_retention_days(d.pop("retention_days", UNSET))

        def _parse_purpose(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        purpose = _parse_purpose(d.pop("purpose", UNSET))

        def _parse_legal_basis(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        legal_basis = _parse_legal_basis(d.pop("legal_basis", UNSET))

        _on_erasure = d.pop("on_erasure", UNSET)
        on_erasure: CollectionPatchOnErasure | Unset
        if isinstance(_on_erasure, Unset):
            on_erasure = UNSET
        else:
            on_erasure = CollectionPatchOnErasure(_on_erasure)

        collection_patch = cls(
            schema=schema,
            indexes=indexes,
            personal_fields=personal_fields,
            subject_field=subject_field,
            retention_days=retention_days,
            purpose=purpose,
            legal_basis=legal_basis,
            on_erasure=on_erasure,
        )

        return collection_patch
