"""Who is asking, for which tenant, in which request.

Routes get a resolved :class:`RequestContext` from one dependency; services take it and
never read HTTP state themselves.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["operator", "tenant_key"]

#: Roles in increasing order of power; a role includes every role before it.
ROLES: tuple[str, ...] = ("viewer", "member", "admin", "owner")
_RANK = {name: i for i, name in enumerate(ROLES)}


def role_rank(role: str) -> int:
    """Position of a tenant role; the operator outranks every tenant role."""
    return len(ROLES) if role == "operator" else _RANK[role]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``tenant_id`` is None for operator keys."""

    kind: PrincipalKind
    key_id: str
    role: str
    tenant_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def has_role(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)


@dataclass(slots=True)
class RequestContext:
    """Per-request facts handed to services. ``tenant_id`` is the tenant acted on."""

    request_id: str
    principal: Principal | None = None
    tenant_id: str | None = None


#: The current request id, for log lines and for code that has no context object.
request_id_var: ContextVar[str | None] = ContextVar("fundament_request_id", default=None)
