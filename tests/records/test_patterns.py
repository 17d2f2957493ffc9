"""Tenant-written regular expressions cannot stall the server (issue #15, ReDoS).

Before the linear-time engine, ``^(a+)+$`` against 40 ``a`` and a ``!`` backtracked for
hours on the event loop, and every tenant's requests (and /healthz) stalled with it.
"""

from __future__ import annotations

import asyncio

import pytest

EVIL = "^(a+)+$"
ATTACK = "a" * 40 + "!"


@pytest.mark.timeout(60)
async def test_catastrophic_pattern_answers_at_once_and_blocks_nobody(http, tenant):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": EVIL}},
        "patternProperties": {"^(x+x+)+y$": {"type": "string"}},
    }
    r = await http.post(
        f"{tenant.base}/collections", json={"name": "redos", "schema": schema}, headers=tenant.h("admin")
    )
    assert r.status_code == 201, r.text
    base = f"{tenant.base}/collections/redos/records"

    async def attack(body):
        return await http.post(base, json={"data": body}, headers=tenant.h("member"))

    attacks = [attack({"name": ATTACK}), attack({"x" * 40: "v"}), attack({"name": "aaaa"})]
    probes = [http.get("/healthz") for _ in range(5)]
    results = await asyncio.gather(*attacks, *probes)
    bad, keyed, good = results[:3]
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "/data/name", bad.text
    assert keyed.status_code == 201  # the key does not match the pattern: no constraint
    assert good.status_code == 201
    assert all(p.status_code == 200 for p in results[3:])


@pytest.mark.parametrize(
    "schema, where",
    [
        ({"type": "string", "pattern": "(a)\\1"}, "/schema/pattern"),
        ({"properties": {"a": {"pattern": "(?=lookahead)"}}}, "/schema/properties/a/pattern"),
        ({"patternProperties": {"(?<!x)y": {}}}, "/schema/patternProperties"),
        ({"pattern": "((a{1000}){1000}){1000}"}, "/schema/pattern"),
    ],
)
async def test_patterns_the_linear_engine_cannot_run_are_refused(http, tenant, schema, where):
    r = await http.post(
        f"{tenant.base}/collections", json={"name": "p", "schema": schema}, headers=tenant.h("admin")
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["path"].startswith(where), r.json()


async def test_patch_to_a_pattern_the_engine_cannot_run_is_refused(http, tenant):
    await tenant.collection()
    r = await http.patch(
        f"{tenant.base}/collections/contacts",
        json={"schema": {"type": "object", "properties": {"email": {"pattern": "(x)\\1"}}}},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 422, r.text


async def test_unresolvable_reference_is_refused_at_creation(http, tenant):
    r = await http.post(
        f"{tenant.base}/collections",
        json={"name": "refs", "schema": {"$ref": "#/$defs/missing"}},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 422, r.text
