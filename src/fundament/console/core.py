"""The console's machinery: session, CSRF, security headers, in-process API calls, rendering.

Pages are written against :class:`Console` (one per request) and registered on a
:class:`Pages`; see the package docstring for the recipe.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, quote, urlencode

import httpx
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundament.platform import Authenticator, Principal, b64, open_sealed, seal, services, unb64

COOKIE = "fundament_console"
#: A session lasts this long from sign-in, whatever happens in between: the cookie holds the
#: key, so a copied cookie must stop working on its own (sign-out only forgets it here).
SESSION_SECONDS = 8 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
#: Pages and assets come from this server only. No inline script or style: htmx's own
#: indicator style is switched off (layout.html's htmx-config), and charts draw with SVG
#: attributes and classes, never ``style=``. ``form-action 'self'``: a form cannot post a
#: key or a CSRF token elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: A form body is a few fields; a schema or a record is the largest thing a page posts.
MAX_FORM_BYTES = 256 * 1024

Area = Literal["public", "tenant", "operator"]

#: What a redirect may ask the next page to say (``?notice=CODE``): codes, not text, so a
#: link cannot put words of its own on a console page. Pages add theirs.
NOTICES: dict[str, str] = {
    "signed-out": "Signed out.",
    "session-ended": "Your session ended or its key no longer works: sign in again.",
    "sign-in": "Sign in to see that page.",
}


class Needs(Protocol):
    """What the console reads from the services object."""

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def privacy_secret(self) -> bytes: ...


# --- session ------------------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """What the cookie carries, sealed (AES-256-GCM under a key derived from the master key):
    the browser holds only ciphertext it can neither read nor forge."""

    csrf: str
    key: str | None = None
    kind: str | None = None
    role: str | None = None
    tenant_id: str | None = None
    key_id: str | None = None
    expires: int = 0
    #: The last write's Fundament-Consistency, so the page after a redirect reads that write.
    consistency: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.key is not None

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    @classmethod
    def anonymous(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), expires=int(time.time()) + SESSION_SECONDS)

    @classmethod
    def for_principal(cls, key: str, principal: Principal) -> Session:
        return cls(
            csrf=secrets.token_urlsafe(32),
            key=key,
            kind=principal.kind,
            role=principal.role,
            tenant_id=principal.tenant_id,
            key_id=principal.key_id,
            expires=int(time.time()) + SESSION_SECONDS,
        )


def _session_key(master: bytes) -> bytes:
    # Its own key, so a console cookie can never be mistaken for any other sealed value.
    return hmac.new(master, b"fundament console session v1", hashlib.sha256).digest()


_AAD = b"console-session"


def seal_session(master: bytes, session: Session) -> str:
    payload = json.dumps({f: getattr(session, f) for f in Session.__slots__}, separators=(",", ":"))
    return b64(seal(_session_key(master), payload.encode(), aad=_AAD)).rstrip("=")


def open_session(master: bytes, cookie: str | None) -> Session | None:
    """The cookie's session; None when absent, tampered with, sealed under another master
    key, or expired."""
    if not cookie or len(cookie) > 4096:
        return None
    try:
        raw = open_sealed(_session_key(master), unb64(cookie + "=" * (-len(cookie) % 4)), aad=_AAD)
        session = Session(**json.loads(raw))
    except Exception:  # any failure to open is "no session"
        return None
    if session.expires < time.time():
        return None
    return session


def cookie_header(base: str, value: str | None) -> str:
    """``Set-Cookie`` for the session: HttpOnly (no script reads it), Secure (browsers accept
    Secure cookies from http://localhost and 127.0.0.1, which count as secure contexts),
    SameSite=Strict (no other site's page can make the browser send it), scoped to the
    console's path. ``None`` deletes it."""
    path = base or "/"
    if value is None:
        return f"{COOKIE}=; Path={path}; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    return f"{COOKIE}={value}; Path={path}; Max-Age={SESSION_SECONDS}; HttpOnly; Secure; SameSite=Strict"


# --- the API, in process ------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    """One API answer: status, parsed body (JSON, or None), headers."""

    status: int
    body: Any
    headers: httpx.Headers
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> dict[str, Any] | None:
        """The RFC 9457 problem document of a failed call."""
        if self.ok:
            return None
        if isinstance(self.body, dict) and "status" in self.body:
            return self.body
        return {"title": "Error", "status": self.status, "detail": f"The API answered {self.status}."}

    def field_errors(self, fields: Mapping[str, str]) -> dict[str, list[str]]:
        """The problem's ``errors`` by form field: ``fields`` maps a JSON Pointer prefix of the
        request body (``/schema``) or a query parameter (``query.filter``) to a field name.
        What matches no field is under ``""`` (shown at the top of the form)."""
        out: dict[str, list[str]] = {}
        problem = self.problem
        if problem is None:
            return out
        for error in problem.get("errors") or ():
            path = str(error.get("path", ""))
            message = str(error.get("message", ""))
            name, where = "", path if path not in ("", "/") else ""
            for prefix, field_name in fields.items():
                if path == prefix or path.startswith(prefix + "/"):
                    # Within the field, say where (a schema's /properties/seats/type).
                    name, where = field_name, path[len(prefix) :]
                    break
            out.setdefault(name, []).append(f"{where}: {message}" if where else message)
        return out


class PageError(Exception):
    """Stops a page with an error page of ``status`` showing ``problem``."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(problem.get("detail"))
        self.status = status
        self.problem = dict(problem)


class SignInAgain(Exception):
    """The session's key no longer authenticates (revoked, expired, tenant gone)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Api:
    """The v1 API called in process with the session's key: the same routes, authorization,
    tenant isolation, validation and problem documents as any client gets, nothing written
    twice. Each call goes through the app's edge as its own request (metered, logged, with
    the console request's id)."""

    def __init__(self, request: Request, session: Session) -> None:
        self._request = request
        self._session = session
        self._client: httpx.AsyncClient | None = None
        #: Set by a write; the console sends it on later reads (read-your-writes on replicas).
        self.consistency: str | None = session.consistency

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        if self._session.key is None:
            raise SignInAgain("Sign in first.")
        if self._client is None:
            client = self._request.client
            transport = httpx.ASGITransport(
                app=self._request.scope["app"],
                client=(client.host, client.port) if client is not None else ("127.0.0.1", 0),
            )
            self._client = httpx.AsyncClient(transport=transport, base_url="http://console.internal")
        sent = {**(headers or {}), "Authorization": f"Bearer {self._session.key}"}
        request_id = self._request.scope.get("state", {}).get("request_id")
        if request_id:
            sent["X-Request-Id"] = request_id
        if self.consistency and method == "GET":
            sent["Fundament-Consistency"] = self.consistency
        content = None
        if json_body is not None:
            content = json.dumps(json_body).encode()
            sent["Content-Type"] = content_type
        response = await self._client.request(
            method, path, params={k: v for k, v in (params or {}).items() if v != ""}, content=content,
            headers=sent,
        )
        token = response.headers.get("fundament-consistency")
        if token and method != "GET":
            self.consistency = token
        body: Any = None
        if response.content and "json" in response.headers.get("content-type", ""):
            try:
                body = response.json()
            except ValueError:
                body = None
        answer = Answer(response.status_code, body, response.headers, response.content)
        if answer.status == 401:
            problem = answer.problem or {}
            raise SignInAgain(str(problem.get("detail", "Sign in again.")))
        return answer

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET what the page cannot do without: its body, or the API's problem as the page."""
        answer = await self.call("GET", path, params=params)
        if not answer.ok:
            raise PageError(answer.status, answer.problem or {})
        return answer.body

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


# --- rendering ----------------------------------------------------------------------------

templates = Environment(
    loader=PackageLoader("fundament.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _at(value: Any) -> Markup:
    """An RFC 3339 time as ``<time>``: read to the second (UTC), exact in its attribute."""
    if not value:
        return Markup("")
    text = str(value)
    shown = text[:19].replace("T", " ") + (" UTC" if text.endswith(("Z", "+00:00")) else "")
    # An f-string of escaped parts rather than Markup.format, which costs ~30 µs a call (a
    # page of 50 rows has 100 of these).
    return Markup(f'<time datetime="{escape(text)}">{escape(shown)}</time>')  # noqa: S704 (escaped parts)


templates.filters["at"] = _at


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the layout's navigation. ``path`` is relative to the console (operator
    area) or to the tenant's pages (``/t/{tenant}``, tenant area)."""

    label: str
    path: str
    area: Area


@dataclass(slots=True)
class Console:
    """One console request, handed to every page."""

    request: Request
    session: Session
    api: Api
    nav: list[NavItem]
    #: Where the console is mounted (``/console``, behind any proxy prefix).
    base: str
    #: The session to send back, if the page changed it (sign-in, sign-out).
    new_session: Session | Literal[False] | None = False
    _form: dict[str, str] | None = field(default=None)

    def param(self, name: str) -> str:
        """A path parameter, percent-encoded again: safe to put in an API or console path
        (Starlette decodes ``%2F``, ``%3F`` and ``%00``, which would change or break it)."""
        return quote(str(self.request.path_params[name]), safe="")

    @property
    def tenant(self) -> str:
        """The ``{tenant}`` of the path; the API decides whether the key may see it."""
        return self.param("tenant")

    def url(self, path: str, **query: str) -> str:
        """A console URL (``path`` relative to the console), with the query's non-empty values."""
        q = urlencode({k: v for k, v in query.items() if v})
        return self.base + path + (f"?{q}" if q else "")

    def tenant_url(self, path: str = "/", **query: str) -> str:
        return self.url(f"/t/{self.tenant}{path}", **query)

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    async def form(self) -> dict[str, str]:
        """The posted form (``application/x-www-form-urlencoded``); the CSRF field is checked
        before the page runs."""
        if self._form is None:
            self._form = await read_form(self.request)
        return self._form

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        s = self.session
        # A tenant key's nav is its own tenant's, whatever the path asked for; an operator's
        # follows the tenant it is looking at.
        if s.is_operator:
            tenant = self.tenant if "tenant" in self.request.path_params else None
        else:
            tenant = s.tenant_id
        nav = []
        current = self.request.url.path
        for item in self.nav:
            if item.area == "operator" and not s.is_operator:
                continue
            if item.area == "tenant":
                if tenant is None:
                    continue
                href = self.url(f"/t/{tenant}{item.path}")
            else:
                href = self.url(item.path)
            # A section's link is current on its sub-pages too; the tenant's overview only on itself.
            section = len(href) > len(self.url(f"/t/{tenant}/"))
            here = current == href or (section and current.startswith(href))
            nav.append({"label": item.label, "href": href, "current": here, "area": item.area})
        page = templates.get_template(template).render(
            c=self,
            session=s,
            csrf=s.csrf,
            csrf_field=Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{s.csrf}">'),  # noqa: S704 (a urlsafe token)
            nav=nav,
            base=self.base,
            static=self.base + "/static",
            tenant=tenant,
            notice=NOTICES.get(self.query.get("notice", ""), ""),
            cookie_dropped=self.cookie_dropped,
            **context,
        )
        return HTMLResponse(page, status_code=status)

    @property
    def cookie_dropped(self) -> bool:
        """Plain http to anything but this machine: the browser drops the Secure session
        cookie (only http://localhost and 127.0.0.1 are secure contexts), so sign-in would
        seem to do nothing. The sign-in page says so instead."""
        url = self.request.url
        return url.scheme == "http" and (url.hostname or "") not in LOCAL_HOSTS

    def redirect(self, path: str, **query: str) -> RedirectResponse:
        """303 to a console page (POST → redirect → GET)."""
        return RedirectResponse(self.url(path, **query), status_code=303)


def page_problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "status": status, "detail": detail}


async def read_form(request: Request) -> dict[str, str]:
    # Hand-parsed rather than request.form(): Starlette's form parser needs python-multipart,
    # and the console posts only small url-encoded forms (no uploads).
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise PageError(415, page_problem(415, "Unsupported form", "Post the page's form."))
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise PageError(413, page_problem(413, "Form too large", "The form is too large."))
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, page_problem(400, "Bad form", "The form could not be read.")) from None
    return dict(pairs)


PageFn = Callable[[Console], Awaitable[Response]]


@dataclass(slots=True)
class _Declared:
    path: str
    fn: PageFn
    methods: tuple[str, ...]
    area: Area


class Pages:
    """A set of pages of one area, with their nav entries.

    ``area``: ``"public"`` needs no session; ``"tenant"`` needs one, and its paths start
    with ``/t/{tenant}``; ``"operator"`` needs an operator key's session (others get 404).
    """

    def __init__(self, area: Area) -> None:
        self.area: Area = area
        self.declared: list[_Declared] = []
        self.nav: list[NavItem] = []

    def page(
        self, path: str, *, methods: Iterable[str] = ("GET",), nav: str | None = None
    ) -> Callable[[PageFn], PageFn]:
        def register(fn: PageFn) -> PageFn:
            self.declared.append(_Declared(path, fn, tuple(methods), self.area))
            if nav is not None:
                rel = path.removeprefix("/t/{tenant}") if self.area == "tenant" else path
                self.nav.append(NavItem(nav, rel or "/", self.area))
            return fn

        return register


def _error_page(c: Console, status: int, problem: Mapping[str, Any]) -> Response:
    return c.render("error.html", status=status, title=problem.get("title") or "Error", problem=problem)


def build_routes(page_sets: Iterable[Pages], assets: BaseRoute) -> list[BaseRoute]:
    sets = list(page_sets)
    nav = [item for s in sets for item in s.nav]
    routes: list[BaseRoute] = [assets]
    for s in sets:
        for d in s.declared:
            routes.append(Route(d.path, _endpoint(d, nav), methods=list(d.methods)))
    # Last: any other path is the console's own 404 page (with its headers), not the API's
    # JSON problem.
    routes.append(Route("/{rest:path}", _endpoint(_Declared("", _not_found, ("GET",), "public"), nav)))
    return routes


async def _not_found(c: Console) -> Response:
    raise PageError(404, page_problem(404, "Not found", "No such page."))


def _endpoint(declared: _Declared, nav: list[NavItem]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        needs: Needs = services(request)
        master = needs.privacy_secret
        base = request.scope.get("root_path", "").rstrip("/")
        found = open_session(master, request.cookies.get(COOKIE))
        session = found or Session.anonymous()
        c = Console(request, session, Api(request, session), nav, base)
        if found is None:
            c.new_session = session
        try:
            response = await _run(declared, c)
        except SignInAgain:
            c.new_session = None
            response = c.redirect("/", notice="session-ended")
        except PageError as exc:
            response = _error_page(c, exc.status, exc.problem)
        finally:
            await c.api.close()
        if c.new_session is not False:
            value = None if c.new_session is None else seal_session(master, c.new_session)
            response.headers.append("set-cookie", cookie_header(base, value))
        elif c.api.consistency != session.consistency:
            session.consistency = c.api.consistency
            response.headers.append("set-cookie", cookie_header(base, seal_session(master, session)))
        return response

    return endpoint


async def _run(declared: _Declared, c: Console) -> Response:
    s = c.session
    if declared.area != "public" and not s.signed_in:
        if c.request.method == "GET":
            return c.redirect("/", next=c.request.url.path, notice="sign-in")
        raise SignInAgain("Sign in first.")
    if declared.area == "operator" and not s.is_operator:
        raise PageError(404, page_problem(404, "Not found", "No such page."))
    if c.request.method not in ("GET", "HEAD"):
        await _check_csrf(c)
    return await declared.fn(c)


async def _check_csrf(c: Console) -> None:
    """Every state-changing request carries the session's token (synchronizer token: the
    token is inside the sealed cookie, so another site can neither read nor set it)."""
    sent = c.request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = (await c.form()).get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent.encode(), c.session.csrf.encode()):
        raise PageError(
            403,
            {
                "type": "/problems/forbidden",
                "title": "Forbidden",
                "status": 403,
                "detail": "The form's CSRF token is missing or does not match this session; "
                "reload the page and try again.",
            },
        )


class SecurityHeaders:
    """Adds the console's security headers to every answer under it (pages, assets, errors),
    and keeps pages out of caches (they show one tenant's data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    is_asset = scope["path"].startswith(scope.get("root_path", "") + "/static/")
                    headers.append((b"cache-control", b"no-cache" if is_asset else b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except HTTPException as exc:
            # The router's own refusals (a method a page does not take, a static file's
            # wrong method): a small page with the headers, not the API's JSON problem.
            body = f"<!doctype html><title>{exc.status_code}</title><p>{html.escape(str(exc.detail))}</p>"
            refusal = HTMLResponse(body, status_code=exc.status_code, headers=dict(exc.headers or {}))
            await refusal(scope, receive, send_with_headers)

