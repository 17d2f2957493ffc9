"""The strangler-fig gateway: Fundament in front of a legacy application, moving it over
route by route, with shadow comparisons that say when a route is safe to flip.

A route table (a TOML file, reloaded when it changes) sends each request to ``legacy``,
to ``fundament`` (its path rewritten), or in ``shadow`` to legacy while the same request
goes to Fundament off the client's path and the two answers are compared (docs/gateway.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fundament.gateway.config import ConfigError, GatewayConfig, load_config
from fundament.gateway.core import Gateway
from fundament.gateway.report import render_table

__all__ = [
    "ConfigError",
    "Gateway",
    "GatewayConfig",
    "Needs",
    "from_file",
    "install",
    "load_config",
    "render_table",
]


class Needs(Protocol):
    """What the report route reads from the services object."""

    @property
    def gateway(self) -> Gateway | None: ...


def install(app: Any) -> None:
    """Mount the report route (it answers 404 on a server that runs no gateway)."""
    from fundament.gateway.api import router

    app.include_router(router)


def from_file(path: Path, *, inner: Any = None) -> Gateway:
    """The gateway of the file at ``path`` (watched for changes once started), in front of
    ``inner``, the app that serves Fundament's own paths."""
    return Gateway(load_config(path), path=path, inner=inner)
