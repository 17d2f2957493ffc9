"""Declared indexes live in a fixed set of slots (issue #15, ADR 0008).

Before: each distinct declared path built one more index on the shared records table, and
one tenant's index on ``w`` made another tenant's 4,000-character ``w`` fail with 413.
"""

from __future__ import annotations

import asyncpg
import pytest

from conftest import make_tenant

LONG = "x" * 4000
MID = "x" * 1500


def _schema() -> dict:
    return {"type": "object"}


async def _indexes_on_records(admin_dsn: str) -> set[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'records'")
    finally:
        await conn.close()
    return {r["indexname"] for r in rows}


async def test_declarations_do_not_add_shared_indexes_or_limit_other_tenants(
    http, operator_key, admin_dsn
):
    before = await _indexes_on_records(admin_dsn)
    a = await make_tenant(http, operator_key)
    b = await make_tenant(http, operator_key)
    for i in range(3):
        paths = [f"f{i}_{n}" for n in range(8)] + []
        r = await http.post(
            f"{a.base}/collections",
            json={"name": f"wide{i}", "schema": _schema(), "indexes": paths},
            headers=a.h("admin"),
        )
        assert r.status_code == 201, r.text
    r = await http.post(
        f"{a.base}/collections", json={"name": "w", "schema": _schema(), "indexes": ["w"]}, headers=a.h("admin")
    )
    assert r.status_code == 201
    assert await _indexes_on_records(admin_dsn) == before
    # B's collection declares nothing: a long value in w is B's business alone.
    r = await http.post(f"{b.base}/collections", json={"name": "w", "schema": _schema()}, headers=b.h("admin"))
    assert r.status_code == 201
    r = await http.post(f"{b.base}/collections/w/records", json={"data": {"w": LONG}}, headers=b.h("member"))
    assert r.status_code == 201, r.text


async def test_nine_indexes_are_refused(http, tenant):
    r = await http.post(
        f"{tenant.base}/collections",
        json={"name": "c", "schema": _schema(), "indexes": [f"f{n}" for n in range(9)]},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 422


async def test_any_storable_value_stays_storable_and_findable_in_an_indexed_field(http, tenant):
    r = await http.post(
        f"{tenant.base}/collections",
        json={"name": "c", "schema": _schema(), "indexes": ["w", "n", "o"]},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 201
    base = f"{tenant.base}/collections/c/records"
    # A filter is at most 2,000 characters, so the compared values are 1,500 long.
    values = [MID + "b", MID + "a", "x" * 300_000, MID, "short", "x" * 199 + "y", LONG]
    ids = {}
    for v in values:
        r = await http.post(
            base,
            json={"data": {"w": v, "n": 10**30 + 0.5, "o": {"deep": [v[:100]] * 50}}},
            headers=tenant.h("member"),
        )
        assert r.status_code == 201, r.text[:300]
        ids[v] = r.json()["id"]
    h = tenant.h("viewer")
    for v in (MID + "a", MID, "short"):
        r = await http.get(base, params={"filter": f'w eq "{v}"'}, headers=h)
        assert [x["id"] for x in r.json()["items"]] == [ids[v]], v[-3:]
    r = await http.get(base, params={"filter": f'w gt "{MID}"'}, headers=h)
    assert {x["id"] for x in r.json()["items"]} == {
        ids[v] for v in (MID + "a", MID + "b", "x" * 300_000, "x" * 199 + "y", LONG)
    }
    r = await http.get(base, params={"filter": f'w lt "{MID}a"'}, headers=h)
    assert {x["id"] for x in r.json()["items"]} == {ids[MID], ids["short"]}
    # Sorted by the slot first, then the full value: the same order as the values.
    expected = [ids[v] for v in sorted(values)]
    seen, cursor = [], None
    while True:
        params = {"sort": "w", "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await http.get(base, params=params, headers=h)
        assert r.status_code == 200, r.text
        seen += [x["id"] for x in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    r = await http.get(base, params={"sort": "-w"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == expected[::-1]


@pytest.mark.parametrize("change", ["add", "reorder", "remove"])
async def test_changing_the_declaration_refills_the_slots(http, tenant, change):
    h = tenant.h("admin")
    r = await http.post(
        f"{tenant.base}/collections",
        json={"name": "c", "schema": _schema(), "indexes": ["a"] if change == "add" else ["a", "b"]},
        headers=h,
    )
    assert r.status_code == 201
    base = f"{tenant.base}/collections/c/records"
    ids = []
    for i in range(6):
        r = await http.post(base, json={"data": {"a": i % 3, "b": f"v{5 - i}"}}, headers=tenant.h("member"))
        ids.append(r.json()["id"])
    new = {"add": ["a", "b"], "reorder": ["b", "a"], "remove": ["b"]}[change]
    r = await http.patch(f"{tenant.base}/collections/c", json={"indexes": new}, headers=h)
    assert r.status_code == 200, r.text
    r = await http.get(base, params={"filter": 'b eq "v2"'}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [ids[3]]
    r = await http.get(base, params={"filter": "a eq 1", "sort": "-b"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [ids[1], ids[4]]
    r = await http.get(base, params={"sort": "b"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == ids[::-1]


async def test_a_stale_cached_declaration_is_noticed(http, tenant, app):
    """Another instance changed the indexes and this one has not heard yet: the list
    plans again from the database instead of reading the wrong slot."""
    h = tenant.h("admin")
    await http.post(
        f"{tenant.base}/collections", json={"name": "c", "schema": _schema(), "indexes": ["a", "b"]}, headers=h
    )
    base = f"{tenant.base}/collections/c/records"
    r = await http.post(base, json={"data": {"a": 1, "b": 2}}, headers=tenant.h("member"))
    rid = r.json()["id"]
    await http.get(base, headers=h)  # cached now
    cache = app.services.records.cache
    stale = cache._items.peek((tenant.id, "c"))
    assert stale is not None
    r = await http.patch(f"{tenant.base}/collections/c", json={"indexes": ["b", "a"]}, headers=h)
    assert r.status_code == 200
    cache.put(stale)  # as if the invalidation had not arrived
    r = await http.get(base, params={"filter": "a eq 1"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [rid]
