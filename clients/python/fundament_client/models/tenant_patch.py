from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.tenant_patch_plan import TenantPatchPlan
from ..models.tenant_patch_status import TenantPatchStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="TenantPatch")


@_attrs_define
class TenantPatch:
    """A JSON Merge Patch (RFC 7396). ``region`` is accepted only unchanged: it is fixed.

    Attributes:
        name (str | Unset):
        plan (TenantPatchPlan | Unset): A plan of the catalogue this server loaded (FUNDAMENT_PLANS; built in: free,
            pro, enterprise). The `enum` lists them; another name is a 422.
        status (TenantPatchStatus | Unset):
        region (str | Unset): Read-only: accepted only with the tenant's current value (so a tenant as read can be sent
            back), else 422. A tenant changes region by a move, not a patch.
        cell (str | Unset): Read-only: accepted only with the tenant's current value (so a tenant as read can be sent
            back), else 422. A tenant changes cell by a move, not a patch.
    """

    name: str | Unset = UNSET
    plan: TenantPatchPlan | Unset = UNSET
    status: TenantPatchStatus | Unset = UNSET
    region: str | Unset = UNSET
    cell: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        plan: str | Unset = UNSET
        if not isinstance(self.plan, Unset):
            plan = self.plan.value

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        region = self.region

        cell = self.cell

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if name is not UNSET:
            field_dict["name"] = name
        if plan is not UNSET:
            field_dict["plan"] = plan
        if status is not UNSET:
            field_dict["status"] = status
        if region is not UNSET:
            field_dict["region"] = region
        if cell is not UNSET:
            field_dict["cell"] = cell

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name", UNSET)

        _plan = d.pop("plan", UNSET)
        plan: TenantPatchPlan | Unset
        if isinstance(_plan, Unset):
            plan = UNSET
        else:
            plan = TenantPatchPlan(_plan)

        _status = d.pop("status", UNSET)
        status: TenantPatchStatus | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = TenantPatchStatus(_status)

        region = d.pop("region", UNSET)

        cell = d.pop("cell", UNSET)

        tenant_patch = cls(
            name=name,
            plan=plan,
            status=status,
            region=region,
            cell=cell,
        )

        return tenant_patch
