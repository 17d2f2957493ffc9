"""Pure kernel pieces: merge patch (RFC 7396), id cursors, ids, problem rendering."""

from __future__ import annotations

import base64
import contextlib
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundament.platform import (
    BadRequest,
    InvalidCursor,
    Problem,
    decode_id_cursor,
    encode_id_cursor,
    looks_like_id,
    merge_patch,
    new_id,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7396 Appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc_examples(target, patch, result):
    assert merge_patch(target, patch) == result


@given(json_objects, json_objects)
def test_merge_patch_properties(target, patch):
    before = copy.deepcopy(target)
    out = merge_patch(target, patch)
    assert target == before  # inputs untouched
    for key, value in patch.items():
        if value is None:
            assert key not in out
        elif not isinstance(value, dict):
            assert out[key] == value
    assert merge_patch(out, patch) == out  # idempotent


@given(st.text(min_size=1, max_size=40).filter(str.isprintable))
def test_id_cursor_round_trip(value):
    # What lists continue after: ids, names, sequence numbers; all printable.
    assert decode_id_cursor(encode_id_cursor(value)) == value


@given(st.text(max_size=60))
def test_garbage_cursor_is_a_clean_400(text):
    with contextlib.suppress(InvalidCursor):
        decode_id_cursor(text)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


json_payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["after", "s", "v", ""]), inner),
    max_leaves=8,
)


@given(
    st.one_of(
        json_payloads.map(lambda v: json.dumps(v).encode()),
        st.text().map(lambda t: json.dumps({"after": t}).encode()),
        st.binary(max_size=40),
    )
)
def test_structured_garbage_cursor_is_invalid_or_a_printable_key(payload):
    """Whatever decodes is a key SQL can bind as text (no NUL, no lone surrogate)."""
    try:
        value = decode_id_cursor(_b64(payload))
    except InvalidCursor:
        return
    assert isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable()
    value.encode("utf-8")


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.text(alphabet=st.characters(blacklist_characters=_B64URL), min_size=1))
def test_a_cursor_outside_base64url_is_refused_before_decoding(junk):
    # urlsafe_b64decode alone would skip the foreign characters and decode the rest.
    cursor = encode_id_cursor("tnt_01") + junk
    with pytest.raises(InvalidCursor):
        decode_id_cursor(cursor)


def test_ids_are_prefixed_and_sortable():
    ids = [new_id("rec") for _ in range(50)]
    assert all(looks_like_id(i, "rec") for i in ids)
    assert not looks_like_id("rec_x", "rec") and not looks_like_id(ids[0], "tnt")
    with pytest.raises(ValueError):
        new_id("zzz")


def test_problem_body_shape():
    body = BadRequest("bad thing", errors=[]).body()
    assert body == {"type": BadRequest.type, "title": "Bad request", "status": 400, "detail": "bad thing"}
    assert Problem().status == 500


async def test_a_tenant_lane_runs_one_at_a_time_and_rests_in_proportion() -> None:
    import asyncio
    import time

    from fundament.platform import TenantLane

    lane = TenantLane(share=0.5)  # after d seconds of work, closed for d
    spans: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}

    async def work(tenant: str) -> None:
        async with lane.slot(tenant):
            began = time.monotonic()
            await asyncio.sleep(0.05)
            spans[tenant].append((began, time.monotonic()))

    await asyncio.gather(work("a"), work("a"), work("b"))
    (first, second), (b,) = sorted(spans["a"]), spans["b"]
    # The second "a" waited for the first, and then as long again; "b" ran beside them.
    assert second[0] - first[1] >= (first[1] - first[0]) * 0.99
    assert b[0] < first[1]
    assert lane.in_use("a") == 0 and lane.in_use("b") == 0
    with pytest.raises(ValueError):
        TenantLane(share=0)


async def test_a_full_lane_refuses_at_once_with_a_retry_estimate() -> None:
    import asyncio

    from fundament.platform import LaneFull, TenantLane

    lane = TenantLane(share=1.0, max_waiting=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with lane.slot("a"):
            await release.wait()

    running = [asyncio.create_task(hold()) for _ in range(2)]  # one in, one waiting
    await asyncio.sleep(0)
    with pytest.raises(LaneFull) as full:
        async with lane.slot("a"):
            pass
    assert full.value.waiting == 2 and full.value.retry_after >= 1
    async with lane.slot("b"):  # another tenant's lane is its own
        pass
    release.set()
    await asyncio.gather(*running)
    assert lane.in_use("a") == 0


async def test_background_work_runs_outside_the_request_that_started_it() -> None:
    import asyncio
    import time

    from fundament.platform import Exchange, background, current_exchange

    seen: list[object] = []

    async def work() -> None:
        seen.append(current_exchange.get())

    token = current_exchange.set(Exchange("POST", "/x", "req_1", time.perf_counter()))
    try:
        await background(work())
        inherited = asyncio.create_task(work())
        await inherited
    finally:
        current_exchange.reset(token)
    assert seen[0] is None  # not the request's: no commit position, db time or request id
    assert seen[1] is not None  # what a plain task would have seen
