from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.finops_report_capacity import FinopsReportCapacity
    from ..models.finops_report_capacity_measurement import FinopsReportCapacityMeasurement
    from ..models.finops_report_features import FinopsReportFeatures
    from ..models.finops_report_resources_item import FinopsReportResourcesItem
    from ..models.finops_report_teams import FinopsReportTeams
    from ..models.finops_report_tenants_item import FinopsReportTenantsItem


T = TypeVar("T", bound="FinopsReport")


@_attrs_define
class FinopsReport:
    """
    Attributes:
        month (str):
        currency (str):
        cost_source (str):
        method (str): How costs were split, in plain words.
        total_cost_eur (str):
        total_revenue_eur (str):
        total_margin_eur (str):
        unallocated_eur (str):
        unallocated_note (None | str):
        resources (list[FinopsReportResourcesItem]):
        tenants (list[FinopsReportTenantsItem]):
        features (FinopsReportFeatures):
        teams (FinopsReportTeams): Cost per owning team (the cost model's [[teams]]); features no team claims are
            'unassigned', costs no feature causes '(shared)'. Adds up to total_cost_eur.
        capacity (FinopsReportCapacity):
        capacity_measurement (FinopsReportCapacityMeasurement | Unset):
    """

    month: str
    currency: str
    cost_source: str
    method: str
    total_cost_eur: str
    total_revenue_eur: str
    total_margin_eur: str
    unallocated_eur: str
    unallocated_note: None | str
    resources: list[FinopsReportResourcesItem]
    tenants: list[FinopsReportTenantsItem]
    features: FinopsReportFeatures
    teams: FinopsReportTeams
    capacity: FinopsReportCapacity
    capacity_measurement: FinopsReportCapacityMeasurement | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        month = self.month

        currency = self.currency

        cost_source = self.cost_source

        method = self.method

        total_cost_eur = self.total_cost_eur

        total_revenue_eur = self.total_revenue_eur

        total_margin_eur = self.total_margin_eur

        unallocated_eur = self.unallocated_eur

        unallocated_note: None | str
        unallocated_note = self.unallocated_note

        resources = []
        for resources_item_data in self.resources:
            resources_item = resources_item_data.to_dict()
            resources.append(resources_item)

        tenants = []
        for tenants_item_data in self.tenants:
            tenants_item = tenants_item_data.to_dict()
            tenants.append(tenants_item)

        features = self.features.to_dict()

        teams = self.teams.to_dict()

        capacity = self.capacity.to_dict()

        capacity_measurement: dict[str, Any] | Unset = UNSET
        if not isinstance(self.capacity_measurement, Unset):
            capacity_measurement = self.capacity_measurement.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "month": month,
                "currency": currency,
                "cost_source": cost_source,
                "method": method,
                "total_cost_eur": total_cost_eur,
                "total_revenue_eur": total_revenue_eur,
                "total_margin_eur": total_margin_eur,
                "unallocated_eur": unallocated_eur,
                "unallocated_note": unallocated_note,
                "resources": resources,
                "tenants": tenants,
                "features": features,
                "teams": teams,
                "capacity": capacity,
            }
        )
        if capacity_measurement is not UNSET:
            field_dict["capacity_measurement"] = capacity_measurement

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.finops_report_capacity import FinopsReportCapacity  # noqa: PLC0415
        from ..models.finops_report_capacity_measurement import FinopsReportCapacityMeasurement  # noqa: PLC0415
        from ..models.finops_report_features import FinopsReportFeatures  # noqa: PLC0415
        from ..models.finops_report_resources_item import FinopsReportResourcesItem  # noqa: PLC0415
        from ..models.finops_report_teams import FinopsReportTeams  # noqa: PLC0415
        from ..models.finops_report_tenants_item import FinopsReportTenantsItem  # noqa: PLC0415

        d = dict(src_dict)
        month = d.pop("month")

        currency = d.pop("currency")

        cost_source = d.pop("cost_source")

        method = d.pop("method")

        total_cost_eur = d.pop("total_cost_eur")

        total_revenue_eur = d.pop("total_revenue_eur")

        total_margin_eur = d.pop("total_margin_eur")

        unallocated_eur = d.pop("unallocated_eur")

        def _parse_unallocated_note(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        unallocated_note = _parse_unallocated_note(d.pop("unallocated_note"))

        resources = []
        _resources = d.pop("resources")
        for resources_item_data in _resources:
            resources_item = FinopsReportResourcesItem.from_dict(resources_item_data)

            resources.append(resources_item)

        tenants = []
        _tenants = d.pop("tenants")
        for tenants_item_data in _tenants:
            tenants_item = FinopsReportTenantsItem.from_dict(tenants_item_data)

            tenants.append(tenants_item)

        features = FinopsReportFeatures.from_dict(d.pop("features"))

        teams = FinopsReportTeams.from_dict(d.pop("teams"))

        capacity = FinopsReportCapacity.from_dict(d.pop("capacity"))

        _capacity_measurement = d.pop("capacity_measurement", UNSET)
        capacity_measurement: FinopsReportCapacityMeasurement | Unset
        if isinstance(_capacity_measurement, Unset):
            capacity_measurement = UNSET
        else:
            capacity_measurement = FinopsReportCapacityMeasurement.from_dict(_capacity_measurement)

        finops_report = cls(
            month=month,
            currency=currency,
            cost_source=cost_source,
            method=method,
            total_cost_eur=total_cost_eur,
            total_revenue_eur=total_revenue_eur,
            total_margin_eur=total_margin_eur,
            unallocated_eur=unallocated_eur,
            unallocated_note=unallocated_note,
            resources=resources,
            tenants=tenants,
            features=features,
            teams=teams,
            capacity=capacity,
            capacity_measurement=capacity_measurement,
        )

        finops_report.additional_properties = d
        return finops_report

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
