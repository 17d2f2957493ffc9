from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.tenant_move_status import TenantMoveStatus

T = TypeVar("T", bound="TenantMove")


@_attrs_define
class TenantMove:
    """A move of a tenant to another cell of its region: a job to poll.

    Attributes:
        id (str):
        status (TenantMoveStatus): `copying` the tenant's rows to the target, `catching_up` with what changed meanwhile,
            `switching` (its writes wait, at most about a second, while the last changes are copied, the target is verified
            and the directory switches), then `done` (the source's rows are deleted) or `failed` (the tenant is whole on the
            source, serving; see `error`).
        tenant (str):
        from_ (str): The cell the tenant was on.
        to (str): The cell it moves to (of the same region).
        error (None | str): Why the move failed (null unless `failed`).
        freeze_ms (float | None): How long the tenant's writes waited, once it has switched.
        rows_copied (int): Rows copied so far, catch-up passes included.
        created_at (datetime.datetime):
        finished_at (datetime.datetime | None):
    """

    id: str
    status: TenantMoveStatus
    tenant: str
    from_: str
    to: str
    error: None | str
    freeze_ms: float | None
    rows_copied: int
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        status = self.status.value

        tenant = self.tenant

        from_ = self.from_

        to = self.to

        error: None | str
        error = self.error

        freeze_ms: float | None
        freeze_ms = self.freeze_ms

        rows_copied = self.rows_copied

        created_at = self.created_at.isoformat()

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
                "tenant": tenant,
                "from": from_,
                "to": to,
                "error": error,
                "freeze_ms": freeze_ms,
                "rows_copied": rows_copied,
                "created_at": created_at,
                "finished_at": finished_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        status = TenantMoveStatus(d.pop("status"))

        tenant = d.pop("tenant")

        from_ = d.pop("from")

        to = d.pop("to")

        def _parse_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        error = _parse_error(d.pop("error"))

        def _parse_freeze_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        freeze_ms = _parse_freeze_ms(d.pop("freeze_ms"))

        rows_copied = d.pop("rows_copied")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        tenant_move = cls(
            id=id,
            status=status,
            tenant=tenant,
            from_=from_,
            to=to,
            error=error,
            freeze_ms=freeze_ms,
            rows_copied=rows_copied,
            created_at=created_at,
            finished_at=finished_at,
        )

        tenant_move.additional_properties = d
        return tenant_move

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
