"""The web console at ``/console``: server-rendered pages for operators and tenant admins.

The console is a client of the v1 API. A page never reads the database or a module's
service: it calls the API in process (:class:`~fundament.console.core.Api`, httpx over ASGI
on this app) with the signed-in key, so authorization, tenant isolation, validation and
problem documents are exactly the API's, and one tenant's admin sees another tenant's pages
only as the API's 404. The key lives in a sealed session cookie (HttpOnly, Secure,
SameSite=Strict); every POST carries the session's CSRF token; every answer carries a strict
Content-Security-Policy (no inline script or style) — docs/console.md, ADR 0017.

How to add a page
-----------------
1. In the area's module (``tenant.py`` for tenant admins, ``operator.py`` for operators;
   a new module makes its own ``pages = Pages("operator")`` and is listed in
   :data:`PAGE_SETS` below), declare it::

       @pages.page("/operator/usage", nav="Usage")       # nav: a link in the layout
       async def usage(c: Console) -> Response:
           report = await c.api.get("/v1/finops/report", {"month": c.query.get("month", "")})
           return c.render("operator_usage.html", title="Usage", report=report)

   Tenant pages' paths start with ``/t/{tenant}`` (``c.tenant`` is that id, ``c.tenant_url``
   builds links under it). Put other path parameters into API paths as ``c.param("name")``
   (percent-encoded again: Starlette hands them decoded). Operator pages answer 404 to tenant
   keys before they run.
   ``c.api.get`` returns the body or, on a 4xx/5xx, stops the page with the API's problem as
   the error page; ``c.api.call(method, path, json_body=..., params=...)`` returns an
   :class:`~fundament.console.core.Answer` to handle yourself (``answer.problem``,
   ``answer.field_errors({"/schema": "schema"})`` to show a 422's errors next to fields).
2. A form posts (``methods=("GET", "POST")`` or its own POST path) with ``{{ csrf_field }}``
   inside it; the token is checked before the page runs (403 without it). Read fields with
   ``await c.form()``. After a write, ``return c.redirect("/path")`` (303).
3. The template goes in ``templates/`` and extends the layout::

       {% extends "layout.html" %}
       {% block content %}...{% endblock %}

   ``title`` is the page's ``<h1>`` and ``<title>``. Macros for fields, problems and tables
   are in ``_macros.html`` (``{% import "_macros.html" as m %}``). No ``<script>`` or
   ``style=`` in templates (the CSP refuses both): behaviour goes in ``static/*.js`` (loaded
   by the layout, or by a ``{% block scripts %}``), looks in ``static/console.css``; SVG
   charts use presentation attributes (``fill=``, ``height=``) and classes.
4. A browser test in ``tests/console/`` (fixtures in its conftest: ``console`` — the server —,
   ``page``, ``signed_in(page, key)``, ``axe_check(page)``); ``tests/console_session.py``'s
   ``Browserless`` drives a signed-in session over plain HTTP where no browser is needed.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles

from fundament.console import access, operator, tenant
from fundament.console.core import COOKIE, CSP, Console, Pages, SecurityHeaders, build_routes

#: Every area's pages, in the order their nav links appear.
PAGE_SETS: list[Pages] = [access.pages, operator.pages, tenant.pages]

PREFIX = "/console"

__all__ = ["COOKIE", "CSP", "PREFIX", "Console", "Pages", "install_console"]


def install_console(app: FastAPI) -> None:
    """Mount the console at ``/console`` (its pages and its static files)."""
    assets = Mount("/static", StaticFiles(packages=[("fundament.console", "static")]))
    app.mount(PREFIX, SecurityHeaders(Router(routes=build_routes(PAGE_SETS, assets))), name="console")

    async def bare(request: Request) -> RedirectResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return RedirectResponse(root + PREFIX + "/", status_code=308)

    app.add_api_route(PREFIX, bare, methods=["GET"], include_in_schema=False)
