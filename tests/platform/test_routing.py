"""The one route mechanism: every documented operation is served by a handler compiled from
its declaration, and the declaration's limits are what every route enforces."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import TenantFixture
from fundament.platform import Routes


def _routes(app: Any) -> Routes:
    edge = app.front
    while not isinstance(edge, Routes):
        edge = edge.app
    return edge


async def test_every_documented_operation_is_served_by_its_own_declaration(
    app: Any, http: httpx.AsyncClient
) -> None:
    routes = _routes(app)
    doc = (await http.get("/v1/openapi.json")).json()
    operations = [(m.upper(), path) for path, item in doc["paths"].items() for m in item]
    assert len(operations) > 30
    for method, template in operations:
        # Filled with sample values, no earlier declaration shadows the template's route.
        sample = "/".join("x" + p[1:-1] if p.startswith("{") else p for p in template.split("/"))
        assert routes.template(method, sample) == template, (method, template)
        assert "OPTIONS" in routes.methods(sample)


async def test_limits_are_those_declared_on_every_route(tenant: TenantFixture) -> None:
    """The hot routes (records: get, list, create) and the others enforce the same declared
    parameter limits, with the same problem shape."""
    await tenant.collection()
    long_name = "c" * 64
    hot_and_cold = [
        ("GET", f"{tenant.base}/collections/{long_name}/records/rec_x", None),
        ("GET", f"{tenant.base}/collections/{long_name}/records", None),
        ("POST", f"{tenant.base}/collections/{long_name}/records", {"data": {"email": "a@b"}}),
        ("GET", f"{tenant.base}/collections/{long_name}", None),
        ("DELETE", f"{tenant.base}/collections/{long_name}", None),
    ]
    for method, url, body in hot_and_cold:
        r = await tenant.http.request(method, url, json=body, headers=tenant.h("owner"))
        assert r.status_code == 400, (method, url, r.text)
        assert r.json()["errors"][0]["path"] == "path.name", r.text
    for url in (f"{tenant.base}/collections/contacts/records", f"{tenant.base}/collections"):
        for bad in ("0", "201", "ten"):
            r = await tenant.http.get(url, params={"limit": bad}, headers=tenant.h("viewer"))
            assert r.status_code == 400, (url, bad, r.text)
            assert [e["path"] for e in r.json()["errors"]] == ["query.limit"], r.text


async def test_authentication_answers_before_parameters(tenant: TenantFixture) -> None:
    """As FastAPI orders dependencies: no key says 401 before a bad parameter says 400,
    and a viewer's key on a member route says 403 before the body is validated."""
    url = f"{tenant.base}/collections/{'c' * 64}/records"
    assert (await tenant.http.get(url, params={"limit": "0"})).status_code == 401
    r = await tenant.http.post(
        f"{tenant.base}/collections/contacts/records", json={"nope": 1}, headers=tenant.h("viewer")
    )
    assert r.status_code == 403, r.text


async def test_body_errors_are_the_declared_models(tenant: TenantFixture) -> None:
    await tenant.collection()
    url = f"{tenant.base}/collections/contacts/records"
    missing = await tenant.http.post(url, headers=tenant.h("member") | {"content-type": "application/json"})
    assert missing.status_code == 422, missing.text
    assert missing.json()["errors"] == [{"path": "/", "message": "Field required"}]
    unknown = await tenant.http.post(url, json={"data": {"email": "a@b"}, "extra": 1}, headers=tenant.h("member"))
    assert unknown.status_code == 422, unknown.text
    assert [e["path"] for e in unknown.json()["errors"]] == ["/extra"]
    typed = await tenant.http.post(url, json={"data": []}, headers=tenant.h("member"))
    assert typed.status_code == 422, typed.text
    assert [e["path"] for e in typed.json()["errors"]] == ["/data"]
