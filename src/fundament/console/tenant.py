"""The tenant admin's pages: keys, users, collections and records, audit, privacy.

Every page calls the tenant's API paths with the session's key; what the key may not see or
do is the API's answer (404 for another tenant, 403 for too small a role), rendered.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from fundament.console.core import NOTICES, Answer, Console, PageError, Pages, page_problem

pages = Pages("tenant")
NOTICES.update(
    {
        "key-revoked": "Key revoked.",
        "user-created": "User created.",
        "user-deleted": "User deleted.",
        "user-changed": "User's role changed.",
        "collection-created": "Collection created.",
        "collection-saved": "Collection saved.",
        "collection-deleted": "Collection and its records deleted.",
        "record-created": "Record created.",
        "record-saved": "Record saved.",
        "record-deleted": "Record deleted.",
    }
)

ROLES = ("viewer", "member", "admin", "owner")


def _api(c: Console, path: str = "") -> str:
    return f"/v1/tenants/{c.tenant}{path}"


@pages.page("/t/{tenant}/", nav="Overview")
async def overview(c: Console) -> Response:
    tenant = await c.api.get(_api(c))
    return c.render("tenant_home.html", title=tenant["name"], info=tenant)


# --- keys ---------------------------------------------------------------------------------


async def _keys_page(c: Console, *, status: int = 200, **extra: object) -> Response:
    listing = await c.api.get(_api(c, "/api-keys"), {"limit": "200", "cursor": c.query.get("cursor", "")})
    context: dict[str, object] = {"form": {}, "errors": {}, "created": None, "problem": None}
    context.update(extra)
    return c.render(
        "tenant_keys.html",
        status=status,
        title="API keys",
        keys=listing["items"],
        next_cursor=listing["next_cursor"],
        roles=ROLES,
        **context,
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
    key_id = c.param("key_id")
    answer = await c.api.call("DELETE", _api(c, f"/api-keys/{key_id}"))
    if not answer.ok:
        return await _keys_page(c, status=answer.status, problem=answer.problem)
    return c.redirect(f"/t/{c.tenant}/keys", notice="key-revoked")


# --- users --------------------------------------------------------------------------------


async def _users_page(c: Console, *, status: int = 200, **extra: Any) -> Response:
    listing = await c.api.get(_api(c, "/users"), {"limit": "200", "cursor": c.query.get("cursor", "")})
    context: dict[str, Any] = {"form": {}, "errors": {}, "problem": None, **extra}
    return c.render(
        "tenant_users.html",
        status=status,
        title="Users",
        users=listing["items"],
        next_cursor=listing["next_cursor"],
        roles=ROLES,
        **context,
    )


@pages.page("/t/{tenant}/users", methods=("GET", "POST"), nav="Users")
async def users(c: Console) -> Response:
    if c.request.method == "GET":
        return await _users_page(c)
    form = await c.form()
    body = {"email": form.get("email", ""), "name": form.get("name") or None, "role": form.get("role", "")}
    answer = await c.api.call("POST", _api(c, "/users"), json_body=body)
    if answer.ok:
        return c.redirect(f"/t/{c.tenant}/users", notice="user-created")
    errors = answer.field_errors({"/email": "email", "/name": "name", "/role": "role"})
    return await _users_page(c, status=answer.status, form=form, errors=errors, problem=answer.problem)


@pages.page("/t/{tenant}/users/{user_id}", methods=("POST",))
async def change_user(c: Console) -> Response:
    form = await c.form()
    answer = await c.api.call(
        "PATCH",
        _api(c, f"/users/{c.param('user_id')}"),
        json_body={"role": form.get("role", "")},
        content_type="application/merge-patch+json",
    )
    if not answer.ok:
        return await _users_page(c, status=answer.status, problem=answer.problem)
    return c.redirect(f"/t/{c.tenant}/users", notice="user-changed")


@pages.page("/t/{tenant}/users/{user_id}/delete", methods=("POST",))
async def delete_user(c: Console) -> Response:
    answer = await c.api.call("DELETE", _api(c, f"/users/{c.param('user_id')}"))
    if not answer.ok:
        return await _users_page(c, status=answer.status, problem=answer.problem)
    return c.redirect(f"/t/{c.tenant}/users", notice="user-deleted")


# --- collections --------------------------------------------------------------------------

#: Where the API's 422 errors about a collection land on its form.
COLLECTION_FIELDS = {
    f"/{name}": name
    for name in (
        "name",
        "schema",
        "indexes",
        "personal_fields",
        "subject_field",
        "retention_days",
        "purpose",
        "legal_basis",
        "on_erasure",
    )
}
EXAMPLE_SCHEMA = {
    "type": "object",
    "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["email"],
    "additionalProperties": False,
}


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _collection_body(form: dict[str, str], *, create: bool) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The API body from the form. Only what a form cannot say as JSON is checked here (the
    schema must parse); every other value goes as typed, for the API to accept or refuse."""
    errors: dict[str, list[str]] = {}
    body: dict[str, Any] = {}
    if create:
        body["name"] = form.get("name", "")
    try:
        body["schema"] = json.loads(form.get("schema", ""))
    except ValueError as exc:
        errors["schema"] = [f"Not JSON: {exc}"]
    body["indexes"] = _names(form.get("indexes", ""))
    body["personal_fields"] = _names(form.get("personal_fields", ""))
    for name in ("subject_field", "purpose", "legal_basis"):
        body[name] = form.get(name) or None
    retention = form.get("retention_days", "").strip()
    # Sent as the number it reads as; anything else is sent as typed and the API says why not.
    body["retention_days"] = int(retention) if retention.isdigit() else (retention or None)
    if form.get("on_erasure"):
        body["on_erasure"] = form["on_erasure"]
    return body, errors


