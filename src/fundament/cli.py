"""The ``fundament`` command: serve, migrate, operator keys.

This is a composition root like :mod:`fundament.app`; it is also the one place that
starts the embedded PostgreSQL and hands its DSN to server workers through the
environment (uvicorn starts workers as fresh processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from fundament.platform import Settings

# What `fundament --help` says: for users, one paragraph a line (the help reflows them).
HELP = (
    "Fundament: a self-hostable multi-tenant backend. Collections as a versioned REST API, "
    "with hard tenant isolation, an audit trail, privacy requests and per-tenant cost.\n\n"
    "Start with `fundament serve` (an embedded PostgreSQL unless FUNDAMENT_DATABASE_URL is set), "
    "then `fundament operator-key create` for a key that manages tenants. Settings are "
    "FUNDAMENT_* environment variables (the README's Configuration table); the API docs are "
    "at /docs on the server."
)

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
operator_key = typer.Typer(no_args_is_help=True, help="Operator keys (act on every tenant).")
cli.add_typer(operator_key, name="operator-key")
audit_cli = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")
cli.add_typer(audit_cli, name="audit")
finops_cli = typer.Typer(no_args_is_help=True, help="What each tenant costs, earns and needs.")
cli.add_typer(finops_cli, name="finops")
bench_cli = typer.Typer(no_args_is_help=True, help="Measure this machine.")
cli.add_typer(bench_cli, name="bench")
cells_cli = typer.Typer(
    no_args_is_help=True, help="Cells: the PostgreSQL clusters tenants are placed on, by region."
)
cli.add_typer(cells_cli, name="cells")
tenants_cli = typer.Typer(no_args_is_help=True, help="Tenants: moving one to another cell of its region.")
cli.add_typer(tenants_cli, name="tenants")
gateway_cli = typer.Typer(
    invoke_without_command=True,
    help="The strangler-fig gateway in front of a legacy application (docs/gateway.md).",
)
cli.add_typer(gateway_cli, name="gateway")


def _print_version(value: bool) -> None:
    if value:
        from fundament import __version__

        typer.echo(f"fundament {__version__}")
        raise typer.Exit()


@cli.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


def _say(message: str) -> None:
    """A progress line for people: stderr, so stdout stays the command's answer."""
    typer.echo(f"fundament: {message}", err=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


#: The data directory's default before it became per-user: relative to the working
#: directory, so a command run elsewhere silently opened another database.
_LEGACY_DATA_DIR = Path(".fundament")


@contextlib.contextmanager
def admin_database(
    settings: Settings, *, migrate_now: bool | None = None, create: bool = False
) -> Iterator[str]:
    """Yield an admin DSN: the configured server, or the embedded one (started if needed).

    Says on stderr which database it is. Only ``create`` (serve, migrate) may make a new
    embedded database: any other command finding none says where it looked and exits 2,
    rather than answering from an empty database that is not the server's.
    """
    data_dir = settings.data_dir.resolve()
    _refuse_old_default(settings, data_dir)
    if settings.database_url is not None:
        from sqlalchemy.engine import make_url

        dsn = settings.database_url.get_secret_value()
        _say(f"database: {make_url(dsn).render_as_string(hide_password=True)} (FUNDAMENT_DATABASE_URL)")
        if migrate_now:
            _migrate(dsn, _app_password(settings))
            _migrate_cells(settings, dsn)
        yield dsn
        return
    from fundament.platform import EmbeddedPostgres, EmbeddedPostgresError

    explicit = "data_dir" in settings.model_fields_set
    if not create and not (data_dir / "pg" / "PG_VERSION").exists():
        raise _fail(
            f"no database in {data_dir} ("
            + ("FUNDAMENT_DATA_DIR" if explicit else "the default data directory")
            + "). Start `fundament serve` once to create it, or point FUNDAMENT_DATA_DIR at the "
            "server's data directory, or FUNDAMENT_DATABASE_URL at its PostgreSQL"
        )
    origin = "FUNDAMENT_DATA_DIR" if explicit else "default; FUNDAMENT_DATA_DIR picks another"
    _say(f"database: embedded PostgreSQL in {data_dir} ({origin})")
    try:
        with EmbeddedPostgres(
            data_dir / "pg",
            progress=_say,
            allow_home_traversal=settings.embedded_allow_home_traversal,
        ) as pg:
            should = migrate_now if migrate_now is not None else settings.auto_migrate is not False
            if should:
                _migrate(pg.dsn, _embedded_app_password(settings, pg.dsn))
                _migrate_cells(settings, pg.dsn)
            yield pg.dsn
    except EmbeddedPostgresError as exc:
        raise _fail(str(exc)) from None


def _refuse_old_default(settings: Settings, data_dir: Path) -> None:
    """Data left in ./.fundament, the default before it became per-user, is named with the
    two ways on, rather than a new database (or master key, which keys subject hashes)
    made elsewhere as if there had been none."""
    legacy = _LEGACY_DATA_DIR.resolve()
    if "data_dir" in settings.model_fields_set or legacy == data_dir:
        return
    wanted = [("pg/PG_VERSION", settings.embedded), ("master.key", settings.master_key is None)]
    if any(use and (legacy / f).exists() and not (data_dir / f).exists() for f, use in wanted):
        raise _fail(
            f"found Fundament's data in {legacy}, where earlier versions kept it by default; the "
            f"default is now {data_dir}, the same from every directory. Move it there (mkdir -p "
            f"{data_dir.parent} && mv {legacy} {data_dir}) or keep it where it is with "
            f"FUNDAMENT_DATA_DIR={legacy}"
        )


def _migrate(dsn: str, app_password: str | None) -> None:
    """Run the migrations, saying what they do: a first start creates every table."""
    from fundament.migrations import current_head, migrate, migration_state

    head, at = current_head(), migration_state(dsn)
    if at == head:
        _say(f"database schema is current (revision {head})")
    else:
        _say(f"migrating the database schema from {at or 'empty'} to revision {head}")
    started = time.monotonic()
    migrate(dsn, app_password=app_password)
    if at != head:
        _say(f"database schema migrated in {time.monotonic() - started:.1f} s")


def _migrate_cells(settings: Settings, control_dsn: str) -> None:
    """Migrate every cell added to the control database (``fundament cells add``), each as
    the control database was: a cell runs the same schema."""
    from fundament.cells import cell_dsns

    for name, dsn in asyncio.run(cell_dsns(control_dsn)):
        _say(f"cell {name}:")
        _migrate(dsn, _app_password(settings))


def _checked_settings() -> Settings:
    """The settings, checked before anything starts: a setting the server would refuse (a
    default plan the plans file lacks, a malformed value) is one clear line and exit 2, not
    a traceback from every worker process."""
    from pydantic import ValidationError

    from fundament.gateway import ConfigError, load_config
    from fundament.tenancy import PlansError, load_plans

    try:
        settings = Settings()
        load_plans(settings.plans, default_plan=settings.default_plan)
        if settings.gateway_config is not None:
            load_config(settings.gateway_config)
    except ConfigError as exc:
        typer.echo(f"error: FUNDAMENT_GATEWAY_CONFIG: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"FUNDAMENT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(2) from None
    except PlansError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings


def _log_config(level: str) -> dict[str, Any]:
    """JSON lines on stderr for every logger, applied by uvicorn in each worker process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "fundament.ops.JSONFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Our access log (one line per request, with tenant and route) replaces uvicorn's.
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _app_password(settings: Settings) -> str | None:
    return settings.app_db_password.get_secret_value() if settings.app_db_password else None


def _embedded_app_password(settings: Settings, admin_dsn: str) -> str | None:
    """The password the server will connect with as ``fundament_app``, for migrations to set.

    Only for the embedded server, which is all ours: if its superuser password was renewed,
    the derived one changes too. An external server's role keeps a password set otherwise.
    """
    from sqlalchemy.engine import make_url

    from fundament.app import app_dsn

    password = make_url(app_dsn(settings, admin_dsn)).password
    return None if password is None else str(password)


@cli.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind.", show_default="FUNDAMENT_HOST, else 127.0.0.1"),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port.", show_default="FUNDAMENT_PORT, else 8000")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes.", show_default="FUNDAMENT_WORKERS, else 1")
    ] = None,
) -> None:
    """Run the API server (and, without FUNDAMENT_DATABASE_URL, an embedded PostgreSQL)."""
    import uvicorn

    from fundament import serving

    settings = _checked_settings()
    host = host if host is not None else settings.host
    n = workers or settings.workers
    # Bound before anything starts or is announced: a port in use is one clear line,
    # not a database started, a "serving" line and a traceback.
    sock = _listen(host, port if port is not None else settings.port)
    migrate_now = settings.auto_migrate if settings.auto_migrate is not None else settings.embedded
    _check_connection_budget(settings, n)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT and then re-raises the signal
    # with the handlers it found installed. Ours turns that into a clean exit, so the
    # embedded database is stopped and the exit status is 0 (what orchestrators expect).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    if n == 1:
        # A closed terminal (SIGHUP) stops the server as SIGTERM does, final flush included,
        # rather than killing it on the spot. (With workers, uvicorn's SIGHUP restarts them.)
        signal.signal(signal.SIGHUP, lambda signum, frame: signal.raise_signal(signal.SIGTERM))
    with sock, admin_database(settings, migrate_now=migrate_now, create=True) as dsn:
        # Workers are new processes: they read the DSN of this embedded server from here.
        os.environ["FUNDAMENT_DATABASE_URL"] = dsn
        if n > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several processes: each writes its metric samples to files there, and
            # whichever answers /metrics adds them up.
            metrics_dir = settings.data_dir.resolve() / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        bound_host, bound_port = sock.getsockname()[:2]
        address = f"[{bound_host}]" if ":" in bound_host else bound_host
        config = uvicorn.Config(
            "fundament.app:create_app",
            factory=True,
            host=bound_host,
            port=bound_port,
            workers=n,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level,
            log_config=_log_config(settings.log_level),
            access_log=False,
            # uvicorn's own X-Forwarded-For handling, from the listed proxies only: anyone
            # else could name any address and dodge the per-address auth throttle.
            proxy_headers=settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=settings.forwarded_allow_ips or "",
            timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_seconds)),
            # uvicorn's 5 s would close the connection of every user who pauses longer, and
            # race a load balancer reusing an idle connection (its idle timeout is shorter).
            timeout_keep_alive=settings.keepalive_seconds,
        )
        announce = (
            f"Fundament serving on http://{address}:{bound_port} ({n} worker{'s' if n > 1 else ''});"
            " API docs at /docs; Ctrl-C stops it"
        )
        if n > 1:
            typer.echo(announce, err=True)
            serving.Workers(config, sockets=[sock]).run()
        else:
            serving.Server(config, announce=announce).run(sockets=[sock])


def _check_connection_budget(settings: Settings, workers: int) -> None:
    """Warn when this instance could open more than its share of the stated budget: every
    instance at its pool's maximum would exceed PostgreSQL's max_connections, and requests
    would fail with "too many clients" exactly when the load is highest."""
    budget = settings.db_connection_budget
    if budget is None:
        return
    # Each worker process: its pool, plus the connection that listens for invalidations.
    per_instance = workers * (settings.pool_max_size + 1)
    share = budget // settings.instances
    if per_instance > share:
        fitting = max(0, share // workers - 1)
        _say(
            f"warning: this instance may open {per_instance} database connections ({workers} "
            f"worker{'s' if workers > 1 else ''} × (FUNDAMENT_POOL_MAX_SIZE {settings.pool_max_size} + 1)), "
            f"more than its share {share} of FUNDAMENT_DB_CONNECTION_BUDGET {budget} over "
            f"FUNDAMENT_INSTANCES {settings.instances}: {settings.instances * per_instance} in all. "
            f"Lower FUNDAMENT_POOL_MAX_SIZE to {fitting} or put PgBouncer in front"
        )


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn is handed (as it does for its own workers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # SO_REUSEADDR, as uvicorn sets it: a restart need not wait out TIME_WAIT.
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        # create_server re-raises bind's error with the address repeated in strerror: the
        # original's text is enough (a name that does not resolve: the resolver's text).
        cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc
        gai = isinstance(cause, socket.gaierror)
        reason = cause.strerror if gai or not cause.errno else os.strerror(cause.errno)
        raise _fail(
            f"cannot listen on {host}:{port}: {reason}. Pick another port with --port or "
            "FUNDAMENT_PORT (another interface with --host or FUNDAMENT_HOST)",
            1,
        ) from None


@cli.command()
def worker() -> None:
    """Run the background job worker (exports, erasures, retention) until SIGTERM or Ctrl-C."""
    import uvloop

    from fundament.app import create_app

    settings = _checked_settings()

    async def run(dsn: str) -> None:
        # The app's lifespan runs the job worker in the background and stops it on exit.
        app = create_app(settings.model_copy(update={"worker": True}), admin_dsn=dsn)
        received: list[signal.Signals] = []
        stop = asyncio.Event()

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            stop.set()

        async with app.router.lifespan_context(app):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal, sig)
            _say(f"worker started (pid {os.getpid()}): running background jobs; SIGTERM or Ctrl-C stops it")
            await stop.wait()
            _say(f"worker stopping ({received[0].name})")
        _say("worker stopped")

    # Until the loop's own handlers are in place (while the database starts): a clean exit.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    with admin_database(settings) as dsn:
        uvloop.run(run(dsn))


@cli.command(name="migrate")
def migrate_cmd() -> None:
    """Bring the database schema, roles and policies up to date."""
    settings = Settings()
    with admin_database(settings, migrate_now=True, create=True):
        typer.echo("migrations are current")


@cli.command(name="openapi")
def openapi_cmd() -> None:
    """Print the OpenAPI 3.1 document (for client generators; no database needed)."""
    from pydantic import SecretStr

    from fundament.app import create_app

    # The app is built, not started: nothing connects to this address, and no secret of
    # the data directory is read or made for it.
    settings = Settings(master_key=SecretStr("unused: the document only"))
    app = create_app(settings, admin_dsn="postgresql://unused@127.0.0.1:1/unused")
    typer.echo(json.dumps(app.openapi(), indent=2, ensure_ascii=False))


# Four units cover key lifetimes; a duration library would add a dependency for one regex.
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    from fundament.platform import parse_rfc3339, utcnow

    if expires_in is not None and expires_at is not None:
        raise typer.BadParameter("give --expires-in or --expires-at, not both", param_hint="--expires-in")
    if expires_in is not None:
        match = _DURATION.fullmatch(expires_in.strip())
        if match is None or int(match[1]) == 0:
            raise typer.BadParameter(
                "use a number and a unit: 90m, 12h, 30d or 8w", param_hint="--expires-in"
            )
        try:
            return utcnow() + timedelta(**{_UNITS[match[2]]: int(match[1])})
        except OverflowError:
            raise typer.BadParameter("ends after the year 9999", param_hint="--expires-in") from None
    if expires_at is not None:
        try:
            when = parse_rfc3339(expires_at, date_ok=True)
        except ValueError:
            raise typer.BadParameter(
                "use an RFC 3339 date-time with an offset (2027-01-31T00:00:00Z) or a date (2027-01-31)",
                param_hint="--expires-at",
            ) from None
        if when <= utcnow():
            raise typer.BadParameter("lies in the past", param_hint="--expires-at")
        return when
    return None


async def _admin_connection(dsn: str, work: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await work(conn)
    finally:
        await conn.close()


@operator_key.command("create")
def operator_key_create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "operator",
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime: 90m, 12h, 30d or 8w. Default: it does not expire.")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="End of life: an RFC 3339 date-time (2027-01-31T00:00:00Z) or a date.")
    ] = None,
) -> None:
    """Create an operator key; the key is printed as the last line."""
    import msgspec

    from fundament.audit import record_platform_event
    from fundament.identity import add_operator_key

    until = _expiry(expires_in, expires_at)
    settings = Settings()

    async def work(conn: Any) -> dict[str, Any]:
        async with conn.transaction():
            key = await add_operator_key(conn, name=name, expires_at=until)
            created: dict[str, Any] = msgspec.to_builtins(key)  # as the API answers it
            await record_platform_event(
                conn,
                action="operator_key.created",
                target_type="operator_key",
                target_id=created["id"],
                actor="cli",
            )
        return created

    with admin_database(settings, migrate_now=True) as dsn:
        created = asyncio.run(_admin_connection(dsn, work))
    lifetime = f"expires {created['expires_at']}" if created["expires_at"] else "does not expire"
    typer.echo(
        f"created operator key {created['id']} ({name}, {lifetime}); store it now, it is not shown again:"
    )
    typer.echo(created["key"])


@operator_key.command("list")
def operator_key_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
) -> None:
    """List the operator keys not revoked (never their secrets)."""
    import msgspec

    from fundament.identity import list_operator_keys
    from fundament.platform import parse_rfc3339, utcnow

    async def work(conn: Any) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await list_operator_keys(conn, limit=200, cursor=cursor)
            keys.extend(msgspec.to_builtins(page.items))
            if page.next_cursor is None:
                return keys
            cursor = page.next_cursor

    with admin_database(Settings(), migrate_now=False) as dsn:
        keys = asyncio.run(_admin_connection(dsn, work))
    if as_json:
        for key in keys:
            typer.echo(json.dumps(key))
        return
    now = utcnow()
    rows = [("ID", "NAME", "PREFIX", "CREATED", "EXPIRES")]
    for key in keys:
        expires = key["expires_at"] or "never"
        if key["expires_at"] and parse_rfc3339(key["expires_at"]) <= now:
            expires += " (expired)"
        rows.append((key["id"], key["name"], key["prefix"], key["created_at"], expires))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@operator_key.command("revoke")
def operator_key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (opk_…).")]) -> None:
    """Revoke an operator key: every running instance refuses it (401) at once."""
    from fundament.audit import record_platform_event
    from fundament.identity import revoke_operator_key
    from fundament.platform import NotFound, notify_invalidation

    async def work(conn: Any) -> None:
        async with conn.transaction():
            await revoke_operator_key(conn, key_id)
            await record_platform_event(
                conn, action="operator_key.revoked", target_type="operator_key", target_id=key_id, actor="cli"
            )
            await notify_invalidation(conn, f"key:{key_id}")

    with admin_database(Settings(), migrate_now=False) as dsn:
        try:
            asyncio.run(_admin_connection(dsn, work))
        except NotFound:
            typer.echo(f"error: no operator key {key_id!r} that is not revoked already", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"revoked operator key {key_id}")


class _NoSuchTenant(Exception):
    pass


async def _in_tenant(dsn: str, tenant: str, work: Any) -> Any:
    """Run ``work(conn, tenant_id)`` in a transaction scoped to the tenant whose id or slug
    is ``tenant``, on an admin connection; :class:`_NoSuchTenant` if there is none."""
    import asyncpg

    from fundament.cells import tenant_cell_dsn
    from fundament.platform import set_scope
    from fundament.tenancy import find_tenant_id

    conn = await asyncpg.connect(dsn)
    try:
        tenant_id = await find_tenant_id(conn, tenant)
        if tenant_id is None:
            raise _NoSuchTenant(tenant)
        cell = await tenant_cell_dsn(conn, tenant_id)
        if cell is not None:  # the tenant's rows are on its cell
            await conn.close()
            conn = await asyncpg.connect(cell)
        async with conn.transaction():
            await set_scope(conn, tenant_id=tenant_id)
            return await work(conn, tenant_id)
    finally:
        await conn.close()


def _run_in_tenant(tenant: str, work: Any) -> Any:
    """:func:`_in_tenant` for a command: an unknown tenant is an error (exit 2), never an
    empty answer that looks like a good one."""
    with admin_database(Settings(), migrate_now=False) as dsn:
        try:
            return asyncio.run(_in_tenant(dsn, tenant, work))
        except _NoSuchTenant:
            typer.echo(f"error: no tenant has the id or slug {tenant!r}", err=True)
            raise typer.Exit(2) from None


@audit_cli.command("verify")
def audit_verify(tenant: Annotated[str, typer.Option(help="Tenant id (tnt_…) or slug.")]) -> None:
    """Recompute a tenant's hash chain; exit 1 and name the first broken seq if it fails,
    2 if there is no such tenant."""
    import msgspec

    from fundament.audit import seal_pending, verify_tenant

    async def work(conn: Any, tenant_id: str) -> Any:
        await seal_pending(conn, tenant_id)
        return await verify_tenant(conn, tenant_id)

    result = _run_in_tenant(tenant, work)
    typer.echo(json.dumps(msgspec.to_builtins(result)))
    if not result.valid:
        raise typer.Exit(1)


@audit_cli.command("export")
def audit_export(tenant: Annotated[str, typer.Option(help="Tenant id (tnt_…) or slug.")]) -> None:
    """Write a tenant's events as JSON Lines to stdout, in chain order (exit 2 if there is
    no such tenant)."""
    from fundament.audit import iter_events, seal_pending

    async def work(conn: Any, tenant_id: str) -> None:
        await seal_pending(conn, tenant_id)
        async for event in iter_events(conn, tenant_id):
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")

    _run_in_tenant(tenant, work)


async def _with_app_db(settings: Settings, dsn: str, work: Any) -> Any:
    """Run ``work(db)`` on the request-path role's pool (row-level security applies)."""
    from fundament.app import app_dsn
    from fundament.platform import Database

    db = Database(app_dsn(settings, dsn), min_size=1, max_size=4)
    await db.open()
    try:
        return await work(db)
    finally:
        await db.close()


@finops_cli.command("report")
def finops_report(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Cost, revenue and margin per tenant; cost per feature; idle capacity."""
    import msgspec

    from fundament import metering, tenancy

    if format not in ("table", "json", "csv"):
        raise typer.BadParameter("use table, json or csv", param_hint="--format")
    month = month or metering.current_month()
    if not metering.MONTH.match(month):
        raise typer.BadParameter("use YYYY-MM", param_hint="--month")
    settings = Settings()
    plans = tenancy.load_plans(settings.plans)
    model = metering.load_cost_model(settings.cost_model)

    async def work(db: Any) -> Any:
        return await metering.month_report(db, plans, model, month)

    with admin_database(settings, migrate_now=False) as dsn:
        report = msgspec.to_builtins(asyncio.run(_with_app_db(settings, dsn, work)))
    if format == "json":
        typer.echo(json.dumps(report, indent=2))
    elif format == "csv":
        typer.echo(metering.render_csv(report), nl=False)
    else:
        typer.echo(metering.render_table(report))


@finops_cli.command("import-focus")
def finops_import_focus(file: Annotated[str, typer.Argument(help="A FOCUS cost export (CSV).")]) -> None:
    """Load a FinOps FOCUS bill so reports allocate real costs instead of estimates."""
    import asyncpg

    from fundament import metering

    try:
        with open(file, encoding="utf-8-sig") as f:
            charges = metering.parse_focus(f.read())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from exc
    except metering.FocusError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc

    async def run(dsn: str) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await metering.import_charges(conn, charges, source=os.path.basename(file))
        finally:
            await conn.close()

    with admin_database(Settings(), migrate_now=False) as dsn:
        result = asyncio.run(run(dsn))
    typer.echo(json.dumps(result))


@cells_cli.command("add")
def cells_add(
    name: Annotated[str, typer.Argument(help="The cell's name: [a-z0-9][a-z0-9-]{0,39}.")],
    dsn: Annotated[str, typer.Option(help="The admin DSN of the cell's PostgreSQL (its primary).")],
    region: Annotated[str, typer.Option(help="The region its servers are in, like eu-central-1.")],
    replica: Annotated[
        list[str] | None, typer.Option(help="A streaming replica's DSN (again for more); named as --dsn is.")
    ] = None,
) -> None:
    """Add a cell: checks that the DSN answers, migrates it, then registers it; every running
    instance starts placing new tenants of its region there within a moment."""
    from fundament.app import replica_app_dsn
    from fundament.cells import AddCellError, check_new_cell, register_cell

    settings = Settings()
    with admin_database(settings, migrate_now=False) as control:
        try:
            asyncio.run(check_new_cell(control, name, dsn, region))
            _migrate(dsn, _app_password(settings))
            asyncio.run(
                register_cell(
                    control,
                    name=name,
                    region=region,
                    dsn=dsn,
                    app_dsn=replica_app_dsn(settings, dsn),
                    replica_dsns=[replica_app_dsn(settings, r) for r in replica or ()],
                )
            )
        except AddCellError as exc:
            raise _fail(f"cell {name!r} not added: {exc}") from None
    typer.echo(f"added cell {name} ({region})")


@cells_cli.command("list")
def cells_list(
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Every cell with its region, tenants and stored bytes (as last sampled)."""
    import msgspec

    from fundament import tenancy
    from fundament.cells import summaries
    from fundament.platform import Cells

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    settings = Settings()

    async def work(db: Any) -> Any:
        cells = Cells(db, region=settings.default_region, locate=tenancy.cell_of_tenant)
        await cells.refresh()
        try:
            return await summaries(cells)
        finally:
            await cells.close()

    with admin_database(settings, migrate_now=False) as dsn:
        rows = msgspec.to_builtins(asyncio.run(_with_app_db(settings, dsn, work)))
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    header = ("name", "region", "tenants", "stored bytes", "status")
    table = [header] + [
        (r["name"], r["region"], str(r["tenants"]), str(r["stored_bytes"]), r["status"]) for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


@tenants_cli.command("move")
def tenants_move(
    tenant: Annotated[str, typer.Argument(help="The tenant's id (tnt_…) or slug.")],
    to: Annotated[str, typer.Option("--to", help="The cell to move it to, of the tenant's region.")],
    wait: Annotated[bool, typer.Option(help="Wait until the move is done or failed.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: stop waiting after this many seconds.")] = 600,
) -> None:
    """Move a tenant to another cell of its region, online: its writes wait (at most about a
    second) while it switches, none is refused. A running instance's job worker does the
    move (`fundament serve` or `fundament worker`); this prints the move as JSON and, with
    --wait, each status until it ends (exit 1 if it failed or did not end in time). Exit 2
    for a refused move (unknown tenant or cell, the tenant's own cell, another region, a
    move already running)."""
    import msgspec

    from fundament.cells import request_move, watch_move
    from fundament.platform import Problem

    settings = Settings()

    def said(move: Any) -> None:
        typer.echo(f"{move.id}: {move.status}" + (f" ({move.error})" if move.error else ""), err=True)

    def as_json(move: Any) -> str:
        body = msgspec.to_builtins(move)
        return json.dumps({**body, "from": body.pop("from_cell"), "to": body.pop("to_cell")}, default=str)

    with admin_database(settings, migrate_now=False) as dsn:
        try:
            move = asyncio.run(request_move(dsn, tenant, to, control_region=settings.default_region))
        except Problem as exc:
            raise _fail(f"not moved: {exc.detail}") from None
        if wait:
            move = asyncio.run(watch_move(dsn, move.id, seconds=timeout, seen=said))
    typer.echo(as_json(move))
    if wait and move.status != "done":
        raise typer.Exit(1)


@cli.command("plan")
def plan_cmd(
    users: Annotated[int, typer.Option(min=1, help="Users to serve.")],
    requests_per_user_per_minute: Annotated[float, typer.Option(min=0.0001, help="Per active user.")] = 6.0,
    p99_ms: Annotated[float, typer.Option(min=0.001, help="Latency target, milliseconds.")] = 200.0,
    hpa_only: Annotated[
        bool, typer.Option(help="Print only the HPA manifest (JSON, kubectl-ready).")
    ] = False,
) -> None:
    """Instances, HPA bounds, monthly cost and cost per user for N users."""
    import asyncpg
    import msgspec

    from fundament import metering

    settings = Settings()
    model = metering.load_cost_model(settings.cost_model)

    async def measured(dsn: str) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await metering.latest_measurement(conn)
        finally:
            await conn.close()

    with admin_database(settings, migrate_now=False) as dsn:
        measurement = asyncio.run(measured(dsn)) or metering.REFERENCE
    try:
        result = msgspec.to_builtins(
            metering.plan(users, requests_per_user_per_minute, p99_ms, measurement, model)
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result["hpa"] if hpa_only else result, indent=2))


@bench_cli.command("capacity")
def bench_capacity(
    p99_ms: Annotated[float, typer.Option(help="Latency target the capacity must meet.")] = 200.0,
    seconds: Annotated[float, typer.Option(min=1, max=30, help="Length of each load step.")] = 5.0,
    max_connections: Annotated[int, typer.Option(min=1, max=256)] = 64,
) -> None:
    """Measure requests/s per worker at a p99 target on 127.0.0.1, and store the result."""
    from fundament.loadtest import measure_capacity

    settings = Settings()
    with admin_database(settings, migrate_now=True) as dsn:
        result = measure_capacity(
            dsn, settings, p99_ms=p99_ms, step_seconds=seconds, max_connections=max_connections
        )
    typer.echo(json.dumps(result, indent=2))


@gateway_cli.callback()
def gateway_serve(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(help="The gateway's TOML route table (watched: edits apply within a second)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind.", show_default="FUNDAMENT_HOST")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.", show_default="FUNDAMENT_PORT")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes.", show_default="FUNDAMENT_WORKERS")
    ] = None,
) -> None:
    """Serve the gateway: `fundament serve` with FUNDAMENT_GATEWAY_CONFIG set to --config, on one port."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise _fail("give the route table: fundament gateway --config gateway.toml (or see --help)")
    from fundament.gateway import ConfigError, load_config

    try:
        load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    # Workers are new processes: they read the setting from the environment, as serve's DSN.
    os.environ["FUNDAMENT_GATEWAY_CONFIG"] = str(config.resolve())
    serve(host=host, port=port, workers=workers)


@gateway_cli.command("report")
def gateway_report(
    url: Annotated[str, typer.Option(help="The gateway's base URL.")] = "http://127.0.0.1:8000",
    key: Annotated[
        str | None, typer.Option(envvar="FUNDAMENT_OPERATOR_KEY", help="An operator key.", show_default=False)
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Per route: mode, traffic share, mismatches with examples, p50/p99 of each side."""
    import httpx

    from fundament.gateway import render_table

    if format not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    if not key:
        raise _fail("an operator key is needed: --key or FUNDAMENT_OPERATOR_KEY")
    try:
        r = httpx.get(
            url.rstrip("/") + "/v1/gateway/routes", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {exc}", 1) from None
    if r.status_code != 200:
        is_json = r.headers.get("content-type", "").endswith("json")
        detail = r.json().get("detail", r.text) if is_json else r.text
        raise _fail(f"{url} answered {r.status_code}: {detail}", 1)
    if format == "json":
        typer.echo(json.dumps(r.json(), indent=2))
    else:
        typer.echo(render_table(r.json()), nl=False)


def main() -> None:
    cli(prog_name="fundament")


if __name__ == "__main__":
    main()
