from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.cell_summary_status import CellSummaryStatus

T = TypeVar("T", bound="CellSummary")


@_attrs_define
class CellSummary:
    """A cell: one PostgreSQL cluster (with its replicas) of one region.

    Attributes:
        name (str): `main` is the control database.
        region (str):
        tenants (int): Tenants placed on the cell.
        stored_bytes (int): Its tenants' stored bytes (records and audit trail) as last sampled by metering; placement
            puts a new tenant on the emptiest cell of its region by this.
        status (CellSummaryStatus): `unreachable`: this instance cannot connect to it (its tenants get 503).
    """

    name: str
    region: str
    tenants: int
    stored_bytes: int
    status: CellSummaryStatus
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        region = self.region

        tenants = self.tenants

        stored_bytes = self.stored_bytes

        status = self.status.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "region": region,
                "tenants": tenants,
                "stored_bytes": stored_bytes,
                "status": status,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        region = d.pop("region")

        tenants = d.pop("tenants")

        stored_bytes = d.pop("stored_bytes")

        status = CellSummaryStatus(d.pop("status"))

        cell_summary = cls(
            name=name,
            region=region,
            tenants=tenants,
            stored_bytes=stored_bytes,
            status=status,
        )

        cell_summary.additional_properties = d
        return cell_summary

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
