"""The consistency token without replicas: every write answers one, reads take one back,
and a malformed one is refused the same with replicas or without."""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import TenantFixture
from fundament.platform import format_position
from fundament.platform.replicas import UNKNOWN_POSITION, parse_consistency

TOKEN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")


def test_tokens_are_postgresql_positions() -> None:
    assert format_position(0x16_B374D848) == "16/B374D848"
    assert parse_consistency(b"16/B374D848") == 0x16_B374D848
    assert parse_consistency(b"16/b374d848") == 0x16_B374D848
    assert format_position(UNKNOWN_POSITION) == "FFFFFFFF/FFFFFFFF"
    # Several (repeated header lines arrive joined): the latest counts.
    assert parse_consistency(b"0/10, 1/0 ,0/FFFFFFFF") == 1 << 32
    assert parse_consistency(b"") == 0 and parse_consistency(b"  ") == 0
    for bad in (b"16", b"16/", b"/1", b"x/1", b"123456789/0", b"1/2/3", b"0/1,", b"0/1;q=1", b"-1/0"):
        assert parse_consistency(bad) is None, bad


async def test_writes_carry_the_token_and_reads_do_not(
    http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    await tenant.collection()
    rec = await tenant.http.post(
        f"{tenant.base}/collections/contacts/records", json={"data": {"email": "a@example.com"}},
        headers=tenant.h("member"),
    )  # fmt: skip
    assert rec.status_code == 201
    first = rec.headers["fundament-consistency"]
    assert TOKEN.match(first)
    path = f"{tenant.base}/collections/contacts/records/{rec.json()['id']}"
    patched = await http.put(path, json={"data": {"email": "b@example.com"}}, headers=tenant.h("member"))
    assert patched.status_code == 200
    second = patched.headers["fundament-consistency"]
    assert parse_consistency(second.encode()) > parse_consistency(first.encode())  # type: ignore[operator]
    assert patched.headers.get_list("fundament-consistency") == [second]  # one header, the latest
    read = await http.get(path, headers={**tenant.h("viewer"), "Fundament-Consistency": second})
    assert read.status_code == 200 and read.json()["data"]["email"] == "b@example.com"
    assert "fundament-consistency" not in read.headers
    # A token from the future (another cluster's, or forged) is still a token: served.
    read = await http.get(path, headers={**tenant.h("viewer"), "Fundament-Consistency": "FFFF/0"})
    assert read.status_code == 200
    # A write answers its own position, not the one the client sent.
    put = await http.put(
        path, json={"data": {"email": "c@example.com"}},
        headers={**tenant.h("member"), "Fundament-Consistency": "FFFF/0"},
    )  # fmt: skip
    assert put.status_code == 200
    third = put.headers["fundament-consistency"]
    assert third != "FFFF/0" and parse_consistency(third.encode()) > parse_consistency(second.encode())  # type: ignore[operator]
    # No token yet (an SDK's empty "last token"): as without the header.
    read = await http.get(path, headers={**tenant.h("viewer"), "Fundament-Consistency": ""})
    assert read.status_code == 200


@pytest.mark.parametrize("value", ["abc", "16", "0/1/2", "1/2, nope"])
async def test_a_malformed_token_is_refused(
    http: httpx.AsyncClient, tenant: TenantFixture, value: str
) -> None:
    for method, path in (("GET", f"{tenant.base}/collections"), ("POST", f"{tenant.base}/collections")):
        r = await http.request(
            method,
            path,
            headers={**tenant.h("admin"), "Fundament-Consistency": value},
            json={"name": "x", "schema": {"type": "object"}},
        )
        assert r.status_code == 400, (method, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "/problems/invalid-consistency-token"
        # Without a key: 401, as for any request, before the token is looked at.
        r = await http.request(method, path, headers={"Fundament-Consistency": value})
        assert r.status_code == 401, (method, r.text)
