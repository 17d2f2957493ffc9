"""What the generated client (``fundament_client``) cannot express, written by hand.

- **Read-your-writes.** Every write answers ``Fundament-Consistency``; a read that sends it
  back sees that write even when a replica serves it. The generated functions take the header
  as an argument where the document lists it, but they keep no state between calls, so
  :class:`Session` remembers the last token a response carried and sends it on every later
  request (an ``httpx`` event hook: the generated code is untouched).
- **Problems as exceptions.** The generated functions return an RFC 9457 problem as a
  ``Problem`` value beside the success type; :func:`expect` returns the success value or
  raises :class:`ProblemError`, so callers need no ``isinstance`` after each call.

Regenerating ``fundament_client`` (clients/generate.py) leaves this package alone.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

import httpx
from attrs import define, field
from fundament_client import AuthenticatedClient
from fundament_client.models import Problem
from fundament_client.types import Response

__all__ = ["CONSISTENCY_HEADER", "Consistency", "ProblemError", "Session", "expect"]

CONSISTENCY_HEADER = "Fundament-Consistency"

T = TypeVar("T")


class Consistency:
    """The last consistency token seen, sent with each request that names none itself.

    The token is opaque (the contract may change its notation), so it is never compared:
    the last response wins. A caller that issues writes concurrently and needs all of them
    visible can send their tokens joined by commas; the server takes the latest.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def on_request(self, request: httpx.Request) -> None:
        if self.token is not None and CONSISTENCY_HEADER not in request.headers:
            request.headers[CONSISTENCY_HEADER] = self.token

    def on_response(self, response: httpx.Response) -> None:
        token = response.headers.get(CONSISTENCY_HEADER)
        if token:
            self.token = token

    async def on_request_async(self, request: httpx.Request) -> None:
        self.on_request(request)

    async def on_response_async(self, response: httpx.Response) -> None:
        self.on_response(response)


@define
class Session(AuthenticatedClient):
    """An :class:`AuthenticatedClient` (pass it as ``client=`` to the generated functions)
    that echoes the consistency token.

    ``Session(base_url="http://127.0.0.1:8000", token="fdk_…")``; ``session.consistency.token``
    is the last token seen. Clients copied with ``with_headers`` and the like share it. An
    httpx client handed over with ``set_httpx_client`` is used as it is: add
    ``consistency.on_request`` and ``on_response`` to its event hooks yourself.
    """

    consistency: Consistency = field(factory=Consistency, kw_only=True)

    def get_httpx_client(self) -> httpx.Client:
        fresh = self._client is None
        client = super().get_httpx_client()
        if fresh:
            hooks = client.event_hooks
            client.event_hooks = {
                "request": [*hooks["request"], self.consistency.on_request],
                "response": [*hooks["response"], self.consistency.on_response],
            }
        return client

    def get_async_httpx_client(self) -> httpx.AsyncClient:
        fresh = self._async_client is None
        client = super().get_async_httpx_client()
        if fresh:
            hooks = client.event_hooks
            client.event_hooks = {
                "request": [*hooks["request"], self.consistency.on_request_async],
                "response": [*hooks["response"], self.consistency.on_response_async],
            }
        return client


class ProblemError(Exception):
    """An RFC 9457 problem the server answered; ``problem.type_`` says what went wrong."""

    def __init__(self, status: int, problem: Problem) -> None:
        super().__init__(f"{status} {problem.title}: {problem.detail} ({problem.type_})")
        self.status = status
        self.problem = problem

    @property
    def type(self) -> str:
        return self.problem.type_


def expect(response: Response[T | Problem]) -> T:
    """The parsed success value of a generated ``*_detailed`` call, or :class:`ProblemError`.

    An error status the document does not list (parsed as ``None``) is raised too, read as a
    problem if its body is one.
    """
    parsed = response.parsed
    if isinstance(parsed, Problem):
        raise ProblemError(response.status_code, parsed)
    if response.status_code >= 400:
        raise ProblemError(response.status_code, _as_problem(response))
    return cast(T, parsed)


def _as_problem(response: Response[Any]) -> Problem:
    try:
        return Problem.from_dict(json.loads(response.content))
    except (ValueError, KeyError, TypeError):
        text = response.content.decode(errors="replace")[:500]
        status = response.status_code
        return Problem(type_="about:blank", title=status.phrase, status=status, detail=text)
