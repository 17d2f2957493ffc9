from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="GatewayDifference")


@_attrs_define
class GatewayDifference:
    """
    Attributes:
        path (str): `status`, `header:NAME`, or a JSON Pointer into the body (`` : the whole body).
        legacy (Any): Legacy's value there (`(absent)`: none; personal: `[redacted]`).
        fundament (Any): Fundament's value there, the same way.
    """

    path: str
    legacy: Any
    fundament: Any
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        path = self.path

        legacy = self.legacy

        fundament = self.fundament

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "path": path,
                "legacy": legacy,
                "fundament": fundament,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        path = d.pop("path")

        legacy = d.pop("legacy")

        fundament = d.pop("fundament")

        gateway_difference = cls(
            path=path,
            legacy=legacy,
            fundament=fundament,
        )

        gateway_difference.additional_properties = d
        return gateway_difference

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
