from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.capacity_plan_hpa import CapacityPlanHpa
    from ..models.capacity_plan_marginal_cost_per_user_item import CapacityPlanMarginalCostPerUserItem
    from ..models.capacity_plan_measurement import CapacityPlanMeasurement


T = TypeVar("T", bound="CapacityPlan")


@_attrs_define
class CapacityPlan:
    """
    Attributes:
        users (int):
        requests_per_user_per_minute (float):
        load_rps (float):
        peak_rps (float):
        peak_factor (int):
        measurement (CapacityPlanMeasurement):
        target_utilisation (float):
        usable_rps_per_instance (float):
        instances (int):
        utilisation_at_load (float):
        p99_target_ms (float):
        p99_feasible (bool):
        hpa_min_replicas (int):
        hpa_max_replicas (int):
        instance (str):
        currency (str):
        instance_monthly_cost_eur (str):
        compute_monthly_cost_eur (str):
        fixed_monthly_cost_eur (str):
        monthly_cost_eur (str):
        cost_per_user_eur (str):
        marginal_cost_per_user (list[CapacityPlanMarginalCostPerUserItem]):
        marginal_method (str):
        notes (list[str]):
        hpa (CapacityPlanHpa): A HorizontalPodAutoscaler (autoscaling/v2) manifest.
    """

    users: int
    requests_per_user_per_minute: float
    load_rps: float
    peak_rps: float
    peak_factor: int
    measurement: CapacityPlanMeasurement
    target_utilisation: float
    usable_rps_per_instance: float
    instances: int
    utilisation_at_load: float
    p99_target_ms: float
    p99_feasible: bool
    hpa_min_replicas: int
    hpa_max_replicas: int
    instance: str
    currency: str
    instance_monthly_cost_eur: str
    compute_monthly_cost_eur: str
    fixed_monthly_cost_eur: str
    monthly_cost_eur: str
    cost_per_user_eur: str
    marginal_cost_per_user: list[CapacityPlanMarginalCostPerUserItem]
    marginal_method: str
    notes: list[str]
    hpa: CapacityPlanHpa
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        users = self.users

        requests_per_user_per_minute = self.requests_per_user_per_minute

        load_rps = self.load_rps

        peak_rps = self.peak_rps

        peak_factor = self.peak_factor

        measurement = self.measurement.to_dict()

        target_utilisation = self.target_utilisation

        usable_rps_per_instance = self.usable_rps_per_instance

        instances = self.instances

        utilisation_at_load = self.utilisation_at_load

        p99_target_ms = self.p99_target_ms

        p99_feasible = self.p99_feasible

        hpa_min_replicas = self.hpa_min_replicas

        hpa_max_replicas = self.hpa_max_replicas

        instance = self.instance

        currency = self.currency

        instance_monthly_cost_eur = self.instance_monthly_cost_eur

        compute_monthly_cost_eur = self.compute_monthly_cost_eur

        fixed_monthly_cost_eur = self.fixed_monthly_cost_eur

        monthly_cost_eur = self.monthly_cost_eur

        cost_per_user_eur = self.cost_per_user_eur

        marginal_cost_per_user = []
        for marginal_cost_per_user_item_data in self.marginal_cost_per_user:
            marginal_cost_per_user_item = marginal_cost_per_user_item_data.to_dict()
            marginal_cost_per_user.append(marginal_cost_per_user_item)

        marginal_method = self.marginal_method

        notes = self.notes

        hpa = self.hpa.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "users": users,
                "requests_per_user_per_minute": requests_per_user_per_minute,
                "load_rps": load_rps,
                "peak_rps": peak_rps,
                "peak_factor": peak_factor,
                "measurement": measurement,
                "target_utilisation": target_utilisation,
                "usable_rps_per_instance": usable_rps_per_instance,
                "instances": instances,
                "utilisation_at_load": utilisation_at_load,
                "p99_target_ms": p99_target_ms,
                "p99_feasible": p99_feasible,
                "hpa_min_replicas": hpa_min_replicas,
                "hpa_max_replicas": hpa_max_replicas,
                "instance": instance,
                "currency": currency,
                "instance_monthly_cost_eur": instance_monthly_cost_eur,
                "compute_monthly_cost_eur": compute_monthly_cost_eur,
                "fixed_monthly_cost_eur": fixed_monthly_cost_eur,
                "monthly_cost_eur": monthly_cost_eur,
                "cost_per_user_eur": cost_per_user_eur,
                "marginal_cost_per_user": marginal_cost_per_user,
                "marginal_method": marginal_method,
                "notes": notes,
                "hpa": hpa,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.capacity_plan_hpa import CapacityPlanHpa  # noqa: PLC0415
        from ..models.capacity_plan_marginal_cost_per_user_item import CapacityPlanMarginalCostPerUserItem  # noqa: PLC0415
        from ..models.capacity_plan_measurement import CapacityPlanMeasurement  # noqa: PLC0415

        d = dict(src_dict)
        users = d.pop("users")

        requests_per_user_per_minute = d.pop("requests_per_user_per_minute")

        load_rps = d.pop("load_rps")

        peak_rps = d.pop("peak_rps")

        peak_factor = d.pop("peak_factor")

        measurement = CapacityPlanMeasurement.from_dict(d.pop("measurement"))

        target_utilisation = d.pop("target_utilisation")

        usable_rps_per_instance = d.pop("usable_rps_per_instance")

        instances = d.pop("instances")

        utilisation_at_load = d.pop("utilisation_at_load")

        p99_target_ms = d.pop("p99_target_ms")

        p99_feasible = d.pop("p99_feasible")

        hpa_min_replicas = d.pop("hpa_min_replicas")

        hpa_max_replicas = d.pop("hpa_max_replicas")

        instance = d.pop("instance")

        currency = d.pop("currency")

        instance_monthly_cost_eur = d.pop("instance_monthly_cost_eur")

        compute_monthly_cost_eur = d.pop("compute_monthly_cost_eur")

        fixed_monthly_cost_eur = d.pop("fixed_monthly_cost_eur")

        monthly_cost_eur = d.pop("monthly_cost_eur")

        cost_per_user_eur = d.pop("cost_per_user_eur")

        marginal_cost_per_user = []
        _marginal_cost_per_user = d.pop("marginal_cost_per_user")
        for marginal_cost_per_user_item_data in _marginal_cost_per_user:
            marginal_cost_per_user_item = CapacityPlanMarginalCostPerUserItem.from_dict(
                marginal_cost_per_user_item_data
            )

            marginal_cost_per_user.append(marginal_cost_per_user_item)

        marginal_method = d.pop("marginal_method")

        notes = cast(list[str], d.pop("notes"))

        hpa = CapacityPlanHpa.from_dict(d.pop("hpa"))

        capacity_plan = cls(
            users=users,
            requests_per_user_per_minute=requests_per_user_per_minute,
            load_rps=load_rps,
            peak_rps=peak_rps,
            peak_factor=peak_factor,
            measurement=measurement,
            target_utilisation=target_utilisation,
            usable_rps_per_instance=usable_rps_per_instance,
            instances=instances,
            utilisation_at_load=utilisation_at_load,
            p99_target_ms=p99_target_ms,
            p99_feasible=p99_feasible,
            hpa_min_replicas=hpa_min_replicas,
            hpa_max_replicas=hpa_max_replicas,
            instance=instance,
            currency=currency,
            instance_monthly_cost_eur=instance_monthly_cost_eur,
            compute_monthly_cost_eur=compute_monthly_cost_eur,
            fixed_monthly_cost_eur=fixed_monthly_cost_eur,
            monthly_cost_eur=monthly_cost_eur,
            cost_per_user_eur=cost_per_user_eur,
            marginal_cost_per_user=marginal_cost_per_user,
            marginal_method=marginal_method,
            notes=notes,
            hpa=hpa,
        )

        capacity_plan.additional_properties = d
        return capacity_plan

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