def _collection_form(collection: dict[str, Any]) -> dict[str, str]:
    return {
        "name": collection["name"],
        "schema": json.dumps(collection["schema"], indent=2, ensure_ascii=False),
        "indexes": ", ".join(collection.get("indexes") or ()),
        "personal_fields": ", ".join(collection.get("personal_fields") or ()),
        "subject_field": collection.get("subject_field") or "",
        "retention_days": str(collection.get("retention_days") or ""),
        "purpose": collection.get("purpose") or "",
        "legal_basis": collection.get("legal_basis") or "",
        "on_erasure": collection.get("on_erasure") or "delete",
    }


async def _collections_page(c: Console, *, status: int = 200, **extra: Any) -> Response:
    listing = await c.api.get(_api(c, "/collections"), {"limit": "200", "cursor": c.query.get("cursor", "")})
    context: dict[str, Any] = {
        "form": {"schema": json.dumps(EXAMPLE_SCHEMA, indent=2), "on_erasure": "delete"},
        "errors": {},
        "problem": None,
        **extra,
    }
    return c.render(
        "tenant_collections.html",
        status=status,
        title="Collections",
        collections=listing["items"],
        next_cursor=listing["next_cursor"],
        **context,
    )


def _refused(answer: Answer) -> dict[str, list[str]]:
    return answer.field_errors(COLLECTION_FIELDS)


@pages.page("/t/{tenant}/collections", methods=("GET", "POST"), nav="Collections")
async def collections(c: Console) -> Response:
    if c.request.method == "GET":
        return await _collections_page(c)
    form = await c.form()
    body, errors = _collection_body(form, create=True)
    if errors:
        return await _collections_page(c, status=422, form=form, errors=errors)
    answer = await c.api.call("POST", _api(c, "/collections"), json_body=body)
    if answer.ok:
        return c.redirect(f"/t/{c.tenant}/collections/{answer.body['name']}", notice="collection-created")
    return await _collections_page(
        c, status=answer.status, form=form, errors=_refused(answer), problem=answer.problem
    )


async def _collection_page(
    c: Console, name: str, *, status: int = 200, form: dict[str, str] | None = None, **extra: Any
) -> Response:
    collection = await c.api.get(_api(c, f"/collections/{name}"))
    context: dict[str, Any] = {"errors": {}, "problem": None, **extra}
    return c.render(
        "tenant_collection.html",
        status=status,
        title=f"Collection {name}",
        collection=collection,
        form=form or _collection_form(collection),
        **context,
    )


@pages.page("/t/{tenant}/collections/{name}", methods=("GET", "POST"))
async def collection(c: Console) -> Response:
    """The schema editor: the API's 422 (or 409 for records the new schema would refuse)
    shown next to the field it is about."""
    name = c.param("name")
    if c.request.method == "GET":
        return await _collection_page(c, name)
    form = await c.form()
    body, errors = _collection_body(form, create=False)
    if errors:
        return await _collection_page(c, name, status=422, form={**form, "name": name}, errors=errors)
    answer = await c.api.call(
        "PATCH", _api(c, f"/collections/{name}"), json_body=body, content_type="application/merge-patch+json"
    )
    if answer.ok:
        return c.redirect(f"/t/{c.tenant}/collections/{name}", notice="collection-saved")
    refused = _refused(answer)
    if answer.status == 409 and not refused:
        # The schema itself is fine, but records stored under the old one would fail it.
        refused = {"schema": [str((answer.problem or {}).get("detail", ""))]}
    return await _collection_page(
        c, name, status=answer.status, form={**form, "name": name}, errors=refused, problem=answer.problem
    )


