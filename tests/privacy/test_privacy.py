"""GDPR tooling: register, subject export, erasure, retention, durable jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from fundament import privacy
from fundament.jobs import Worker


@pytest.fixture
async def admin_conn(admin_dsn):
    conn = await asyncpg.connect(admin_dsn)
    yield conn
    await conn.close()


async def setup_subjects(tenant, http):
    await tenant.collection(purpose="CRM", legal_basis="Art. 6(1)(b) contract")
    r = await http.post(
        f"{tenant.base}/collections",
        json={
            "name": "tickets",
            "schema": {
                "type": "object",
                "properties": {
                    "requester": {"type": "string"},
                    "text": {"type": "string"},
                    "note": {"type": "string"},
                },
            },
            "personal_fields": ["requester", "text"],
            "subject_field": "requester",
            "on_erasure": "anonymize",
        },
        headers=tenant.h("admin"),
    )
    assert r.status_code == 201
    ada = await tenant.record({"email": "ada@example.com", "score": 1})
    bob = await tenant.record({"email": "bob@example.com", "score": 2})
    ticket = await tenant.record(
        {"requester": "ada@example.com", "text": "help", "note": "n"}, collection="tickets"
    )
    return ada, bob, ticket


async def run_jobs(app, clock=None) -> int:
    worker = (
        app.services.job_worker
        if clock is None
        else Worker(app.services.db, privacy.handlers(app.services.privacy_secret), clock=clock)
    )
    return await worker.run_once()


async def test_processing_record_states_region_and_purposes(http, tenant):
    await setup_subjects(tenant, http)
    r = await http.get(f"{tenant.base}/privacy/processing-record", headers=tenant.h("admin"))
    assert r.status_code == 200
    body = r.json()
    assert body["region"] == "eu-central-1"
    by_name = {a["collection"]: a for a in body["activities"]}
    assert by_name["contacts"]["purpose"] == "CRM" and by_name["contacts"]["retention_days"] == 365
    assert by_name["tickets"]["personal_fields"] == ["requester", "text"]


async def test_export_has_everything_about_the_subject_and_nothing_else(http, app, tenant, other_tenant):
    ada, _bob, ticket = await setup_subjects(tenant, http)
    await other_tenant.collection()
    await other_tenant.record({"email": "ada@example.com"})  # same person, other tenant
    r = await http.post(
        f"{tenant.base}/privacy/exports", json={"subject": "ada@example.com"}, headers=tenant.h("admin")
    )
    assert r.status_code == 202
    req = r.json()
    assert req["status"] == "pending"
    created, due = datetime.fromisoformat(req["created_at"]), datetime.fromisoformat(req["due_at"])
    assert 28 <= (due - created).days <= 31
    url = f"{tenant.base}/privacy/exports/{req['id']}"
    assert (await http.get(url + "/download", headers=tenant.h("admin"))).status_code == 409
    assert await run_jobs(app) >= 1
    assert (await http.get(url, headers=tenant.h("admin"))).json()["status"] == "done"
    r = await http.get(url + "/download", headers=tenant.h("admin"))
    assert r.status_code == 200
    bundle = r.json()
    assert [x["id"] for x in bundle["records"]["contacts"]] == [ada["id"]]
    assert [x["id"] for x in bundle["records"]["tickets"]] == [ticket["id"]]
    assert "bob@example.com" not in r.text
    assert {e["target"]["id"] for e in bundle["audit_events"]} == {ada["id"], ticket["id"]}
    assert bundle["region"] == "eu-central-1" and bundle["processing"]
    # the trail keeps personal values only encrypted; the export decrypts the subject's own
    created = next(e for e in bundle["audit_events"] if e["target"]["id"] == ada["id"])
    assert created["personal_values"] == {"email": "ada@example.com"}
    trail = (await http.get(f"{tenant.base}/audit-events", headers=tenant.h("admin"))).json()["items"]
    assert "ada@example.com" not in str(trail)
    assert any(e["details"].get("personal") for e in trail)
    # another tenant cannot see the request
    assert (await http.get(url, headers=other_tenant.h("admin"))).status_code == 404


async def test_erasure_removes_personal_values_and_keeps_the_chain_valid(http, app, tenant, admin_conn):
    ada, bob, ticket = await setup_subjects(tenant, http)
    r = await http.post(
        f"{tenant.base}/privacy/exports", json={"subject": "ada@example.com"}, headers=tenant.h("admin")
    )
    export_id = r.json()["id"]
    r = await http.post(
        f"{tenant.base}/privacy/erasures", json={"subject": "ada@example.com"}, headers=tenant.h("admin")
    )
    assert r.status_code == 202
    erasure_url = f"{tenant.base}/privacy/erasures/{r.json()['id']}"
    await run_jobs(app)
    done = (await http.get(erasure_url, headers=tenant.h("admin"))).json()
    assert done["status"] == "done" and done["erased"] == {"contacts": 1, "tickets": 1}
    h = tenant.h("viewer")
    assert (
        await http.get(f"{tenant.base}/collections/contacts/records/{ada['id']}", headers=h)
    ).status_code == 404
    t = (await http.get(f"{tenant.base}/collections/tickets/records/{ticket['id']}", headers=h)).json()
    assert t["data"] == {"requester": None, "text": None, "note": "n"}  # anonymized, not deleted
    assert (
        await http.get(f"{tenant.base}/collections/contacts/records/{bob['id']}", headers=h)
    ).status_code == 200
    # no readable personal value anywhere in the database for this tenant
    for table, column in (
        ("records", "data::text"),
        ("audit_events", "details::text"),
        ("audit_pending", "details::text"),
        ("privacy_requests", "coalesce(subject, '') || coalesce(result::text, '')"),
    ):
        hits = await admin_conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE tenant_id = $1 AND {column} LIKE '%ada@example%'", tenant.id
        )
        assert hits == 0, table
    assert (
        await http.get(f"{tenant.base}/privacy/exports/{export_id}/download", headers=tenant.h("admin"))
    ).status_code == 409
    # crypto-shredded: the data key is gone, the ciphertext in the trail can never be read
    assert (
        await admin_conn.fetchval(
            "SELECT count(*) FROM subject_keys WHERE tenant_id = $1 AND wrapped_key IS NOT NULL", tenant.id
        )
        == 1
    )  # bob's key only
    v = (await http.get(f"{tenant.base}/audit-events/verify", headers=tenant.h("admin"))).json()
    assert v["valid"] is True
    events = (
        await http.get(
            f"{tenant.base}/audit-events",
            params={"action": "privacy.erasure_completed"},
            headers=tenant.h("admin"),
        )
    ).json()["items"]
    assert len(events) == 1 and "ada@example" not in str(events[0])
    # erasing twice is harmless
    r = await http.post(
        f"{tenant.base}/privacy/erasures", json={"subject": "ada@example.com"}, headers=tenant.h("admin")
    )
    await run_jobs(app)
    again = (
        await http.get(f"{tenant.base}/privacy/erasures/{r.json()['id']}", headers=tenant.h("admin"))
    ).json()
    assert again["status"] == "done" and again["erased"] == {"contacts": 0, "tickets": 0}


async def test_retention_deletes_exactly_the_expired_records(http, app, tenant, admin_conn):
    await tenant.collection(retention_days=30)
    old = await tenant.record({"email": "old@example.com"})
    fresh = await tenant.record({"email": "fresh@example.com"})
    await admin_conn.execute(
        "UPDATE records SET created_at = now() - interval '31 days' WHERE tenant_id = $1 AND id = $2",
        tenant.id,
        old["id"],
    )
    await run_jobs(app)
    h = tenant.h("viewer")
    base = f"{tenant.base}/collections/contacts/records"
    assert (await http.get(f"{base}/{old['id']}", headers=h)).status_code == 404
    assert (await http.get(f"{base}/{fresh['id']}", headers=h)).status_code == 200
    # the job is periodic: moving the clock 31 days on expires the fresh record too
    later = datetime.now(UTC) + timedelta(days=31)
    assert await run_jobs(app, clock=lambda: later) >= 1  # every tenant's retention job is due
    assert (await http.get(f"{base}/{fresh['id']}", headers=h)).status_code == 404
    actions = [
        e["action"]
        for e in (await http.get(f"{tenant.base}/audit-events", headers=tenant.h("admin"))).json()["items"]
    ]
    assert actions.count("record.expired") == 2


async def test_a_crashed_jobs_lease_runs_out_and_it_runs_again(http, app, tenant, admin_conn):
    await setup_subjects(tenant, http)
    r = await http.post(
        f"{tenant.base}/privacy/exports", json={"subject": "bob@example.com"}, headers=tenant.h("admin")
    )
    # a worker claimed it and died: its lease is still running
    await admin_conn.execute(
        "UPDATE jobs SET locked_until = now() + interval '5 minutes', attempts = 1 WHERE ref = $1",
        r.json()["id"],
    )
    url = f"{tenant.base}/privacy/exports/{r.json()['id']}"
    await run_jobs(app)
    assert (await http.get(url, headers=tenant.h("admin"))).json()["status"] == "pending"
    later = datetime.now(UTC) + timedelta(minutes=6)
    await run_jobs(app, clock=lambda: later)
    assert (await http.get(url, headers=tenant.h("admin"))).json()["status"] == "done"
