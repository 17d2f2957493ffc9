"""The documentation pages work offline: /docs (Swagger UI) and the problem types at /problems,
every asset served by the app itself, under a strict Content-Security-Policy."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from fundament.apidocs import CATALOGUE, markdown
from fundament.platform import T

ROOT = Path(__file__).resolve().parent.parent
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _Page(HTMLParser):
    """The URLs a page loads or links, and its inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        if (tag == "script" and "src" not in a) or tag == "style" or "style" in a:
            self.inline.append(tag)
        assert not any(k.startswith("on") for k in a), (tag, a)  # no inline event handlers


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _directives(csp: str) -> dict[str, set[str]]:
    return {d.split()[0]: set(d.split()[1:]) for d in csp.split(";") if d.strip()}


async def test_docs_are_served_offline_under_a_strict_csp(http: httpx.AsyncClient) -> None:
    r = await http.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//", r.text), "an absolute URL in /docs"
    page = _page(r.text)
    assert page.inline == []
    csp = _directives(r.headers["content-security-policy"])
    assert csp["default-src"] == {"'none'"} and csp["script-src"] == {"'self'"}
    assert csp["style-src"] == {"'self'"} and csp["connect-src"] == {"'self'"}
    assert csp["frame-ancestors"] == {"'none'"} and csp["base-uri"] == {"'none'"}
    assert not any("unsafe" in v or "*" in v for values in csp.values() for v in values), csp
    assets = page.urls
    assert {Path(urlsplit(u).path).name for u in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-init.js",
        "favicon.png",
    }
    for url in assets:
        assert url.startswith("/docs/assets/"), url
        asset = await http.get(url)
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[Path(url).suffix]
        assert asset.headers["content-type"].split(";")[0] == expected, (url, asset.headers["content-type"])
        assert asset.headers["x-content-type-options"] == "nosniff"
    # The start-up script: the document's URL, and no badge from validator.swagger.io.
    init = (await http.get("/docs/assets/swagger-init.js")).text
    assert "validatorUrl: null" in init and 'data-openapi-url="/v1/openapi.json"' in r.text
    bundle = (await http.get("/docs/assets/swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in bundle
    # FastAPI's own CDN pages are off.
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert (await http.get(path)).status_code == 404, path
    assert (await http.get("/docs/assets/../../app.py")).status_code == 404


def test_every_problem_type_is_in_the_catalogue() -> None:
    constants = {v for k, v in vars(T).items() if k.isupper() and k != "BASE"}
    uris = [p.uri for p in CATALOGUE]
    assert len(uris) == len(set(uris))
    assert set(uris) == constants
    for p in CATALOGUE:
        assert p.uri.startswith("/problems/") and 400 <= p.status <= 599, p
        assert p.meaning.endswith(".") and p.remedy.endswith("."), p


def test_docs_problems_md_is_the_catalogue() -> None:
    """docs/problems.md is generated; regenerate it as its header says."""
    assert (ROOT / "docs" / "problems.md").read_text(encoding="utf-8") == markdown()


async def test_each_problem_type_url_resolves_to_its_entry(http: httpx.AsyncClient) -> None:
    index = await http.get("/problems")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    csp = _directives(index.headers["content-security-policy"])
    assert csp["default-src"] == {"'none'"} and "script-src" not in csp
    assert _page(index.text).inline == []
    for p in CATALOGUE:
        assert f'id="{p.slug}"' in index.text, p.slug
        entry = await http.get(p.uri)
        assert entry.status_code == 200 and f'id="{p.slug}"' in entry.text, p.uri
        assert "content-security-policy" in entry.headers
        assert f'href="/problems#{p.slug}"' in entry.text
    for url in _page(index.text).urls:
        assert not re.match(r"(https?:)?//", url), url
        if url.startswith("/"):
            assert (await http.get(url)).status_code == 200, url
    missing = await http.get("/problems/no-such-type")
    assert missing.status_code == 404 and missing.json()["type"] == T.NOT_FOUND


async def test_a_problem_answer_links_its_documentation(http: httpx.AsyncClient) -> None:
    """The `type` of a real answer, resolved against the request (RFC 9457 §3.1.1), is a page
    of this server about that type."""
    r = await http.get("/v1/tenants")
    body: dict[str, Any] = r.json()
    assert r.status_code == 401 and body["type"] == T.UNAUTHENTICATED
    doc = await http.get(urljoin(str(r.url), body["type"]))
    assert doc.status_code == 200 and "Authentication required" in doc.text
