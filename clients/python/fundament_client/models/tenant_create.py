from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.tenant_create_plan import TenantCreatePlan
from ..types import UNSET, Unset

T = TypeVar("T", bound="TenantCreate")


@_attrs_define
class TenantCreate:
    """
    Attributes:
        name (str):
        slug (str): Unique, `[a-z0-9-]{3,40}`.
        region (str | Unset): Hosting region; fixed at creation (data residency). Absent: the server's default region
            (FUNDAMENT_DEFAULT_REGION, `eu-central-1` unless set).
        plan (TenantCreatePlan | Unset): A plan of the catalogue this server loaded (FUNDAMENT_PLANS; built in: free,
            pro, enterprise); the `enum` lists them, another name is a 422. Absent: the server's default plan
            (FUNDAMENT_DEFAULT_PLAN, `free` unless set).
    """

    name: str
    slug: str
    region: str | Unset = UNSET
    plan: TenantCreatePlan | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        slug = self.slug

        region = self.region

        plan: str | Unset = UNSET
        if not isinstance(self.plan, Unset):
            plan = self.plan.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "slug": slug,
            }
        )
        if region is not UNSET:
            field_dict["region"] = region
        if plan is not UNSET:
            field_dict["plan"] = plan

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        slug = d.pop("slug")

        region = d.pop("region", UNSET)

        _plan = d.pop("plan", UNSET)
        plan: TenantCreatePlan | Unset
        if isinstance(_plan, Unset):
            plan = UNSET
        else:
            plan = TenantCreatePlan(_plan)

        tenant_create = cls(
            name=name,
            slug=slug,
            region=region,
            plan=plan,
        )

        return tenant_create
