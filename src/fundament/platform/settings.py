"""One typed settings object, read from ``FUNDAMENT_*`` environment variables.

Built once by the composition root and passed down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fundament.platform.cors import parse_origin_list


def default_data_dir() -> Path:
    """Where data lives unless FUNDAMENT_DATA_DIR says: the XDG per-user data directory, or
    for root /var/lib/fundament (its parents are open to all, so the embedded PostgreSQL's
    system user reaches it without opening a home directory)."""
    if os.name == "posix" and os.geteuid() == 0:
        return Path("/var/lib/fundament")
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative value is invalid and to be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "fundament"


#: What a region looks like (`eu-central-1`): the tenants API's pattern too.
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDAMENT_", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "Admin DSN of an external PostgreSQL (15+). Used for migrations. "
            "Absent: an embedded PostgreSQL is started under data_dir."
        ),
    )
    app_database_url: SecretStr | None = Field(
        default=None,
        description=(
            "DSN the request path uses. Must be the unprivileged `fundament_app` role. "
            "Absent: derived from database_url with the user replaced by fundament_app."
        ),
    )
    listen_database_url: SecretStr | None = Field(
        default=None,
        description="DSN (as fundament_app) of the one connection per process that LISTENs for "
        "cache invalidations. Absent: app_database_url's. Behind PgBouncer in transaction mode, "
        "point this at PostgreSQL itself: LISTEN needs a session that stays.",
    )
    replica_urls: SecretStr | None = Field(
        default=None,
        description="Comma-separated DSNs of streaming replicas of database_url's server, each as "
        "database_url is written (admin user, or fundament_app): requests use them as fundament_app, "
        "derived the way app_database_url is (a comma inside a password is written %2C). GET and "
        "HEAD requests read from a healthy replica that has replayed the request's "
        "Fundament-Consistency token; everything else uses the primary. Absent: no replicas.",
    )
    replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A replica further behind the primary than this, or not answering, gets no "
        "reads until it catches up. Also the staleness a read without a token may see, at most.",
    )
    replica_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="Each process measures every replica's lag this often (and the metrics' values).",
    )
    app_db_password: SecretStr | None = Field(
        default=None,
        description="Password set on the fundament_app role by migrations (external servers).",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The embedded PostgreSQL's data, and master.key. Absent: $XDG_DATA_HOME/fundament "
        "(else ~/.local/share/fundament); as root, /var/lib/fundament. Never relative to the working "
        "directory, so every command finds the server's database from anywhere.",
    )
    embedded_allow_home_traversal: bool = Field(
        default=False,
        description="As root, the embedded PostgreSQL runs as the system user embedded_postgres, which "
        "must traverse every directory above data_dir. True: a home directory on the way may be "
        "opened (chmod o+x). False: a data_dir under a closed home directory is refused.",
    )
    host: str = Field(default="127.0.0.1", description="Interface to listen on (`serve --host`).")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on (`serve --port`).")
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Comma-separated addresses or networks of the load balancers in front. A request "
        "from one of them is taken to come from the rightmost X-Forwarded-For address that is not one "
        "of them (for logs and the failed-authentication throttle); `*` trusts every peer. Absent: "
        "the header is ignored and the peer is the client.",
    )
    cors_operator_origins: str | None = Field(
        default=None,
        description="Comma-separated browser origins (`https://console.example.com`) allowed to call "
        "every path by CORS: the operator's own web front end. Tenant paths also allow each tenant's "
        "own list (`PUT /v1/tenants/{tenant}/cors`). Absent: operator paths answer no browser origin.",
    )
    workers: int = Field(default=1, ge=1, description="Server processes (`serve --workers`).")
    keepalive_seconds: int = Field(
        default=75,
        ge=1,
        description="An idle client connection is closed after this long. Above load balancers' idle "
        "timeouts (60 s is common; HAProxy's `timeout http-keep-alive` must be shorter) and a user's "
        "pause between clicks, so the server never closes a connection its client is about to reuse.",
    )
    instances: int = Field(
        default=1,
        ge=1,
        description="How many instances (`fundament serve` processes, each with its workers) share "
        "the database: with db_connection_budget, what one instance may take.",
    )
    db_connection_budget: int | None = Field(
        default=None,
        ge=1,
        description="Connections all instances together may open to PostgreSQL (its max_connections "
        "less what migrations, the job worker and operators need). An instance whose workers × "
        "(pool_max_size + 1 listener) exceed budget / instances logs a warning at start. Absent: no check.",
    )
    db_statement_cache_size: int = Field(
        default=100,
        ge=0,
        description="Prepared statements each database connection keeps. 0 behind PgBouncer in "
        "transaction mode before 1.21 (Debian's 1.18 keeps none, and a cached statement would be "
        "looked for on another server connection).",
    )
    pool_min_size: int = Field(
        default=4, ge=0, description="Database connections each process opens at start and keeps."
    )
    pool_max_size: int = Field(default=32, ge=1, description="Database connections per process, at most.")
    pool_max_idle_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A pooled connection unused this long is closed (down to pool_min_size); 0: never.",
    )
    statement_timeout_ms: int = Field(
        default=15_000, ge=0, description="PostgreSQL cancels a statement running longer; 0: never."
    )
    idle_in_transaction_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        description="PostgreSQL ends a session whose transaction sits idle this long (a stuck request "
        "must not hold locks for ever); 0: never.",
    )
    worker_share: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Share of time the job worker (exports, erasures, retention) may take: after a "
        "job of d seconds it rests d × (1 − share) / share, so a flood of one tenant's exports "
        "leaves requests the rest. 1: no rest (a dedicated `fundament worker` may use it).",
    )
    tenant_scan_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Share of time one tenant's record lists that scan a collection (a filter or "
        "sort no declared index serves) may take in each process: they run one at a time per "
        "tenant, and after one that took d seconds the next waits d × (1 − share) / share. "
        "Indexed lists and reads are not affected.",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1, description="A larger request body gets 413.")
    key_cache_ttl_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Keys and tenants are cached this long at most; a revocation or tenant change "
        "reaches every instance at once by notification, this bounds it if one is lost.",
    )
    auth_address_failures_per_minute: int = Field(
        default=30,
        ge=1,
        description="Failed authentications from one client address (IPv6: one /64) in a minute, "
        "after which keys this process has not seen succeed get 429 from that address.",
    )
    auth_key_id_failures_per_minute: int = Field(
        default=10,
        ge=1,
        description="Failed authentications naming one key id (a tenant key's tenant; all operator "
        "keys share one) in a minute, after which unknown keys naming it get 429.",
    )
    auth_failure_cooldown_seconds: float = Field(
        default=1.0,
        ge=0,
        description="After a key id fails, other unknown keys naming it get 429 for this long "
        "instead of a database lookup.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Run migrations on start. Default: on in embedded mode, off otherwise.",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error: JSON lines on stderr.")
    master_key: SecretStr | None = Field(
        default=None,
        description="Secret for keyed subject hashes (hex or any string). Absent: a key file "
        "`master.key` is created in data_dir on first start.",
    )
    audit: bool = Field(
        default=True,
        description="Write the audit trail. Off only to measure its cost (bench/run.py).",
    )
    events: bool = Field(
        default=True,
        description="Write change events (the outbox that webhooks and streams read). Off only to "
        "measure its cost.",
    )
    worker: bool = Field(
        default=True,
        description="Run the background job worker inside each server process "
        "(exports, erasures, retention). Off: run `fundament worker` separately.",
    )

    request_timeout_seconds: float = Field(
        default=30.0, description="A request still running after this gets a 503 and is cancelled."
    )
    shutdown_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="On SIGTERM, keep serving this long with /readyz at 503 before closing the listener, "
        "so load balancers stop sending first (Kubernetes: a few seconds).",
    )
    shutdown_timeout_seconds: float = Field(
        default=20.0, description="On SIGTERM, in-flight requests get this long to finish."
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis shared by all instances: rate-limit counters. Absent: in-process.",
    )
    plans: Path | None = Field(
        default=None, description="TOML file of plans (limits, quotas, prices). Absent: built-in plans."
    )
    default_plan: str = Field(
        default="free",
        min_length=1,
        description="The plan of a tenant created without one. Must be a plan of the catalogue "
        "(FUNDAMENT_PLANS): the server refuses to start otherwise.",
    )
    default_region: str = Field(
        default="eu-central-1",
        pattern=REGION_PATTERN,
        description="The region of a tenant created without one (fixed at creation).",
    )
    collection_cache_ttl_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Compiled collection definitions are cached this long at most; a change reaches "
        "every instance at once by notification, this bounds it if one is lost.",
    )
    quota_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Each process measures a writing tenant's records and stored bytes exactly this "
        "often; in between it counts its own writes (near the cap every write measures).",
    )
    job_poll_seconds: float = Field(
        default=1.0, gt=0, description="An idle job worker looks for due jobs this often."
    )
    job_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A claimed job is another worker's to take over if it is not done by then "
        "(its worker died); longer than the longest export or erasure.",
    )
    job_max_attempts: int = Field(
        default=10,
        ge=1,
        description="A failing job is retried with backoff (2^attempt seconds, at most an hour) up to "
        "this many times, then marked failed.",
    )
    event_retention_hours: float = Field(
        default=72.0,
        gt=0,
        description="Change events (the outbox that webhooks and feeds read) are kept this long, then "
        "pruned by a job.",
    )
    event_stream_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="An event stream (server-sent events) ends after this long; its client resumes "
        "with Last-Event-ID, on whichever instance the load balancer picks.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks deliver to loopback, link-local, private and metadata addresses "
        "(checked on the resolved address at connect time). Off in production.",
    )
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, le=60, description="A webhook delivery attempt gives up after this long."
    )
    webhook_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,36000",
        pattern=r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$",
        description="Seconds before each retry of a failed delivery, comma-separated (Standard "
        "Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each with up to 20% jitter; "
        "a longer `Retry-After` wins. After the last one the delivery is failed.",
    )
    webhook_delivery: bool = Field(
        default=True,
        description="Send webhook deliveries from this process (when `FUNDAMENT_WORKER` is on). Off: "
        "they wait in the queue, for another process or for later.",
    )
    webhook_workers: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Deliveries each process sends at once (each holds a database connection).",
    )
    cost_model: Path | None = Field(
        default=None, description="TOML cost model for FinOps reports. Absent: a built-in example."
    )
    usage_flush_seconds: float = Field(
        default=10.0, description="Metered usage is written to the database this often."
    )
    storage_measure_seconds: float = Field(
        default=300.0, description="Stored bytes per tenant are measured this often."
    )
    metering: bool = Field(default=True, description="Meter usage per tenant. Off only to measure its cost.")
    metrics: bool = Field(default=True, description="Prometheus metrics at /metrics.")
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Bearer token that may read /metrics (besides operator keys): what Prometheus' "
        "`authorization` setting sends. At least 16 characters; absent: operator keys only.",
    )
    access_log: bool = Field(default=True, description="One JSON log line per request.")
    trace_sample_ratio: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Share of requests traced when the caller did not ask (a sampled traceparent always is).",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. http://otel:4318). Set: traces are exported.",
    )
    gateway_config: Path | None = Field(
        default=None,
        description="TOML route table of the strangler-fig gateway (docs/gateway.md). Set: this server "
        "proxies to the legacy application what its own paths and the table's Fundament routes are not.",
    )

    @field_validator(
        "database_url",
        "app_database_url",
        "listen_database_url",
        "replica_urls",
        "app_db_password",
        "redis_url",
        "metrics_token",
        "db_connection_budget",
        "forwarded_allow_ips",
        "cors_operator_origins",
        "plans",
        "cost_model",
        "otlp_endpoint",
        "gateway_config",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `FUNDAMENT_DATABASE_URL=` in a shell or compose file means "not set".
        return None if value == "" else value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir(cls, value: object) -> object:
        # Empty is the default, as for the settings above; `~` is a home, as in a shell.
        if value == "":
            return default_data_dir()
        return Path(value).expanduser() if isinstance(value, str) else value

    @field_validator("cors_operator_origins")
    @classmethod
    def _origins(cls, value: str | None) -> str | None:
        # Refused at start, naming the origin, rather than never matching a browser's Origin.
        return ",".join(parse_origin_list(value)) or None

    def master_key_bytes(self) -> bytes:
        """The master secret: from the setting, else from (or into) ``data_dir/master.key``."""
        if self.master_key is not None:
            return hashlib.sha256(self.master_key.get_secret_value().encode()).digest()
        path = self.data_dir / "master.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another worker process made it a moment ago
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(32))
        return path.read_bytes()

    def webhook_retry_delays(self) -> list[float]:
        """``webhook_retry_schedule``, in seconds."""
        return [float(d) for d in self.webhook_retry_schedule.split(",") if d.strip()]

    def replica_dsns(self) -> list[str]:
        """``replica_urls``, one DSN each."""
        if self.replica_urls is None:
            return []
        return [d.strip() for d in self.replica_urls.get_secret_value().split(",") if d.strip()]

    @property
    def embedded(self) -> bool:
        return self.database_url is None
