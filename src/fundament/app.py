"""The composition root: builds the ASGI app from settings and installs each module.

Modules plug in through one ``install(app)`` each; cross-cutting behaviour attaches to
the kernel's request/transaction lifecycle here, never inside routes. What the modules
built is gathered in one typed :class:`Services` on the app; each module reads it through
its own port (``Needs``), which mypy checks against :class:`Services` here.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.engine import make_url

from fundament import (
    __version__,
    audit,
    cells,
    events,
    gateway,
    identity,
    jobs,
    limits,
    metering,
    ops,
    platform,
    privacy,
    records,
    tenancy,
)
from fundament.apidocs import install_docs
from fundament.console import install_console
from fundament.migrations import current_head, default_app_password, known_revisions
from fundament.platform import (
    EXCEPTION_HANDLERS,
    Cells,
    CorsPolicy,
    Database,
    EdgeMiddleware,
    Routes,
    Settings,
    parse_origin_list,
    problem_components,
    shape_components,
)

log = logging.getLogger("fundament")

APP_ROLE = "fundament_app"
OPENAPI_URL = "/v1/openapi.json"

DESCRIPTION = """\
Fundament serves a tenant's collections as a versioned REST API with hard tenant
isolation (PostgreSQL row-level security), role-scoped API keys and RFC 9457 errors.

Conventions: JSON in and out; errors are `application/problem+json`. Authenticate with
`Authorization: Bearer <key>`. Unknown keys get 401, too small a role 403, and another
tenant's resources 404 (never 403). Lists take `limit` (1–200, default 50) and an opaque
`cursor`, and answer `{"items": [...], "next_cursor": ...}`; a cursor is valid only on the
list (and sort) that issued it. Unknown query parameters and body fields are refused. Bodies
must be I-JSON (RFC 7493: UTF-8, no duplicate keys, no lone surrogates) nested at most 64
levels deep, else 400 `invalid-json`. Times are RFC 3339 with an offset. Every response
carries `X-Request-Id`.

Browsers: a tenant's admin lists the web origins that may call the tenant's paths
(`PUT /v1/tenants/{tenant}/cors`); preflights (`OPTIONS`) need no key, and answers never
say `Access-Control-Allow-Origin: *` nor allow credentials. `OPTIONS` on any path answers
204 with `Allow`.
"""


def app_dsn(settings: Settings, admin_dsn: str) -> str:
    """The DSN of the unprivileged request-path role: ``FUNDAMENT_APP_DATABASE_URL``, else the
    admin DSN as ``fundament_app`` with ``FUNDAMENT_APP_DB_PASSWORD`` or the password
    migrations derive from the admin password."""
    if settings.app_database_url is not None:
        return settings.app_database_url.get_secret_value()
    return _as_app_role(settings, admin_dsn)


def replica_app_dsn(settings: Settings, replica_dsn: str) -> str:
    """The request role's DSN of a replica (``FUNDAMENT_REPLICA_URLS`` names each as the
    admin DSN is named) or of an added cell's primary: as it is if it names
    ``fundament_app``, else derived as :func:`app_dsn` derives the primary's. A replica has
    the primary's roles and passwords."""
    if make_url(replica_dsn).username == APP_ROLE:
        return replica_dsn
    return _as_app_role(settings, replica_dsn)


def _as_app_role(settings: Settings, admin_dsn: str) -> str:
    url = make_url(admin_dsn).set(username=APP_ROLE)
    if settings.app_db_password is not None:
        password: str | None = settings.app_db_password.get_secret_value()
    else:
        password = default_app_password(admin_dsn)
    url = url.set(password=password)
    return url.render_as_string(hide_password=False)


