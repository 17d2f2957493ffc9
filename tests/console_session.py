"""The console over plain HTTP, for tests/console that need no browser (CSRF, the isolation matrix)."""

from __future__ import annotations

from typing import Any

import httpx

COOKIE = "fundament_console"


class Browserless:
    """A console session with the cookie carried by hand: Python's cookie jar never sends a
    Secure cookie over http://, even to 127.0.0.1 (browsers do)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cookie = ""

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **({"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {})}
        r = await self.client.request(method, path, headers=headers, **kwargs)
        for line in r.headers.get_list("set-cookie"):
            if line.startswith(COOKIE + "="):
                self.cookie = line.split(";")[0].split("=", 1)[1]
        return r

    async def csrf(self, path: str = "/console/") -> str:
        """The CSRF token on the page at ``path`` (after its redirects)."""
        r = await self.request("GET", path)
        for _ in range(3):
            if r.status_code not in (302, 303, 307, 308):
                break
            r = await self.request("GET", r.headers["location"])
        return r.text.split('name="csrf" value="')[1].split('"')[0]

    async def sign_in(self, key: str) -> None:
        """Sign in through the form; keeps the session's CSRF token for :meth:`post`."""
        token = await self.csrf("/console/")
        r = await self.request("POST", "/console/sign-in", data={"key": key, "csrf": token})
        assert r.status_code == 303, r.text
        self.token = await self.csrf(r.headers["location"])

    async def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """A form post with this session's CSRF token."""
        return await self.request("POST", path, data={**(data or {}), "csrf": self.token})

    token = ""