@pages.page("/t/{tenant}/collections/{name}/delete", methods=("POST",))
async def delete_collection(c: Console) -> Response:
    name = c.param("name")
    answer = await c.api.call("DELETE", _api(c, f"/collections/{name}"))
    if not answer.ok:
        return await _collection_page(c, name, status=answer.status, problem=answer.problem)
    return c.redirect(f"/t/{c.tenant}/collections", notice="collection-deleted")


# --- records ------------------------------------------------------------------------------

#: Problems about one query parameter, shown next to its field.
QUERY_PROBLEMS = {"/problems/invalid-filter": "filter", "/problems/invalid-cursor": "cursor"}


async def _records_page(c: Console, name: str, *, status: int = 200, **extra: Any) -> Response:
    query = {k: c.query.get(k, "") for k in ("filter", "sort", "cursor", "limit")}
    answer = await c.api.call("GET", _api(c, f"/collections/{name}/records"), params=query)
    errors: dict[str, list[str]] = {}
    problem = None
    items: list[Any] = []
    next_cursor = None
    if answer.ok:
        items, next_cursor = answer.body["items"], answer.body["next_cursor"]
    elif answer.status in (403, 404):
        raise PageError(answer.status, answer.problem or {})
    else:
        # A bad filter or sort is the API's 400, shown on the form (never a 500 page).
        problem = answer.problem or {}
        errors = answer.field_errors({"query.filter": "filter", "query.sort": "sort", "query.limit": "limit"})
        where = QUERY_PROBLEMS.get(str(problem.get("type", "")))
        if where and not errors.get(where):
            errors[where] = [str(problem.get("detail", ""))]
    context: dict[str, Any] = {"form": {"data": "{}"}, "data_errors": {}, "data_problem": None, **extra}
    return c.render(
        "tenant_records.html",
        status=status if answer.ok else answer.status,
        title=f"Records of {name}",
        name=name,
        query=query,
        records=items,
        next_cursor=next_cursor,
        errors=errors,
        problem=problem,
        **context,
    )


@pages.page("/t/{tenant}/collections/{name}/records", methods=("GET", "POST"))
async def records(c: Console) -> Response:
    name = c.param("name")
    if c.request.method == "GET":
        return await _records_page(c, name)
    form = await c.form()
    try:
        data = json.loads(form.get("data", ""))
    except ValueError as exc:
        return await _records_page(c, name, status=422, form=form, data_errors={"data": [f"Not JSON: {exc}"]})
    answer = await c.api.call("POST", _api(c, f"/collections/{name}/records"), json_body={"data": data})
    if answer.ok:
        return c.redirect(f"/t/{c.tenant}/collections/{name}/records", notice="record-created")
    return await _records_page(
        c,
        name,
        status=answer.status,
        form=form,
        data_errors=answer.field_errors({"/data": "data"}),
        data_problem=answer.problem,
    )


