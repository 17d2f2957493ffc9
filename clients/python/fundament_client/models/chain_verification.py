from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ChainVerification")


@_attrs_define
class ChainVerification:
    """
    Attributes:
        valid (bool):
        count (int):
        head (None | str): Hash of the last event (hex).
        broken_seq (int | None | Unset): First seq that fails, if any.
        reason (None | str | Unset):
    """

    valid: bool
    count: int
    head: None | str
    broken_seq: int | None | Unset = UNSET
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        valid = self.valid

        count = self.count

        head: None | str
        head = self.head

        broken_seq: int | None | Unset
        if isinstance(self.broken_seq, Unset):
            broken_seq = UNSET
        else:
            broken_seq = self.broken_seq

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "valid": valid,
                "count": count,
                "head": head,
            }
        )
        if broken_seq is not UNSET:
            field_dict["broken_seq"] = broken_seq
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        valid = d.pop("valid")

        count = d.pop("count")

        def _parse_head(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        head = _parse_head(d.pop("head"))

        def _parse_broken_seq(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        broken_seq = _parse_broken_seq(d.pop("broken_seq", UNSET))

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        chain_verification = cls(
            valid=valid,
            count=count,
            head=head,
            broken_seq=broken_seq,
            reason=reason,
        )

        chain_verification.additional_properties = d
        return chain_verification

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
