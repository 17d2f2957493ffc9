from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.gateway_difference import GatewayDifference


T = TypeVar("T", bound="GatewayExample")


@_attrs_define
class GatewayExample:
    """One mismatching request, redacted of personal fields.

    Attributes:
        at (datetime.datetime):
        method (str):
        path (str):
        legacy_status (int):
        fundament_status (int):
        differences (list[GatewayDifference]):
    """

    at: datetime.datetime
    method: str
    path: str
    legacy_status: int
    fundament_status: int
    differences: list[GatewayDifference]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        at = self.at.isoformat()

        method = self.method

        path = self.path

        legacy_status = self.legacy_status

        fundament_status = self.fundament_status

        differences = []
        for differences_item_data in self.differences:
            differences_item = differences_item_data.to_dict()
            differences.append(differences_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "at": at,
                "method": method,
                "path": path,
                "legacy_status": legacy_status,
                "fundament_status": fundament_status,
                "differences": differences,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.gateway_difference import GatewayDifference  # noqa: PLC0415

        d = dict(src_dict)
        at = datetime.datetime.fromisoformat(d.pop("at"))

        method = d.pop("method")

        path = d.pop("path")

        legacy_status = d.pop("legacy_status")

        fundament_status = d.pop("fundament_status")

        differences = []
        _differences = d.pop("differences")
        for differences_item_data in _differences:
            differences_item = GatewayDifference.from_dict(differences_item_data)

            differences.append(differences_item)

        gateway_example = cls(
            at=at,
            method=method,
            path=path,
            legacy_status=legacy_status,
            fundament_status=fundament_status,
            differences=differences,
        )

        gateway_example.additional_properties = d
        return gateway_example

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