async def _record_page(
    c: Console, name: str, record_id: str, *, status: int = 200, form: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    answer = await c.api.call("GET", _api(c, f"/collections/{name}/records/{record_id}"))
    if not answer.ok:
        raise PageError(answer.status, answer.problem or {})
    found = answer.body
    shown = {
        "data": json.dumps(found["data"], indent=2, ensure_ascii=False),
        "etag": answer.headers.get("etag", ""),
    }
    context: dict[str, Any] = {"errors": {}, "problem": None, **extra}
    return c.render(
        "tenant_record.html",
        status=status,
        title=f"Record {found['id']}",
        name=name,
        found=found,
        form={**shown, **(form or {})},
        **context,
    )


@pages.page("/t/{tenant}/collections/{name}/records/{record_id}", methods=("GET", "POST"))
async def record(c: Console) -> Response:
    """One record's data, edited as JSON and saved with ``If-Match``: a save over someone
    else's newer change is the API's 412, shown with the record as it is now."""
    name, record_id = c.param("name"), c.param("record_id")
    if c.request.method == "GET":
        return await _record_page(c, name, record_id)
    form = await c.form()
    try:
        data = json.loads(form.get("data", ""))
    except ValueError as exc:
        not_json = {"data": [f"Not JSON: {exc}"]}
        return await _record_page(c, name, record_id, status=422, form=form, errors=not_json)
    headers = {"If-Match": form["etag"]} if form.get("etag") else {}
    answer = await c.api.call(
        "PUT", _api(c, f"/collections/{name}/records/{record_id}"), json_body={"data": data}, headers=headers
    )
    if answer.ok:
        return c.redirect(f"/t/{c.tenant}/collections/{name}/records/{record_id}", notice="record-saved")
    if answer.status == 412:
        # Shown with the record as it is now (its new version), keeping what was typed.
        return await _record_page(c, name, record_id, status=412, form={"data": form.get("data", "")},
                                  problem=answer.problem)
    return await _record_page(
        c, name, record_id, status=answer.status, form=form,
        errors=answer.field_errors({"/data": "data"}), problem=answer.problem,
    )


@pages.page("/t/{tenant}/collections/{name}/records/{record_id}/delete", methods=("POST",))
async def delete_record(c: Console) -> Response:
    name, record_id = c.param("name"), c.param("record_id")
    answer = await c.api.call("DELETE", _api(c, f"/collections/{name}/records/{record_id}"))
    if not answer.ok:
        return await _records_page(c, name, status=answer.status, data_problem=answer.problem)
    return c.redirect(f"/t/{c.tenant}/collections/{name}/records", notice="record-deleted")


# --- audit --------------------------------------------------------------------------------

AUDIT_FILTERS = ("action", "actor", "target", "at_from", "at_to")


@pages.page("/t/{tenant}/audit", nav="Audit log")
async def audit(c: Console) -> Response:
    query = {k: c.query.get(k, "") for k in (*AUDIT_FILTERS, "cursor")}
    answer = await c.api.call("GET", _api(c, "/audit-events"), params={**query, "limit": "100"})
    if answer.status in (401, 403, 404):
        raise PageError(answer.status, answer.problem or {})
    body = answer.body if answer.ok else {"items": [], "next_cursor": None}
    errors = answer.field_errors({f"query.{k}": k for k in AUDIT_FILTERS})
    return c.render(
        "tenant_audit.html",
        status=answer.status,
        title="Audit log",
        query=query,
        events=body["items"],
        next_cursor=body["next_cursor"],
        errors=errors,
        problem=answer.problem,
    )


@pages.page("/t/{tenant}/audit/verify")
async def audit_verify(c: Console) -> Response:
    """The chain's verification: the audit page loads its badge from here (htmx), and
    without script this is the page its link opens."""
    result = await c.api.get(_api(c, "/audit-events/verify"))
    return c.render("tenant_audit_verify.html", title="Audit chain", result=result)


# --- privacy ------------------------------------------------------------------------------

KINDS = {"exports": "export", "erasures": "erasure"}


@pages.page("/t/{tenant}/privacy", methods=("GET", "POST"), nav="Privacy")
async def privacy(c: Console) -> Response:
    problem = None
    form: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if c.request.method == "POST":
        form = await c.form()
        kind = form.get("kind", "")
        if kind not in KINDS:
            raise PageError(400, page_problem(400, "Bad request", "Ask for an export or an erasure."))
        subject = {"subject": form.get("subject", "")}
        answer = await c.api.call("POST", _api(c, f"/privacy/{kind}"), json_body=subject)
        if answer.ok:
            return c.redirect(f"/t/{c.tenant}/privacy/{kind}/{answer.body['id']}")
        status, problem = answer.status, answer.problem
        refused = answer.field_errors({"/subject": "subject"})
        errors = {f"{kind}-subject": [m for messages in refused.values() for m in messages]}
    register = await c.api.get(_api(c, "/privacy/processing-record"))
    return c.render(
        "tenant_privacy.html",
        status=status,
        title="Privacy requests",
        register=register,
        form=form,
        errors=errors,
        problem=problem,
    )


@pages.page("/t/{tenant}/privacy/{kind}/{request_id}")
async def privacy_request(c: Console) -> Response:
    kind = c.param("kind")
    if kind not in KINDS:
        raise PageError(404, page_problem(404, "Not found", "No such page."))
    request_id = c.param("request_id")
    found = await c.api.get(_api(c, f"/privacy/{kind}/{request_id}"))
    return c.render(
        "tenant_privacy_request.html",
        title=f"{KINDS[kind].capitalize()} request",
        kind=kind,
        req=found,
        poll=found["status"] == "pending",
    )


@pages.page("/t/{tenant}/privacy/exports/{request_id}/download")
async def privacy_download(c: Console) -> Response:
    request_id = c.param("request_id")
    answer = await c.api.call("GET", _api(c, f"/privacy/exports/{request_id}/download"))
    if not answer.ok:
        raise PageError(answer.status, answer.problem or {})
    filename = f"export-{request_id}.json"
    return Response(
        answer.content,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@pages.page("/t/{tenant}/privacy/lookup")
async def privacy_lookup(c: Console) -> Response:
    kind, request_id = c.query.get("kind", ""), c.query.get("id", "").strip()
    if kind not in KINDS or not request_id or "/" in request_id:
        raise PageError(404, page_problem(404, "Not found", "No such request."))
    return c.redirect(f"/t/{c.tenant}/privacy/{kind}/{request_id}")
