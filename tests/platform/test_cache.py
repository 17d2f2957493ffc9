"""The request path's cache: TTL, single flight, no stale fills, bounded size."""

from __future__ import annotations

import asyncio

import pytest

from fundament.platform import LoadingCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_one_load_per_miss_however_many_ask() -> None:
    cache: LoadingCache[str, int] = LoadingCache(ttl_seconds=30, max_entries=10)
    loads = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return 7

    waiting = [asyncio.create_task(cache.get("a", load)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [7] * 50
    assert loads == 1 and cache.peek("a") == 7


async def test_values_expire_and_absence_is_not_kept() -> None:
    clock = Clock()
    cache: LoadingCache[str, int] = LoadingCache(ttl_seconds=30, max_entries=10, clock=clock)
    found: list[int | None] = [None, 1, 2]

    async def load() -> int | None:
        return found.pop(0)

    assert await cache.get("a", load) is None and len(cache) == 0  # looked up again next time
    assert await cache.get("a", load) == 1
    clock.now += 30
    assert await cache.get("a", load) == 1
    clock.now += 0.5
    assert cache.peek("a") is None and await cache.get("a", load) == 2


@pytest.mark.parametrize("how", ["key", "where", "all"])
async def test_a_load_that_began_before_an_invalidation_does_not_store(how: str) -> None:
    cache: LoadingCache[str, str] = LoadingCache(ttl_seconds=30, max_entries=10)
    read, gate = asyncio.Event(), asyncio.Event()

    async def stale() -> str:
        read.set()
        await gate.wait()
        return "old"

    async def fresh() -> str:
        return "new"

    first = asyncio.create_task(cache.get("a", stale))
    await read.wait()
    {
        "key": lambda: cache.invalidate("a"),
        "where": lambda: cache.invalidate_where(lambda k, v: False),
        "all": cache.clear,
    }[how]()
    # Asked after the change: a load of its own, not the one in flight.
    assert await cache.get("a", fresh) == "new"
    gate.set()
    assert await first == "old"  # the caller that asked before still gets its answer
    assert cache.peek("a") == "new"


async def test_put_wins_over_a_load_in_flight() -> None:
    cache: LoadingCache[str, str] = LoadingCache(ttl_seconds=30, max_entries=10)
    gate = asyncio.Event()

    async def stale() -> str:
        await gate.wait()
        return "old"

    first = asyncio.create_task(cache.get("a", stale))
    await asyncio.sleep(0)
    cache.put("a", "written")
    gate.set()
    await first
    assert cache.peek("a") == "written"


async def test_invalidate_where_drops_what_it_names() -> None:
    cache: LoadingCache[tuple[str, str], int] = LoadingCache(ttl_seconds=30, max_entries=10)
    for key in [("t1", "a"), ("t1", "b"), ("t2", "a")]:
        cache.put(key, 1)
    cache.invalidate_where(lambda key, _value: key[0] == "t1")
    assert [cache.peek(k) for k in [("t1", "a"), ("t1", "b"), ("t2", "a")]] == [None, None, 1]


async def test_full_drops_the_oldest_store() -> None:
    cache: LoadingCache[str, int] = LoadingCache(ttl_seconds=30, max_entries=3)
    for i, key in enumerate("abc"):
        cache.put(key, i)
    cache.put("a", 10)  # stored anew: now the newest
    cache.put("d", 3)
    assert len(cache) == 3 and cache.peek("b") is None and cache.peek("a") == 10


async def test_a_refused_start_reaches_only_its_caller_and_a_failed_load_every_waiter() -> None:
    cache: LoadingCache[str, int] = LoadingCache(ttl_seconds=30, max_entries=10)

    def refuse() -> asyncio.Future[int]:
        raise PermissionError("throttled")

    with pytest.raises(PermissionError):
        await cache.get("a", refuse)
    gate = asyncio.Event()

    async def broken() -> int:
        await gate.wait()
        raise ConnectionError("database down")

    waiting = [asyncio.create_task(cache.get("a", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)

    async def good() -> int:
        return 1

    assert await cache.get("a", good) == 1  # a failure is not kept either


async def test_a_waiter_that_gives_up_does_not_cancel_the_load() -> None:
    cache: LoadingCache[str, int] = LoadingCache(ttl_seconds=30, max_entries=10)
    gate = asyncio.Event()

    async def slow() -> int:
        await gate.wait()
        return 5

    impatient = asyncio.create_task(cache.get("a", slow))
    patient = asyncio.create_task(cache.get("a", slow))
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()
    assert await patient == 5 and cache.peek("a") == 5
