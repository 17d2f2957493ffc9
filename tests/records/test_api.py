"""Collections and records over HTTP: schema, ETags, merge patch, idempotency, lists."""

from __future__ import annotations

import asyncio
import json

import asyncpg

PROBLEM = "application/problem+json"


async def test_collection_crud(http, tenant):
    coll = await tenant.collection()
    assert coll["name"] == "contacts" and coll["version"] == 1
    assert coll["indexes"] == ["email", "score"] and coll["subject_field"] == "email"
    h = tenant.h("admin")
    r = await http.post(f"{tenant.base}/collections", json={"name": "contacts", "schema": {}}, headers=h)
    assert r.status_code == 409
    r = await http.get(f"{tenant.base}/collections/contacts", headers=tenant.h("viewer"))
    assert r.status_code == 200 and r.json() == coll
    r = await http.get(f"{tenant.base}/collections", headers=tenant.h("viewer"))
    assert [c["name"] for c in r.json()["items"]] == ["contacts"]
    r = await http.post(
        f"{tenant.base}/collections", json={"name": "x", "schema": {}}, headers=tenant.h("member")
    )
    assert r.status_code == 403
    assert (await http.get(f"{tenant.base}/collections/nope", headers=h)).status_code == 404
    assert (await http.delete(f"{tenant.base}/collections/contacts", headers=h)).status_code == 204
    assert (await http.get(f"{tenant.base}/collections/contacts", headers=h)).status_code == 404


