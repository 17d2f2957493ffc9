"""The generated OpenAPI document: describes exactly the contract's paths, and states the
constraints the server enforces (tests/test_schemathesis.py fuzzes a real server with it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import APIRoute

CONTRACT_PATHS = {
    "/v1/tenants": {"get", "post"},
    "/v1/tenants/{tenant}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/cors": {"get", "put"},
    "/v1/cells": {"get"},
    "/v1/tenants/{tenant}/move": {"post"},
    "/v1/tenants/{tenant}/moves/{move_id}": {"get"},
    "/v1/gateway/routes": {"get"},
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
    "/v1/tenants/{tenant}/collections/{name}/events": {"get"},
    "/v1/tenants/{tenant}/events": {"get"},
    "/v1/tenants/{tenant}/webhooks": {"get", "post"},
    "/v1/tenants/{tenant}/webhooks/{webhook_id}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/webhooks/{webhook_id}/rotate-secret": {"post"},
    "/v1/tenants/{tenant}/webhooks/{webhook_id}/deliveries": {"get"},
    "/v1/tenants/{tenant}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay": {"post"},
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
    assert len(lists) == 9
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
    plans = sorted(app.services.plans)
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


# --- names a generated client gets ---------------------------------------------------------

#: `<area>_<verb>`, e.g. `records_create`, `privacy_exports_download`.
OPERATION_ID = re.compile(r"^[a-z]+(_[a-z]+){1,3}$")
#: A component schema's name: a class name (FastAPI's own are `Body_<operation id>`, and
#: pydantic's generics `Page_Record_`).
SCHEMA_NAME = re.compile(r"^[A-Z][a-z0-9]+([A-Z][a-z0-9]*)*$")


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


async def test_no_operation_id_or_schema_name_is_generated(http: httpx.AsyncClient, app: Any) -> None:
    doc = (await http.get("/v1/openapi.json")).json()
    # Every documented route names its operation; FastAPI's fallback is the function name,
    # the path with underscores and the method (`create_record_v1_tenants__tenant__…_post`).
    unnamed = [
        (r.path, sorted(r.methods))
        for r in app.routes
        if isinstance(r, APIRoute) and r.include_in_schema and not r.operation_id
    ]
    assert unnamed == []
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, op in _operations(doc):
        oid = op["operationId"]
        assert OPERATION_ID.match(oid), (path, method, oid)
        assert "v1" not in oid and not oid.endswith(f"_{method}_{method}"), (path, method, oid)
        # No body or JSON answer is an anonymous schema: clients would name it after the operation.
        for media in op.get("requestBody", {}).get("content", {}).values():
            assert set(media["schema"]) == {"$ref"}, (path, method, "request body")
        for code, response in op["responses"].items():
            for kind, media in response.get("content", {}).items():
                if "json" in kind:
                    assert set(media["schema"]) == {"$ref"}, (path, method, code)
    for name in doc["components"]["schemas"]:
        assert SCHEMA_NAME.match(name) and not name.startswith("Body"), name
        assert "V1" not in name and not name.endswith("Response200"), name


async def test_patch_and_post_bodies_of_a_record_state_their_difference(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/v1/openapi.json")).json()
    records = "/v1/tenants/{tenant}/collections/{name}/records"
    item = doc["paths"][records + "/{record_id}"]
    assert item["patch"]["requestBody"]["content"] == {
        "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/RecordDataPatch"}}
    }
    for op in (doc["paths"][records]["post"], item["put"]):
        assert op["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RecordWrite"
        }
    schemas = doc["components"]["schemas"]
    patch, write = schemas["RecordDataPatch"], schemas["RecordWrite"]
    # The schema itself says the PATCH body is `data`'s merge patch, unwrapped.
    assert patch["type"] == "object" and patch["additionalProperties"] is True
    assert "RecordWrite" in patch["description"] and "not wrapped" in patch["description"]
    assert write["required"] == ["data"] and "RecordDataPatch" in write["description"]


def _operation_ids_named(config: str) -> set[str]:
    names: set[str] = set()
    for block in tomllib.loads(config).get("operations", []):
        value = block.get("include-operation-id", [])
        names.update([value] if isinstance(value, str) else value)
    return names


async def test_schemathesis_config_names_operations_that_exist(http: httpx.AsyncClient, tmp_path: Path) -> None:
    """Schemathesis matches nothing, silently, for an operation id that does not exist."""
    from test_schemathesis import CONFIG, stateful_config

    doc = (await http.get("/v1/openapi.json")).json()
    ids = {op["operationId"] for _, _, op in _operations(doc)}
    for config in (CONFIG, stateful_config(tmp_path)):
        named = _operation_ids_named(config.read_text())
        assert named and named <= ids, sorted(named - ids)