@dataclass(slots=True)
class Services:
    """Everything built at start that routes and the lifespan use: the one place they
    are reached from (``platform.services(request)``), each module through its port."""

    settings: Settings
    db: Database
    cells: Cells
    placement: tenancy.Placement
    authenticator: identity.KeyAuthenticator
    admission: limits.RateLimiter
    records: records.RecordsState
    plans: tenancy.Catalogue
    default_region: str
    audit_sealer: audit.Sealer
    meter: metering.UsageMeter | None
    cost_model: metering.CostModel
    privacy_secret: bytes
    metrics: Callable[[], Awaitable[tuple[bytes, str]]] | None
    job_worker: jobs.Worker
    events: events.Events
    expected_migration: str
    known_migrations: frozenset[str]
    #: The strangler-fig gateway in front of this app, when FUNDAMENT_GATEWAY_CONFIG is set.
    gateway: gateway.Gateway | None = None
    #: Set on the first SIGTERM/SIGINT and at shutdown: /readyz answers 503 from then on.
    shutting_down: bool = False


if TYPE_CHECKING:

    def _ports(
        s: Services,
    ) -> tuple[
        platform.Needs,
        tenancy.Needs,
        cells.Needs,
        records.Needs,
        audit.Needs,
        privacy.Needs,
        metering.Needs,
        ops.Needs,
        events.Needs,
        gateway.Needs,
    ]:
        """Never run: mypy proves here that the one services object is every module's port."""
        return s, s, s, s, s, s, s, s, s, s


class FundamentApp(FastAPI):
    """FastAPI with our edge and router in front of its own middleware stack.

    FastAPI holds the declarations (and generates the document from them); requests go
    through :class:`EdgeMiddleware` and :class:`Routes`, which serve every declared route
    through a handler compiled from it, so no request pays for FastAPI's layers.
    """

    front: Any = None
    services: Services

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["app"] = self
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def _framework(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)


_GC_YOUNG_THRESHOLD = 7000


