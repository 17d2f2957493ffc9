"""The human-facing pages: Swagger UI at ``/docs`` and the problem types at ``/problems``.

Every byte comes from this process, so the pages work offline and nothing a user opens
loads from the internet. Swagger UI's files come from the ``fastapi-offline`` package
(a maintained copy of swagger-ui-dist); the page and its start-up script are ours, because
FastAPI's page starts Swagger UI with an inline script, which a strict
Content-Security-Policy (``script-src 'self'``) refuses.
"""

from __future__ import annotations

import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from fundament.apidocs.problem_types import BY_SLUG, PROBLEM_BASE, entry_html, index_html
from fundament.platform import NotFound

ASSETS = "/docs/assets"

# `img-src data:`: Swagger UI's stylesheet draws its icons as data: SVGs, which cannot run script.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _root(request: Request) -> str:
    """The path prefix a proxy mounts the app under (``--root-path``), so links still resolve."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def swagger_html(title: str, openapi_url: str, root: str) -> str:
    a = html.escape(root + ASSETS)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} – Swagger UI</title>"
        f'<link rel="icon" type="image/png" href="{a}/favicon.png">'
        f'<link rel="stylesheet" href="{a}/swagger-ui.css"></head><body>'
        f'<div id="swagger-ui" data-openapi-url="{html.escape(root + openapi_url)}"></div>'
        f'<script src="{a}/swagger-ui-bundle.js"></script>'
        f'<script src="{a}/swagger-init.js"></script>'
        "</body></html>"
    )


def install_docs(app: FastAPI, *, openapi_url: str, docs_url: str = "/docs") -> None:
    """Serve Swagger UI at ``docs_url`` and the problem types under :data:`PROBLEM_BASE`.

    Construct the app with ``docs_url=None, redoc_url=None``: FastAPI's own pages load
    their scripts from a CDN.
    """
    problems = PROBLEM_BASE.rstrip("/")

    async def docs(request: Request) -> HTMLResponse:
        page = swagger_html(app.title, openapi_url, _root(request))
        return HTMLResponse(page, headers=_headers(DOCS_CSP))

    async def problem_index(request: Request) -> HTMLResponse:
        return HTMLResponse(index_html(_root(request)), headers=_headers(PAGE_CSP))

    async def problem_entry(slug: str, request: Request) -> HTMLResponse:
        entry = BY_SLUG.get(slug)
        if entry is None:
            raise NotFound(f"No problem type {slug!r}; {problems} lists them all.")
        return HTMLResponse(entry_html(entry, _root(request)), headers=_headers(PAGE_CSP))

    app.add_api_route(docs_url, docs, methods=["GET"], include_in_schema=False)
    app.add_api_route(problems, problem_index, methods=["GET"], include_in_schema=False)
    app.add_api_route(problems + "/{slug}", problem_entry, methods=["GET"], include_in_schema=False)
    app.mount(
        ASSETS,
        StaticFiles(packages=[("fastapi_offline", "static"), ("fundament.apidocs", "assets")]),
        name="docs-assets",
    )
