"""The generated Python client (clients/python) against a live server: the scenario of
docs/clients.md, and the consistency token echoed on the wire."""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from typing import Any

import httpx
import pytest
from fundament_client.api.api_keys import api_keys_create
from fundament_client.api.collections import collections_create
from fundament_client.api.records import records_create, records_get, records_list, records_update
from fundament_client.api.tenants import tenants_create, tenants_get
from fundament_client.models import (
    ApiKeyCreate,
    ApiKeyCreateRole,
    CollectionCreate,
    CollectionCreateSchema,
    Problem,
    ProblemFieldError,
    Record,
    RecordDataPatch,
    RecordList,
    RecordWrite,
    RecordWriteData,
    Tenant,
    TenantCreate,
)
from fundament_session import CONSISTENCY_HEADER, ProblemError, Session, expect

from servers import Server

TOKEN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")


class Wire:
    """What each request sent and each response answered, read from httpx's own objects."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[str, str | None, str | None]] = []

    def __call__(self, response: httpx.Response) -> None:
        sent = response.request.headers.get(CONSISTENCY_HEADER)
        self.exchanges.append((response.request.method, sent, response.headers.get(CONSISTENCY_HEADER)))


def session(server: Server, key: str, wire: Wire | None = None, **kwargs: Any) -> Session:
    hooks = {"response": [wire]} if wire else {}
    return Session(base_url=server.base, token=key, httpx_args={"event_hooks": hooks}, **kwargs)


def test_scenario(server: Server, operator_key: str) -> None:
    wire = Wire()
    with session(server, operator_key, wire) as operator:
        slug = f"py-{uuid.uuid4().hex[:10]}"
        tenant = expect(tenants_create.sync_detailed(client=operator, body=TenantCreate(name="Acme", slug=slug)))
        assert isinstance(tenant, Tenant) and tenant.slug == slug and tenant.id.startswith("tnt_")
        assert operator.consistency.token is not None and TOKEN.match(operator.consistency.token)
        created = expect(
            api_keys_create.sync_detailed(
                tenant.id, client=operator, body=ApiKeyCreate(name="admin", role=ApiKeyCreateRole.ADMIN)
            )
        )
        assert created.key.startswith("fdk_")
        # A read after the writes sends the last write's token.
        assert isinstance(expect(tenants_get.sync_detailed(tenant.id, client=operator)), Tenant)

    # The tenant's session goes on from the operator's writes: it shares their token.
    with session(server, created.key, wire, consistency=operator.consistency) as admin:
        schema = CollectionCreateSchema.from_dict(
            {
                "type": "object",
                "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
                "required": ["email"],
                "additionalProperties": False,
            }
        )
        expect(
            collections_create.sync_detailed(
                tenant.id, client=admin, body=CollectionCreate(name="contacts", schema=schema, indexes=["score"])
            )
        )
        records: list[Record] = []
        for email, score in (("ada@example.com", 9), ("bob@example.com", 3)):
            body = RecordWrite(data=RecordWriteData.from_dict({"email": email, "score": score}))
            records.append(expect(records_create.sync_detailed(tenant.id, "contacts", client=admin, body=body)))
        assert records[0].version == 1 and records[0].data["email"] == "ada@example.com"

        listed = expect(records_list.sync_detailed(tenant.id, "contacts", client=admin, filter_="score gt 5"))
        assert isinstance(listed, RecordList)
        assert [r.id for r in listed.items] == [records[0].id]

        # ETags: the read's ETag answers 304 to If-None-Match, a stale one 412 to If-Match.
        got = records_get.sync_detailed(tenant.id, "contacts", records[0].id, client=admin)
        assert got.status_code == 200 and isinstance(got.parsed, Record)
        etag = got.headers["ETag"]
        again = records_get.sync_detailed(tenant.id, "contacts", records[0].id, client=admin, if_none_match=etag)
        assert again.status_code == 304 and not again.content
        patch = RecordDataPatch.from_dict({"score": 10})
        with pytest.raises(ProblemError) as stale:
            expect(
                records_update.sync_detailed(
                    tenant.id, "contacts", records[0].id, client=admin, body=patch, if_match='"stale"'
                )
            )
        assert stale.value.status == 412 and stale.value.type == "/problems/precondition-failed"
        assert isinstance(stale.value.problem, Problem)
        updated = expect(
            records_update.sync_detailed(tenant.id, "contacts", records[0].id, client=admin, body=patch, if_match=etag)
        )
        assert updated.version == 2 and updated.data["score"] == 10

        # A problem with field errors, typed: the record breaks the collection's schema.
        bad = RecordWrite(data=RecordWriteData.from_dict({"score": "high"}))
        with pytest.raises(ProblemError) as invalid:
            expect(records_create.sync_detailed(tenant.id, "contacts", client=admin, body=bad))
        problem = invalid.value.problem
        assert invalid.value.status == 422 and problem.type_ == "/problems/validation-error"
        assert problem.errors and all(isinstance(e, ProblemFieldError) for e in problem.errors)

    _assert_echoed(wire.exchanges)


def _assert_echoed(exchanges: list[tuple[str, str | None, str | None]]) -> None:
    """Each request after the first write carried the token of the latest write before it."""
    last: str | None = None
    writes = 0
    for method, sent, answered in exchanges:
        assert sent == last, f"{method} sent {sent!r}, the last write answered {last!r}"
        if answered is not None:
            assert method != "GET" and TOKEN.match(answered)
            last, writes = answered, writes + 1
    assert writes >= 5  # tenant, key, collection, two records (and the update)


def test_the_echoed_token_reaches_the_server(server: Server, operator_key: str) -> None:
    """The server reads the header the session sends: a garbled one is refused."""
    with session(server, operator_key) as operator:
        slug = f"py-{uuid.uuid4().hex[:10]}"
        tenant = expect(tenants_create.sync_detailed(client=operator, body=TenantCreate(name="Acme", slug=slug)))
        operator.consistency.token = "not-a-token"
        with pytest.raises(ProblemError) as refused:
            expect(tenants_get.sync_detailed(tenant.id, client=operator))
        assert refused.value.status == 400 and refused.value.type == "/problems/invalid-consistency-token"


async def test_the_async_client_echoes_the_token(server: Server, operator_key: str) -> None:
    sent: list[str | None] = []

    async def record(response: httpx.Response) -> None:
        sent.append(response.request.headers.get(CONSISTENCY_HEADER))

    hooks: dict[str, Any] = {"response": [record]}
    async with Session(base_url=server.base, token=operator_key, httpx_args={"event_hooks": hooks}) as operator:
        body = TenantCreate(name="Acme", slug=f"py-{uuid.uuid4().hex[:10]}")
        tenant = expect(await tenants_create.asyncio_detailed(client=operator, body=body))
        expect(await tenants_get.asyncio_detailed(tenant.id, client=operator))
    assert sent == [None, operator.consistency.token]


class _Proxy502(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>bad gateway</html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_answer_that_is_no_problem_document_is_raised_too() -> None:
    """A status the document does not list (a proxy's 502 page) still raises, with its text."""
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy502)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{proxy.server_address[1]}"
        with Session(base_url=base, token="fdk_x") as fd, pytest.raises(ProblemError) as raised:
            expect(tenants_get.sync_detailed("tnt_x", client=fd))
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert raised.value.status == 502 and raised.value.type == "about:blank"
    assert "bad gateway" in raised.value.problem.detail