def create_app(settings: Settings | None = None, *, admin_dsn: str | None = None) -> FundamentApp:
    """Build the app. ``admin_dsn`` defaults to ``settings.database_url``."""
    settings = settings or Settings()
    if admin_dsn is None:
        if settings.database_url is None:
            raise RuntimeError(
                "No database: set FUNDAMENT_DATABASE_URL or start with `fundament serve`, "
                "which starts the embedded PostgreSQL."
            )
        admin_dsn = settings.database_url.get_secret_value()
    db = Database(
        app_dsn(settings, admin_dsn),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        statement_timeout_ms=settings.statement_timeout_ms,
        idle_in_transaction_timeout_ms=settings.idle_in_transaction_timeout_ms,
        max_idle_seconds=settings.pool_max_idle_seconds,
        statement_cache_size=settings.db_statement_cache_size,
        listen_dsn=settings.listen_database_url.get_secret_value() if settings.listen_database_url else None,
        replica_dsns=[replica_app_dsn(settings, dsn) for dsn in settings.replica_dsns()],
        replica_max_lag_seconds=settings.replica_max_lag_seconds,
        replica_poll_seconds=settings.replica_poll_seconds,
    )
    # The control database is the first cell; the others are read from its cells table.
    cell_router = Cells(
        db,
        region=settings.default_region,
        locate=tenancy.cell_of_tenant,
        ttl_seconds=settings.key_cache_ttl_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open()
        await cell_router.open()
        _not_ready_on_signal(services, settings.shutdown_delay_seconds)
        if meter is not None:
            meter.start()
        limiter.start()
        # Everything allocated so far (modules, routes, schemas) lives as long as the
        # process: keep it out of the cyclic GC's full collections.
        gc.freeze()
        # A request allocates a few hundred containers and leaves no cycles: at Python's
        # default (700) a young collection, and every tenth an older one of ~1 ms, falls
        # on about one request in a hundred, i.e. on the p99. Ten times the threshold moves
        # them past it (the gateway's p99 at 400 req/s: 3.1-3.4 -> 2.6 ms, docs/benchmarks.md).
        gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        stop_worker = jobs.start_in_background(services.job_worker) if settings.worker else None
        change_events.start(deliver=settings.worker and settings.webhook_delivery)
        if services.gateway is not None:
            services.gateway.start()
        try:
            yield
        finally:
            # The server has drained in-flight requests by now (bounded by its graceful
            # shutdown timeout); what is left is buffered state, written in order.
            services.shutting_down = True
            if stop_worker is not None:
                await _bounded("job worker", stop_worker())
            if services.gateway is not None:
                await _bounded("gateway", services.gateway.close())
            await _bounded("events", change_events.close())
            await _bounded("audit sealer", sealer.close())
            if meter is not None:
                await _bounded("usage flush", meter.close())
            await _bounded("rate-limit sync", limiter.close())
            if not await _bounded("cells' database pools", cell_router.close()):
                cell_router.terminate()
            if not await _bounded("database pool", db.close()):
                db.terminate()
            ops.flush_traces()
            ops.flush_access_log()

    app = FundamentApp(
        title="Fundament API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: ours serve every file.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    install_docs(app, openapi_url=OPENAPI_URL)
    install_console(app)
    tenants = tenancy.TenantCache(db, ttl_seconds=settings.key_cache_ttl_seconds)
    authenticator = identity.KeyAuthenticator(
        db,
        tenants=tenants,
        ttl_seconds=settings.key_cache_ttl_seconds,
        throttle=identity.FailureThrottle(
            per_address=settings.auth_address_failures_per_minute,
            per_key_id=settings.auth_key_id_failures_per_minute,
            cooldown_seconds=settings.auth_failure_cooldown_seconds,
            bad_key_seconds=settings.key_cache_ttl_seconds,
        ),
    )
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    ops.install(app, metrics_token=metrics_token)
    catalogue = tenancy.load_plans(settings.plans, default_plan=settings.default_plan)
    tenancy.install(app)
    cells.install(app)
    gateway.install(app)
    identity.install(app)
    records_state = records.install(
        app,
        db=db,
        scan_share=settings.tenant_scan_share,
        collection_cache_ttl_seconds=settings.collection_cache_ttl_seconds,
    )
    master = settings.master_key_bytes()
    sealer = audit.install(app, db=db, master=master, enabled=settings.audit)
    privacy.install(app, db=db)
    change_events = events.install(
        app, db=db, settings=settings, master=master, plans=tenancy.PlanLookup(tenants, catalogue)
    )
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    # After audit: the quota guard counts the audit bytes each write adds.
    limiter = limits.install(
        app,
        db=db,
        tenants=tenants,
        catalogue=catalogue,
        redis_url=redis_url,
        count_open_privacy_jobs=privacy.count_open_requests,
        count_webhooks=events.count_webhooks,
        quota_refresh_seconds=settings.quota_refresh_seconds,
    )
    meter = (
        metering.UsageMeter(
            db, flush_seconds=settings.usage_flush_seconds, storage_seconds=settings.storage_measure_seconds
        )
        if settings.metering
        else None
    )
    cost_model = metering.install(app, db=db, cost_model=settings.cost_model)
    job_worker = jobs.Worker(
        db,
        {**privacy.handlers(master), cells.MOVE_JOB: cells.Mover(admin_dsn, cell_router).handler()},
        lease=timedelta(seconds=settings.job_lease_seconds),
        max_attempts=settings.job_max_attempts,
        poll_seconds=settings.job_poll_seconds,
        share=settings.worker_share,
    )

    # Everything that watches requests hooks in here, once, as an observer of the edge.
    observers: list[Any] = []
    if meter is not None:
        observers.append(meter.observe)
    metrics = None
    if settings.metrics:
        observers.append(ops.RequestMetrics().observe)
        db.timing.append(ops.observe_db)
        if db.replicas is not None:
            db.replicas.observers.append(ops.observe_replicas)
        metrics = ops.exposition(_probes(db, meter))
    if settings.access_log:
        observers.append(ops.log_request)
    provider = (
        ops.enable_tracing(settings.otlp_endpoint, service_version=__version__)
        if settings.otlp_endpoint
        else None
    )
    if provider is not None:
        db.wrap_connection = ops.connection_wrapper(provider)
    services = Services(
        settings=settings,
        db=db,
        cells=cell_router,
        placement=cells.Placement(cell_router),
        authenticator=authenticator,
        admission=limiter,
        records=records_state,
        plans=catalogue,
        default_region=settings.default_region,
        audit_sealer=sealer,
        meter=meter,
        cost_model=cost_model,
        privacy_secret=master,
        metrics=metrics,
        job_worker=job_worker,
        events=change_events,
        expected_migration=current_head(),
        known_migrations=known_revisions(),
    )
    app.services = services

    # Every declared route is served by the one compiled mechanism; FastAPI's own stack
    # keeps the lifespan and the docs' static files.
    routes = Routes(app.routes, framework=app._framework)
    app.front = EdgeMiddleware(
        routes,
        methods=routes.methods,
        max_body_bytes=settings.max_body_bytes,
        request_timeout=settings.request_timeout_seconds,
        observers=observers,
        trace_id=ops.current_trace_id if provider is not None else None,
        cors=CorsPolicy(tenants, operator_origins=parse_origin_list(settings.cors_operator_origins)),
    )
    if provider is not None:
        app.front = ops.TracingMiddleware(app.front, provider, sample_ratio=settings.trace_sample_ratio)
    if settings.gateway_config is not None:
        # In front of everything: what goes to legacy pays for none of Fundament's layers.
        services.gateway = gateway.from_file(settings.gateway_config, inner=app.front)
        app.front = services.gateway
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _bounded(step: str, work: Any, seconds: float = 15.0) -> bool:
    """One step of shutdown, bounded: a stuck step is logged (with what is still running)
    and skipped, so the process still exits and the remaining steps still run."""
    try:
        await asyncio.wait_for(work, seconds)
        return True
    except TimeoutError:
        pending = [
            f"{t.get_name()}: {t.get_coro()!r}"
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task()
        ]
        log.warning("shutdown: %s did not finish within %.0f s; running tasks: %s", step, seconds, pending)
        return False


def _probes(db: Database, meter: metering.UsageMeter | None) -> list[Any]:
    """Gauges read when /metrics is scraped."""

    async def pool() -> None:
        ops.POOL.labels("in_use").set(db.pool.get_size() - db.pool.get_idle_size())
        ops.POOL.labels("idle").set(db.pool.get_idle_size())

    async def queue() -> None:
        ops.QUEUE.set(await jobs.queue_depth(db))

    async def usage() -> None:
        ops.USAGE_BUFFER.set(meter.buffered if meter is not None else 0)

    return [pool, queue, usage]


def _not_ready_on_signal(services: Services, delay: float) -> None:
    """On SIGTERM/SIGINT, turn /readyz to 503 at once; after ``delay`` let the server drain.

    uvicorn installs its own handlers before the lifespan starts; ours runs first. While
    the delay runs we keep serving, so a load balancer that polls /readyz stops sending
    before the listener closes (a closed listener resets queued connections). Then
    uvicorn stops accepting and lets in-flight requests finish. A second signal skips
    the wait.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            if services.shutting_down or delay <= 0:
                previous(signum, frame)
            else:
                services.shutting_down = True
                loop.call_soon_threadsafe(loop.call_later, delay, previous, signum, frame)

        signal.signal(sig, handler)


# --- OpenAPI ------------------------------------------------------------------------------

_COMMON = {
    400: "Malformed request: a body that is not I-JSON (`invalid-json`: malformed, not UTF-8, a "
    "duplicate key, a lone surrogate, nested deeper than 64 levels), an unknown or invalid query "
    "parameter (`bad-request`), a bad filter (`invalid-filter`) or cursor (`invalid-cursor`).",
    401: "Missing, unknown, expired or revoked API key.",
    403: "The key's role is too small, or its tenant is suspended.",
    404: "No such resource in this tenant (also for other tenants' resources).",
    405: "Method not allowed on this path.",
    413: "Body larger than the configured limit.",
    429: "Rate limit of the tenant's plan reached (`…/rate-limited`, with `RateLimit-*` headers), or "
    "too many failed authentications from this address or with this key's id "
    "(`…/authentication-throttled`); see `Retry-After`.",
    415: "Body is not JSON.",
    422: "Body failed validation; `errors` lists each problem.",
    503: "Database unavailable or overloaded; retry after `Retry-After` seconds.",
}
_PUBLIC_PATHS = {"/healthz", "/readyz"}
_LSN_PATTERN = "[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}"
_CONSISTENCY_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9A-F]{1,8}/[0-9A-F]{1,8}$"}
_CONSISTENCY_OUT: dict[str, Any] = {
    "schema": _CONSISTENCY_SCHEMA,
    "description": "Where this write committed. Send it back as `Fundament-Consistency` on "
    "later reads to read your writes (a replica serves them only once it has replayed this).",
}
_CONSISTENCY_IN: dict[str, Any] = {
    "name": "Fundament-Consistency",
    "in": "header",
    "required": False,
    "description": "The last `Fundament-Consistency` a write answered (several, comma-separated: "
    "the latest counts; empty: none yet): the read then sees that write. Malformed: 400 "
    "`invalid-consistency-token`.",
    "schema": {"type": "string", "pattern": f"^[ \t]*({_LSN_PATTERN}([ \t]*,[ \t]*{_LSN_PATTERN})*)?[ \t]*$"},
}


def _openapi(app: FundamentApp) -> dict[str, Any]:
    """Generate once, then make every error response a documented problem document."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    shapes = shape_components()
    clash = sorted(shapes.keys() & components.get("schemas", {}).keys())
    if clash:
        raise TypeError(f"a response shape and a request model share a name: {clash}")
    # By name, as FastAPI orders the request models' schemas.
    components["schemas"] = dict(sorted({**components.get("schemas", {}), **shapes}.items()))
    components["schemas"].update(problem_components("#/components/schemas/{name}"))
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Operator or tenant key."}
    }
    problem_content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            if path not in _PUBLIC_PATHS:
                op["security"] = [{"bearer": []}]
                for code, text in _COMMON.items():
                    responses.setdefault(str(code), {"description": text})
            for code, resp in responses.items():
                if code.isdigit() and int(code) >= 400:
                    resp["content"] = problem_content
                if code in ("204", "304"):
                    resp.pop("content", None)
            # Declared response headers, so clients and schemathesis know them.
            for code, resp in responses.items():
                if (code in ("200", "201") and "/records" in path and method != "get") or (
                    code == "200" and path.endswith("{record_id}") and method == "get"
                ):
                    resp.setdefault("headers", {})["ETag"] = {
                        "schema": {"type": "string"},
                        "description": "The record's version.",
                    }
                if method != "get" and code.startswith("2") and path not in _PUBLIC_PATHS:
                    resp.setdefault("headers", {})["Fundament-Consistency"] = _CONSISTENCY_OUT
            if method == "get" and path not in _PUBLIC_PATHS:
                op.setdefault("parameters", []).append(_CONSISTENCY_IN)
    # Values only known once the app has loaded its configuration (the plan catalogue).
    _fill_enums(schema, {"plans": sorted(app.services.plans)})
    app.openapi_schema = schema
    return schema


def _fill_enums(node: Any, values: dict[str, list[str]]) -> None:
    """Give every schema marked ``x-fundament-enum: NAME`` the ``enum`` ``values[NAME]``."""
    if isinstance(node, dict):
        name = node.pop("x-fundament-enum", None)
        if name is not None:
            node["enum"] = values[name]
        for child in node.values():
            _fill_enums(child, values)
    elif isinstance(node, list):
        for child in node:
            _fill_enums(child, values)
