"""The generated OpenAPI document: describes exactly the contract's paths, and states the
constraints the server enforces (tests/test_schemathesis.py fuzzes a real server with it)."""

from __future__ import annotations

from typing import Any

import httpx

CONTRACT_PATHS = {
    "/v1/tenants": {"get", "post"},
    "/v1/tenants/{tenant}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/cors": {"get", "put"},
    "/v1/tenants/{tenant}/api-keys": {"get", "post"},
    "/v1/tenants/{tenant}/api-keys/{key_id}": {"delete"},
    # not in the contract, which is silent on managing operator keys (docs/api-decisions.md)
    "/v1/operator-keys": {"get", "post"},
    "/v1/operator-keys/{key_id}": {"delete"},
    "/v1/tenants/{tenant}/users": {"get", "post"},
    "/v1/tenants/{tenant}/users/{user_id}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/collections": {"get", "post"},
    "/v1/tenants/{tenant}/collections/{name}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/collections/{name}/records": {"get", "post"},
    "/v1/tenants/{tenant}/collections/{name}/records/{record_id}": {"get", "put", "patch", "delete"},
    "/v1/tenants/{tenant}/audit-events": {"get"},
    "/v1/tenants/{tenant}/audit-events/verify": {"get"},
    "/v1/tenants/{tenant}/privacy/exports": {"post"},
    "/v1/tenants/{tenant}/privacy/exports/{request_id}": {"get"},
    "/v1/tenants/{tenant}/privacy/exports/{request_id}/download": {"get"},
    "/v1/tenants/{tenant}/privacy/erasures": {"post"},
    "/v1/tenants/{tenant}/privacy/erasures/{request_id}": {"get"},
    "/v1/tenants/{tenant}/privacy/processing-record": {"get"},
    "/v1/tenants/{tenant}/usage": {"get"},
    "/v1/finops/report": {"get"},
    "/v1/finops/capacity": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
}


async def test_openapi_document_matches_contract(http):
    r = await http.get("/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    paths = {p: set(ops) for p, ops in doc["paths"].items()}
    assert paths == CONTRACT_PATHS
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if int(code) >= 400:
                    assert "application/problem+json" in resp["content"], (path, method, code)
    assert (await http.get("/docs")).status_code == 200


def _param(op: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = next(p for p in op["parameters"] if p["name"] == name)["schema"]
    return schema


def _value(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional parameter's or member's schema."""
    (branch,) = [b for b in schema.get("anyOf", [schema]) if b != {"type": "null"}]
    return branch


async def test_openapi_states_what_the_server_enforces(http: httpx.AsyncClient, app: Any) -> None:
    doc = (await http.get("/v1/openapi.json")).json()
    paths = doc["paths"]
    schemas = doc["components"]["schemas"]
    # Every list's cursor: the shape of the cursors it issues.
    lists = [
        op for item in paths.values() for op in item.values() if any(p["name"] == "limit" for p in op.get("parameters", []))
    ]
    assert len(lists) == 7
    for op in lists:
        cursor = _param(op, "cursor")
        assert cursor["pattern"] == "^[A-Za-z0-9_-]{1,2048}$" and cursor["maxLength"] == 2048, op["operationId"]
    # Dates, the usage range, FinOps months.
    usage = paths["/v1/tenants/{tenant}/usage"]["get"]
    assert "400 days" in usage["description"]
    audit = paths["/v1/tenants/{tenant}/audit-events"]["get"]
    for op, name in ((usage, "from"), (usage, "to"), (audit, "at_from"), (audit, "at_to")):
        assert {b["format"] for b in _value(_param(op, name))["anyOf"]} == {"date", "date-time"}
    month = _value(_param(paths["/v1/finops/report"]["get"], "month"))
    assert month["pattern"] == "^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"
    # A key's expiry: a date-time, said to lie in the future.
    for model in ("ApiKeyCreate", "OperatorKeyCreate"):
        expires = schemas[model]["properties"]["expires_at"]
        assert _value(expires) == {"type": "string", "format": "date-time"} and "future" in expires["description"]
    # Plans: the catalogue this server loaded, on create and on patch.
    plans = sorted(app.state.plans)
    assert schemas["TenantCreate"]["properties"]["plan"]["enum"] == plans
    assert schemas["TenantPatch"]["properties"]["plan"]["enum"] == plans
    assert "x-fundament-enum" not in str(doc)
    # Merge patches: members that cannot be removed are not nullable; region is read-only.
    for model, members in (
        ("TenantPatch", ("name", "plan", "status", "region")),
        ("UserPatch", ("email", "role")),
        ("CollectionPatch", ("schema", "indexes", "personal_fields", "on_erasure")),
    ):
        for member in members:
            prop = schemas[model]["properties"][member]
            assert "anyOf" not in prop and "default" not in prop, (model, member)
    assert schemas["TenantPatch"]["properties"]["region"]["readOnly"] is True
    assert {"type": "null"} in schemas["UserPatch"]["properties"]["name"]["anyOf"]  # may be removed
    # Idempotency keys: the rule the server checks.
    create = paths["/v1/tenants/{tenant}/collections/{name}/records"]["post"]
    assert _param(create, "Idempotency-Key")["pattern"] == "^[\\x21-\\x7e]([\\x20-\\x7e]{0,253}[\\x21-\\x7e])?$"