async def test_invalid_collections(http, tenant):
    h = tenant.h("admin")
    for bad in (
        {"name": "Bad", "schema": {}},
        {"name": "ok", "schema": {"type": "nonsense"}},
        {"name": "ok", "schema": {"type": "object"}, "indexes": ["a..b"]},
        {"name": "ok", "schema": {"type": "object"}, "subject_field": "email"},
        {"name": "ok", "schema": {"type": "object"}, "unknown": True},
        {"name": "ok", "schema": {"type": "object"}, "retention_days": 0},
        {"name": "ok", "schema": "string"},
    ):
        r = await http.post(f"{tenant.base}/collections", json=bad, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == PROBLEM and r.json()["errors"]


async def test_record_crud_etags(http, tenant):
    await tenant.collection()
    base = f"{tenant.base}/collections/contacts/records"
    h = tenant.h("member")
    r = await http.post(base, json={"data": {"email": "a@example.com", "score": 3}}, headers=h)
    assert r.status_code == 201
    rec = r.json()
    assert set(rec) == {"id", "data", "version", "created_at", "updated_at"}
    assert rec["id"].startswith("rec_") and rec["version"] == 1
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"{base}/{rec['id']}"

    r = await http.get(f"{base}/{rec['id']}", headers=tenant.h("viewer"))
    assert r.status_code == 200 and r.json() == rec and r.headers["etag"] == '"1"'
    r = await http.get(f"{base}/{rec['id']}", headers={**tenant.h("viewer"), "If-None-Match": '"1"'})
    assert r.status_code == 304 and r.content == b""
    r = await http.get(f"{base}/{rec['id']}", headers={**tenant.h("viewer"), "If-None-Match": '"7"'})
    assert r.status_code == 200

    r = await http.put(
        f"{base}/{rec['id']}", json={"data": {"email": "b@example.com"}}, headers={**h, "If-Match": '"1"'}
    )
    assert (
        r.status_code == 200 and r.json()["version"] == 2 and r.json()["data"] == {"email": "b@example.com"}
    )
    assert r.headers["etag"] == '"2"'
    r = await http.put(
        f"{base}/{rec['id']}", json={"data": {"email": "c@example.com"}}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 412 and r.headers["content-type"] == PROBLEM

    r = await http.patch(
        f"{base}/{rec['id']}",
        content=b'{"score": 9, "address": {"city": "Bern"}}',
        headers={**h, "Content-Type": "application/merge-patch+json", "If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"email": "b@example.com", "score": 9, "address": {"city": "Bern"}}
    r = await http.patch(
        f"{base}/{rec['id']}",
        content=b'{"score": null}',
        headers={**h, "Content-Type": "application/merge-patch+json"},
    )
    assert r.json()["data"] == {"email": "b@example.com", "address": {"city": "Bern"}}
    r = await http.patch(
        f"{base}/{rec['id']}",
        content=b'{"email": null}',
        headers={**h, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 422  # result fails the schema: email is required

    assert (await http.delete(f"{base}/{rec['id']}", headers={**h, "If-Match": '"1"'})).status_code == 412
    assert (await http.delete(f"{base}/{rec['id']}", headers=h)).status_code == 204
    assert (await http.get(f"{base}/{rec['id']}", headers=h)).status_code == 404
    assert (
        await http.put(f"{base}/{rec['id']}", json={"data": {"email": "x"}}, headers=h)
    ).status_code == 404


async def test_record_validation_errors(http, tenant):
    await tenant.collection()
    base = f"{tenant.base}/collections/contacts/records"
    h = tenant.h("member")
    r = await http.post(base, json={"data": {"score": "high", "extra": 1}}, headers=h)
    assert r.status_code == 422
    paths = {e["path"] for e in r.json()["errors"]}
    assert "/data/score" in paths and "/data" in paths
    for bad in ({"data": []}, {}, {"data": {"email": "a"}, "more": 1}, {"data": "x"}):
        assert (await http.post(base, json=bad, headers=h)).status_code == 422, bad
    assert (
        await http.post(base, json={"data": {"email": "a"}}, headers=tenant.h("viewer"))
    ).status_code == 403
    assert (
        await http.post(f"{tenant.base}/collections/nope/records", json={"data": {}}, headers=h)
    ).status_code == 404
    assert (await http.get(f"{base}/not-an-id", headers=h)).status_code == 404


async def test_idempotency_key(http, tenant):
    await tenant.collection()
    base = f"{tenant.base}/collections/contacts/records"
    h = {**tenant.h("member"), "Idempotency-Key": "order-42"}
    first = await http.post(base, json={"data": {"email": "i@example.com"}}, headers=h)
    again = await http.post(base, json={"data": {"email": "i@example.com"}}, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    other = await http.post(base, json={"data": {"email": "other@example.com"}}, headers=h)
    assert other.status_code == 422
    listed = (await http.get(base, headers=h)).json()["items"]
    assert len(listed) == 1

    # concurrent retries of one request write once
    h2 = {**tenant.h("member"), "Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *[http.post(base, json={"data": {"email": "burst@example.com"}}, headers=h2) for _ in range(8)]
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1


async def test_list_filter_sort_cursor(http, tenant):
    await tenant.collection()
    base = f"{tenant.base}/collections/contacts/records"
    created = []
    for i in range(12):
        data = {"email": f"u{i}@{'example.com' if i % 2 else 'other.org'}", "score": i}
        if i % 3 == 0:
            data["vip"] = True
        created.append(await tenant.record(data))
    h = tenant.h("viewer")

    async def ids(params):
        r = await http.get(base, params=params, headers=h)
        assert r.status_code == 200, r.text
        return [x["data"]["score"] for x in r.json()["items"]]

    assert await ids({}) == list(range(12))  # default sort created_at
    assert await ids({"filter": "score gt 9"}) == [10, 11]
    assert await ids({"filter": 'score ge 4 and email ew "@example.com"'}) == [5, 7, 9, 11]
    # 9 (example.com), 10 (not a vip), 11 (example.com)
    assert await ids({"filter": 'score gt 8 and (email ew "@example.com" or not (vip pr))'}) == [9, 10, 11]
    assert await ids({"filter": "vip pr", "sort": "-score"}) == [9, 6, 3, 0]
    assert await ids({"filter": 'email sw "u1"'}) == [1, 10, 11]
    assert await ids({"filter": f'id eq "{created[4]["id"]}"'}) == [4]

    # walk pages of 5 in descending score order
    seen, cursor = [], None
    while True:
        params = {"sort": "-score", "limit": 5, **({"cursor": cursor} if cursor else {})}
        r = await http.get(base, params=params, headers=h)
        body = r.json()
        seen += [x["data"]["score"] for x in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # a concurrent insert must not disturb the walk
        await tenant.record({"email": "late@example.com", "score": 100})
    assert seen == list(range(11, -1, -1))

    r = await http.get(base, params={"filter": "score gt"}, headers=h)
    assert r.status_code == 400 and "position" in r.json()["detail"]
    for bad in (
        {"filter": "score eq"},
        {"filter": '"x" eq 1'},
        {"sort": "a,,b"},
        {"cursor": "garbage"},
        {"filter": "(" * 500},
    ):
        r = await http.get(base, params=bad, headers=h)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"] == PROBLEM


async def test_schema_change_refused_when_records_fail(http, tenant):
    await tenant.collection()
    rec = await tenant.record({"email": "x@example.com"})
    h = tenant.h("admin")
    url = f"{tenant.base}/collections/contacts"
    patch = {"schema": {"required": ["email", "score"]}}
    r = await http.patch(url, json=patch, headers=h)
    assert r.status_code == 409 and r.json()["record_ids"] == [rec["id"]]
    r = await http.patch(url, json={"schema": {"properties": {"nickname": {"type": "string"}}}}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert "nickname" in r.json()["schema"]["properties"] and "email" in r.json()["schema"]["properties"]
    # the new schema applies at once to writes
    r = await http.post(
        f"{url}/records",
        json={"data": {"email": "n@example.com", "nickname": "n"}},
        headers=tenant.h("member"),
    )
    assert r.status_code == 201
    r = await http.patch(url, json={"retention_days": 30, "purpose": "CRM"}, headers=h)
    assert r.status_code == 200 and r.json()["retention_days"] == 30
    r = await http.patch(url, json={"schema": None}, headers=h)
    assert r.status_code == 422


async def test_bodies_of_the_wrong_shape_are_422_not_500(http, tenant):
    """Found by schemathesis: a JSON array as the body of a record create."""
    await tenant.collection()
    base = f"{tenant.base}/collections/contacts/records"
    for body in (b"[null, null]", b"null", b"1", b'"x"'):
        r = await http.post(
            base,
            content=body,
            headers={**tenant.h("member"), "Content-Type": "application/json", "Idempotency-Key": "k"},
        )
        assert r.status_code == 422, (body, r.text)


async def test_numbers_json_cannot_hold_are_refused_not_nulled(http, tenant):
    """1e400 parses to infinity; storing it would silently become null."""
    await tenant.collection(
        "numbers", schema={"type": "object"}, indexes=[], personal_fields=[], subject_field=None
    )
    base = f"{tenant.base}/collections/numbers/records"
    for body in (b'{"data": {"a": 1e400}}', b'{"data": {"a": [1, {"b": -1e999}]}}'):
        r = await http.post(
            base, content=body, headers={**tenant.h("member"), "Content-Type": "application/json"}
        )
        assert r.status_code == 422, r.text
    assert (await http.get(base, headers=tenant.h("viewer"))).json()["items"] == []


async def test_unstorable_strings_and_remote_refs_are_422(http, tenant):
    await tenant.collection(
        "loose", schema={"type": "object"}, indexes=[], personal_fields=[], subject_field=None
    )
    r = await http.post(
        f"{tenant.base}/collections/loose/records",
        content=b'{"data": {"a": "x\\u0000y"}}',
        headers={**tenant.h("member"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    r = await http.post(
        f"{tenant.base}/collections",
        json={"name": "remote", "schema": {"properties": {"a": {"$ref": "http://169.254.169.254/x"}}}},
        headers=tenant.h("admin"),
    )
    assert r.status_code == 422 and "169.254" in str(r.json()["errors"])
    r = await http.post(
        f"{tenant.base}/collections",
        json={
            "name": "local",
            "schema": {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}},
        },
        headers=tenant.h("admin"),
    )
    assert r.status_code == 201


async def test_typos_in_filters_and_sorts_are_400_naming_the_field(http, tenant):
    """Issue #9, defect 7: under a schema with ``additionalProperties: false`` a field it does
    not declare, or a value of a type it rules out, is a 400, not an empty page."""
    await tenant.collection()
    await tenant.record({"email": "a@example.com", "score": 12, "address": {"city": "Bern"}})
    base = f"{tenant.base}/collections/contacts/records"
    h = tenant.h("viewer")

    async def refused(params, kind):
        r = await http.get(base, params=params, headers=h)
        assert r.status_code == 400, (params, r.text)
        assert r.headers["content-type"] == PROBLEM and r.json()["type"].endswith(f"/{kind}")
        return r.json()

    body = await refused({"filter": "nosuchfield eq 1"}, "invalid-filter")
    assert "'nosuchfield' is not a field" in body["detail"] and "email, score" in body["detail"]
    assert body["position"] == 0
    body = await refused({"filter": "data.score gt 10"}, "invalid-filter")
    assert "did you mean 'score'?" in body["detail"]
    body = await refused({"filter": 'score gt "ten"'}, "invalid-filter")
    assert "'score' is an integer" in body["detail"] and "compare it with a number" in body["detail"]
    assert body["position"] == 9
    body = await refused({"filter": 'email eq "a@example.com" and address.city.zip pr'}, "invalid-filter")
    assert "'address.city' is a string" in body["detail"] and body["position"] == 29
    body = await refused({"filter": "address.city eq 3000"}, "invalid-filter")
    assert "'address.city' is a string" in body["detail"]
    body = await refused({"sort": "-nosuch"}, "bad-request")
    assert "sort" in body["detail"] and "'nosuch' is not a field" in body["detail"]
    await refused({"sort": "score", "filter": "vip eq 1"}, "invalid-filter")

    for valid in (
        {"filter": 'address.city eq "Bern"'},
        {"filter": "score gt 2.5", "sort": "-address.city"},
        {"filter": "vip eq null and score ne null"},
        {"filter": 'id sw "rec_" and updated_at pr', "sort": "-updated_at"},
    ):
        r = await http.get(base, params=valid, headers=h)
        assert r.status_code == 200 and len(r.json()["items"]) == 1, (valid, r.text)


async def test_an_open_schema_holds_any_field_but_its_types_still_count(http, tenant):
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
    await tenant.collection("open", schema=schema, indexes=["nope"], personal_fields=[], subject_field=None)
    await tenant.record({"data": {"score": 3}, "extra": "x"}, collection="open")
    base = f"{tenant.base}/collections/open/records"
    h = tenant.h("viewer")
    for params, count in (
        ({"filter": "nosuchfield eq 1"}, 0),
        ({"filter": "data.score eq 3"}, 1),  # a field named data may exist here, and does
        ({"filter": 'extra eq "x"', "sort": "-nope"}, 1),
    ):
        r = await http.get(base, params=params, headers=h)
        assert r.status_code == 200 and len(r.json()["items"]) == count, (params, r.text)
    r = await http.get(base, params={"filter": 'score gt "ten"'}, headers=h)
    assert r.status_code == 400 and "'score' is an integer" in r.json()["detail"]


async def test_indexes_and_personal_fields_name_fields_the_schema_allows(http, tenant, admin_dsn):
    h = tenant.h("admin")
    closed = {
        "type": "object",
        "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
        "additionalProperties": False,
    }
    r = await http.post(
        f"{tenant.base}/collections",
        json={"name": "c", "schema": closed, "indexes": ["email", "nope", "id"], "personal_fields": ["emial"]},
        headers=h,
    )
    assert r.status_code == 422, r.text
    errors = {e["path"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"/indexes/1", "/personal_fields/0"}
    assert "'nope' is not a field" in errors["/indexes/1"]
    assert "did you mean 'email'?" in errors["/personal_fields/0"]

    r = await http.post(
        f"{tenant.base}/collections", json={"name": "c", "schema": closed, "indexes": ["score"]}, headers=h
    )
    assert r.status_code == 201, r.text
    url = f"{tenant.base}/collections/c"
    r = await http.patch(url, json={"indexes": ["score", "data.email"]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/indexes/1"
    assert "did you mean 'email'?" in r.json()["errors"][0]["message"]
    # A schema change that drops an indexed field is refused too.
    r = await http.patch(url, json={"schema": {"properties": {"score": None}}}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/indexes/0"
    # Opening the schema makes any field legal.
    r = await http.patch(url, json={"schema": {"additionalProperties": True}, "indexes": ["nope"]}, headers=h)
    assert r.status_code == 200, r.text

    # A definition stored before this check still takes patches of other members.
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            "UPDATE collections SET schema = $3::jsonb WHERE tenant_id = $1 AND name = $2",
            tenant.id,
            "c",
            json.dumps(closed),
        )
    finally:
        await conn.close()
    r = await http.patch(url, json={"retention_days": 30}, headers=h)
    assert r.status_code == 200 and r.json()["indexes"] == ["nope"], r.text
