"""The floor of a Python proxy here: uvicorn (httptools, uvloop) forwarding each request to
legacy through one shared aiohttp session, with nothing else (no route table, no header
rewriting, no timeouts, no metrics). bench/gateway.py --proxy floor measures it where it
measures `fundament gateway`, so the difference is what the gateway itself adds.

    GATEWAY_FLOOR_UPSTREAM=http://127.0.0.1:5000 uvicorn bench.gateway_floor:app --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("GATEWAY_FLOOR_UPSTREAM", "http://127.0.0.1:5000")
_session: aiohttp.ClientSession | None = None


async def app(scope: Any, receive: Any, send: Any) -> None:
    global _session
    if scope["type"] != "http":
        return
    if _session is None:
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), auto_decompress=False
        )
    await receive()
    target = UPSTREAM + scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
    async with _session.get(target) as response:
        headers = [(k, v) for k, v in response.raw_headers if k.lower() not in (b"date", b"server")]
        body = await response.read()
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
