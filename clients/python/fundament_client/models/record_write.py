from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.record_write_data import RecordWriteData


T = TypeVar("T", bound="RecordWrite")


@_attrs_define
class RecordWrite:
    """The body of POST and PUT: the record's fields under `data`. (PATCH differs: its body is
    the merge patch of `data` itself, unwrapped; see RecordDataPatch.)

        Attributes:
            data (RecordWriteData): The record's fields; must pass the collection schema. Every value must be storable:
                integers within 64 bits (-2^63 to 2^64-1; a larger number may be sent as a double, `1e30`), no U+0000 in strings
                or keys, the body nested at most 64 levels deep. Else 422 naming the rule (400 `invalid-json` for the nesting).
    """

    data: RecordWriteData

    def to_dict(self) -> dict[str, Any]:
        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.record_write_data import RecordWriteData  # noqa: PLC0415

        d = dict(src_dict)
        data = RecordWriteData.from_dict(d.pop("data"))

        record_write = cls(
            data=data,
        )

        return record_write
