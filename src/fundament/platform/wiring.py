"""How a route reaches what the composition root built, without the kernel knowing its type.

The composition root builds one typed services object and puts it on the app. Each module
declares, as a Protocol, only the members it reads (its port: ``Needs``) and reads them
through :func:`services`; mypy proves in the composition root that the one object satisfies
every port. So a module cannot reach what it did not declare, and a service nobody built
is a type error rather than an ``AttributeError`` on the first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from fundament.platform.auth import Admission, Authenticator
    from fundament.platform.db import Database


def services(request: HTTPConnection) -> Any:
    """The app's services object. Typed Any: the caller assigns it to its own port."""
    return request.scope["app"].services


class Needs(Protocol):
    """What the kernel itself reads: the pool, and the auth and admission ports."""

    @property
    def db(self) -> Database: ...

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def admission(self) -> Admission | None: ...
