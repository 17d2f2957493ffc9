"""The authentication port and the one dependency every protected route uses.

The kernel knows *that* a bearer key becomes a :class:`Principal`, not *how*: the identity
module builds an :class:`Authenticator` the composition root puts on the services object
(:mod:`fundament.platform.wiring`). Routes declare
``ctx: RequestContext = Depends(require_role("member"))`` and receive a resolved context,
the way Sentry's ``convert_args`` resolves the organization once per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from fundament.platform.context import ROLES, Principal, RequestContext
from fundament.platform.errors import Forbidden, NotFound, TenantSuspended, Unauthenticated
from fundament.platform.observe import attribute_tenant
from fundament.platform.wiring import Needs, services


class Authenticator(Protocol):
    """Turns a bearer token into a principal. Implementations cache; revocation is instant."""

    async def authenticate(self, token: str, *, client: str | None = None) -> Principal:
        """Return the principal for ``token`` or raise :class:`Unauthenticated`.

        ``client`` is the caller's address: failures are throttled per address (429,
        :class:`AuthenticationThrottled`) as well as per key id.
        """
        ...

    async def tenant_status(self, tenant_id: str) -> str | None:
        """``'active'``/``'suspended'`` for an existing tenant, None if there is none."""
        ...


class Admission(Protocol):
    """Decides whether an authenticated request may proceed now (rate limits).

    Built by the limits module (the services object's ``admission``); raises a problem (429) to
    refuse. Runs before authorization, so a key flooding forbidden calls is limited too.
    """

    async def admit(self, principal: Principal) -> None: ...


# Declared for the OpenAPI document only (security scheme + lock icons in /docs); the
# header is parsed below so a missing key is our 401 problem, not FastAPI's 403.
bearer_scheme = HTTPBearer(auto_error=False, description="An operator or tenant API key.")


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1), or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
    return token


async def authenticate_request(request: Request) -> Principal:
    token = bearer_token(request)
    needs: Needs = services(request)
    client = request.client.host if request.client is not None else None
    return await needs.authenticator.authenticate(token, client=client)


def require_role(role: str) -> Callable[[Request], Awaitable[RequestContext]]:
    """A dependency that authenticates and authorizes, resolving the path's tenant.

    Order matters for what a caller may learn: unknown key → 401; a tenant key asking for
    another tenant (or a tenant that does not exist) → 404, never 403; a suspended
    tenant's key → 403 ``tenant-suspended``; too small a role → 403.
    """
    if role != "operator" and role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(request: Request) -> RequestContext:
        principal = await authenticate_request(request)
        needs: Needs = services(request)
        tenant_id: str | None = request.path_params.get("tenant")
        if not principal.is_operator:
            attribute_tenant(principal.tenant_id, principal.key_id)
            admission = needs.admission
            if admission is not None:
                await admission.admit(principal)
        ctx = RequestContext(
            request_id=request.scope["state"]["request_id"],
            principal=principal,
            tenant_id=tenant_id,
        )
        authenticator = needs.authenticator
        if principal.is_operator:
            if tenant_id is not None and await authenticator.tenant_status(tenant_id) is None:
                raise NotFound("No such tenant.")
            attribute_tenant(tenant_id)
            return ctx
        if role == "operator":
            raise Forbidden("This endpoint needs an operator key.")
        if tenant_id is not None and tenant_id != principal.tenant_id:
            raise NotFound("No such tenant.")
        status = await authenticator.tenant_status(principal.tenant_id or "")
        if status is None:
            raise Unauthenticated("This key's tenant no longer exists.")
        if status == "suspended":
            raise TenantSuspended("This tenant is suspended; its keys cannot be used.")
        if not principal.has_role(role):
            raise Forbidden(f"This action needs the '{role}' role; the key has '{principal.role}'.")
        return ctx

    return dependency


# The route parameter of each role, declared once: `ctx: Viewer` authenticates, authorizes
# and resolves the path's tenant (require_role), for every module's routes alike.
Viewer = Annotated[RequestContext, Depends(require_role("viewer"))]
Member = Annotated[RequestContext, Depends(require_role("member"))]
Admin = Annotated[RequestContext, Depends(require_role("admin"))]
Owner = Annotated[RequestContext, Depends(require_role("owner"))]
Operator = Annotated[RequestContext, Depends(require_role("operator"))]
