"""The tenant admin's pages: keys, users, collections and records, audit, privacy.

Every page calls the tenant's API paths with the session's key; what the key may not see or
do is the API's answer (404 for another tenant, 403 for too small a role), rendered.
"""

from __future__ import annotations

from starlette.responses import Response

from fundament.console.core import NOTICES, Console, Pages

pages = Pages("tenant")
NOTICES.update({"key-revoked": "Key revoked."})

ROLES = ("viewer", "member", "admin", "owner")


def _api(c: Console, path: str = "") -> str:
    return f"/v1/tenants/{c.tenant}{path}"


@pages.page("/t/{tenant}/", nav="Overview")
async def overview(c: Console) -> Response:
    tenant = await c.api.get(_api(c))
    return c.render("tenant_home.html", title=tenant["name"], info=tenant)


# --- keys ---------------------------------------------------------------------------------


async def _keys_page(c: Console, *, status: int = 200, **extra: object) -> Response:
    listing = await c.api.get(_api(c, "/api-keys"), {"limit": "200"})
    context: dict[str, object] = {"form": {}, "errors": {}, "created": None, "problem": None}
    context.update(extra)
    return c.render(
        "tenant_keys.html", status=status, title="API keys", keys=listing["items"], roles=ROLES, **context
    )


@pages.page("/t/{tenant}/keys", methods=("GET", "POST"), nav="Keys")
async def keys(c: Console) -> Response:
    if c.request.method == "GET":
        return await _keys_page(c)
    form = await c.form()
    body: dict[str, object] = {"name": form.get("name", ""), "role": form.get("role", "")}
    if form.get("expires_at"):
        body["expires_at"] = form["expires_at"]
    answer = await c.api.call("POST", _api(c, "/api-keys"), json_body=body)
    if answer.ok:
        # The secret is shown on this answer only (never in a URL, never cached).
        response = await _keys_page(c, status=201, created=answer.body)
        response.headers["Cache-Control"] = "no-store"
        return response
    return await _keys_page(
        c,
        status=answer.status,
        form=form,
        problem=answer.problem,
        errors=answer.field_errors({"/name": "name", "/role": "role", "/expires_at": "expires_at"}),
    )


@pages.page("/t/{tenant}/keys/{key_id}/revoke", methods=("POST",))
async def revoke_key(c: Console) -> Response:
    key_id = c.request.path_params["key_id"]
    answer = await c.api.call("DELETE", _api(c, f"/api-keys/{key_id}"))
    if not answer.ok:
        return await _keys_page(c, status=answer.status, problem=answer.problem)
    return c.redirect(f"/t/{c.tenant}/keys", notice="key-revoked")
