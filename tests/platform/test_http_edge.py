"""The HTTP edge's answers to malformed requests, the same on every route and on both the
fast paths and FastAPI (the ``app`` fixture runs each test both ways)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import TenantFixture, bearer

PROBLEM = "/problems/"
OPEN = {"type": "object"}


def _problem(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["type"] == PROBLEM + kind, body
    return body


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- 405 and Allow ----------------------------------------------------------------------------


async def test_405_allow_lists_every_method_of_the_path(
    http: httpx.AsyncClient, tenant: TenantFixture, operator_key: str
) -> None:
    doc = (await http.get("/v1/openapi.json")).json()
    ids = {
        "{tenant}": tenant.id,
        "{key_id}": "key_x",
        "{user_id}": "usr_x",
        "{name}": "contacts",
        "{record_id}": "rec_x",
        "{request_id}": "exp_x",
    }
    checked = 0
    for template, ops in doc["paths"].items():
        documented = {m.upper() for m in ops}
        path = template
        for placeholder, value in ids.items():
            path = path.replace(placeholder, value)
        # OPTIONS is served on every path (CORS preflights, RFC 9110 §9.3.7), not documented.
        served = documented | {"OPTIONS"}
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            if method in documented:
                continue
            r = await http.request(method, path, headers=bearer(operator_key))
            _problem(r, 405, "method-not-allowed")
            assert set(r.headers["allow"].split(", ")) == served, (method, template, r.headers["allow"])
            checked += 1
        r = await http.options(path)
        assert r.status_code == 204 and set(r.headers["allow"].split(", ")) == served, (template, r.text)
    assert checked > 30


# --- JSON bodies: duplicate keys, nesting, lone surrogates ---------------------------------------


def _nested(levels: int) -> Any:
    """A JSON value that is ``levels`` arrays deep (``levels`` >= 1)."""
    value: Any = ["leaf"]
    for _ in range(levels - 1):
        value = [value]
    return value


async def _write_targets(tenant: TenantFixture) -> list[tuple[str, str, str, str]]:
    """(method, url, content type, role) for a body-carrying request on several routes."""
    await tenant.collection("open", schema=OPEN)
    rec = await tenant.record({"email": "a@example.com"}, collection="open")
    records = f"{tenant.base}/collections/open/records"
    return [
        ("POST", records, "application/json", "member"),
        ("PUT", f"{records}/{rec['id']}", "application/json", "member"),
        ("PATCH", f"{records}/{rec['id']}", "application/merge-patch+json", "member"),
        ("POST", f"{tenant.base}/collections", "application/json", "admin"),
        ("PATCH", f"{tenant.base}/collections/open", "application/merge-patch+json", "admin"),
        ("POST", f"{tenant.base}/users", "application/json", "admin"),
        ("PATCH", tenant.base, "application/merge-patch+json", "owner"),
    ]


async def test_duplicate_keys_are_refused_naming_the_key(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    for method, url, media, role in await _write_targets(tenant):
        # RFC 8259 §4 leaves duplicate names to the parser; I-JSON (RFC 7493 §2.3) forbids them.
        body = b'{"data": {"email": "a@example.com", "score": 1, "score": 2}, "name": "x"}'
        r = await http.request(
            method, url, content=body, headers={**tenant.h(role), "Content-Type": media}
        )
        problem = _problem(r, 400, "invalid-json")
        assert "'score'" in problem["detail"], (method, url, problem)


async def test_one_nesting_limit_for_every_body(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    # The body's outer object is level 1 and `data` level 2, so 62 more arrays make 64 levels.
    targets = await _write_targets(tenant)
    for method, url, media, role in targets:
        body = json.dumps({"data": {"x": _nested(63)}, "name": "x"})
        r = await http.request(method, url, content=body, headers={**tenant.h(role), "Content-Type": media})
        problem = _problem(r, 400, "invalid-json")
        assert "nested deeper than 64 levels" in problem["detail"], (method, url, problem)
        # Far beyond every parser's own limit: the same answer, not a 500 or a misleading one.
        body = '{"data": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
        r = await http.request(method, url, content=body, headers={**tenant.h(role), "Content-Type": media})
        assert "nested deeper than 64 levels" in _problem(r, 400, "invalid-json")["detail"]
    # Exactly at the limit, a record is stored and read back whole.
    for method, url, media, role in targets[:3]:
        data = {"x": _nested(62)}
        r = await http.request(
            method, url, content=json.dumps({"data": data}), headers={**tenant.h(role), "Content-Type": media}
        )
        assert r.status_code in (200, 201), (method, r.text)
        assert r.json()["data"]["x"] == _nested(62)


async def test_bodies_that_are_not_i_json_are_refused(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    for method, url, media, role in (await _write_targets(tenant))[:3]:
        for body in (
            b'{"data": {"email": "\\ud800"}}',  # a lone surrogate escape
            b'{"data": {"email": "\xed\xa0\x80"}}',  # a UTF-8-encoded surrogate
            b'{"data": {"email": "\xff"}}',  # not UTF-8 at all
            b'{"data": {"score": NaN}}',  # not JSON (Python's parser would take it)
        ):
            r = await http.request(
                method, url, content=body, headers={**tenant.h(role), "Content-Type": media}
            )
            _problem(r, 400, "invalid-json")
        # A surrogate pair is one character, and fine.
        r = await http.request(
            method,
            url,
            content=b'{"data": {"email": "\\ud83d\\ude00"}}',
            headers={**tenant.h(role), "Content-Type": media},
        )
        assert r.status_code in (200, 201), r.text


# --- cursors: one problem type on every list --------------------------------------------------------

# From issue #15: a record cursor whose sort value is a lone surrogate.
LONE_SURROGATE_RECORD_CURSOR = (
    "eyJzIjoiOWZhYzg5ODNlYjY1IiwidiI6W3sidCI6IjIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDAifSwiXHVkODAwIl19"
)
BAD_CURSORS = [
    "",
    "!!",
    "a=",
    "x" * 2049,
    "é",
    _b64(b"not json"),
    _b64(b"[1]"),
    _b64(b'{"after": 5}'),
    _b64(b'{"after": ""}'),
    _b64(b'{"after": "\\ud800"}'),
    _b64(b'{"after": "a\\u0000"}'),
    _b64(b'{"after": "1\\u0000"}'),
    _b64(b'{"s": "x", "v": []}'),
    LONE_SURROGATE_RECORD_CURSOR,
]


async def test_every_bad_cursor_on_every_list_is_invalid_cursor(
    http: httpx.AsyncClient, tenant: TenantFixture, operator_key: str
) -> None:
    await tenant.collection()
    lists = [
        ("/v1/tenants", bearer(operator_key)),
        (f"{tenant.base}/api-keys", tenant.h("admin")),
        (f"{tenant.base}/users", tenant.h("admin")),
        (f"{tenant.base}/collections", tenant.h("admin")),
        (f"{tenant.base}/collections/contacts/records", tenant.h("admin")),
        (f"{tenant.base}/audit-events", tenant.h("admin")),
    ]
    for url, headers in lists:
        for cursor in BAD_CURSORS:
            r = await http.get(url, params={"cursor": cursor}, headers=headers)
            problem = _problem(r, 400, "invalid-cursor")
            assert problem["errors"] == [{"path": "cursor", "message": "not a cursor this list issued"}], (
                url,
                cursor,
            )


async def test_a_cursor_from_one_list_is_valid_only_there(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    await tenant.collection()
    for i in range(3):
        await tenant.record({"email": f"p{i}@example.com", "score": i})
    page = (await http.get(f"{tenant.base}/api-keys", params={"limit": 1}, headers=tenant.h("admin"))).json()
    cursor = page["next_cursor"]
    assert cursor
    r = await http.get(
        f"{tenant.base}/collections/contacts/records", params={"cursor": cursor}, headers=tenant.h("admin")
    )
    _problem(r, 400, "invalid-cursor")
    recs = await http.get(
        f"{tenant.base}/collections/contacts/records", params={"limit": 1}, headers=tenant.h("admin")
    )
    r = await http.get(
        f"{tenant.base}/audit-events", params={"cursor": recs.json()["next_cursor"]}, headers=tenant.h("admin")
    )
    _problem(r, 400, "invalid-cursor")


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["0.5", "1700000000", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z", "2026-1-1", "2026-02-30", "yesterday"],
)
async def test_date_parameters_are_rfc3339_only(http: httpx.AsyncClient, tenant: TenantFixture, value: str) -> None:
    for url, name in ((f"{tenant.base}/usage", "to"), (f"{tenant.base}/audit-events", "at_to")):
        r = await http.get(url, params={name: value}, headers=tenant.h("admin"))
        problem = _problem(r, 400, "bad-request")
        assert problem["errors"][0]["path"] == f"query.{name}", problem


async def test_date_parameters_take_dates_and_date_times(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    for params in (
        {"from": "2026-01-01", "to": "2026-01-02"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T05:30:00.123+02:00"},
        {"from": "2026-01-01t00:00:00z", "to": "2026-01-02"},
    ):
        r = await http.get(f"{tenant.base}/usage", params=params, headers=tenant.h("admin"))
        assert r.status_code == 200, (params, r.text)
    r = await http.get(f"{tenant.base}/usage", params={"from": "2026-01-01", "to": "2026-01-02"}, headers=tenant.h("admin"))
    assert r.json()["from"] == "2026-01-01T00:00:00Z" and r.json()["to"] == "2026-01-02T00:00:00Z"
    r = await http.get(f"{tenant.base}/audit-events", params={"at_from": "2026-01-01"}, headers=tenant.h("admin"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("value", [1e10, 0.5, "2030-01-01", "2030-01-01T00:00:00", True])
async def test_expires_at_is_an_rfc3339_date_time(http: httpx.AsyncClient, tenant: TenantFixture, value: Any) -> None:
    r = await http.post(
        f"{tenant.base}/api-keys",
        json={"name": "x", "role": "viewer", "expires_at": value},
        headers=tenant.h("admin"),
    )
    problem = _problem(r, 422, "validation-error")
    assert problem["errors"][0]["path"] == "/expires_at", problem


async def test_expires_at_in_the_future_is_taken(http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    r = await http.post(
        f"{tenant.base}/api-keys",
        json={"name": "x", "role": "viewer", "expires_at": soon.isoformat().replace("+00:00", "Z")},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 201, r.text
