"""The gateway's configuration (a TOML file) and the route table compiled from it.

A route is ``"METHODS PATH"``: methods comma-separated or ``*``; a path is a template
(``/api/customers/{id}``, each ``{name}`` one segment) or a prefix (ending in ``*``). The
first route that matches, in file order, serves the request; anything unmatched goes to the
legacy upstream.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec
from msgspec import Struct

Mode = Literal["legacy", "fundament", "shadow"]

#: Methods that change nothing: the only ones shadowed or sent to legacy twice by default.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: What a template variable matches. Values are spliced into Fundament paths and filters,
#: so nothing that could close a quote or add a segment is let through.
_VALUE = r"[A-Za-z0-9._~-]+"
_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """The gateway's configuration cannot be used; the message says where and why."""


class Upstream(Struct, forbid_unknown_fields=True, frozen=True):
    #: Absent for Fundament: the Fundament of this process serves (no network hop).
    url: str | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    #: The whole exchange, first byte out to last byte in.
    total_timeout: float = 120.0
    #: Connections to the upstream at most, per process (kept alive between requests).
    max_connections: int = 100


class FundamentUpstream(Upstream, forbid_unknown_fields=True, frozen=True):
    #: The tenant (id or slug) that `{tenant}` in a rewritten path names.
    tenant: str | None = None
    #: The environment variable holding the Fundament key sent instead of the client's
    #: Authorization header (legacy clients hold legacy credentials, not Fundament keys).
    key_env: str | None = None


class Rewrite(Struct, forbid_unknown_fields=True, frozen=True):
    #: The Fundament path, with the route's variables and `{tenant}`.
    path: str
    #: The query sent instead of the client's, values with the same variables.
    query: dict[str, str] | None = None
    #: A JSON Pointer to the part of Fundament's 2xx answer that is the legacy resource;
    #: a `*` segment maps over an array (`/items/*/data`). Absent: the answer as it is.
    pick: str | None = None


class RouteConfig(Struct, forbid_unknown_fields=True, frozen=True):
    match: str
    mode: Mode = "legacy"
    fundament: Rewrite | None = None
    #: JSON Pointers (a `*` segment: any member or index) never compared: ids, timestamps.
    ignore: list[str] = []
    #: JSON Pointers of personal fields: redacted in logged samples and examples.
    personal: list[str] = []
    #: Shadow POST, PUT, PATCH and DELETE too (Fundament then writes as legacy does).
    shadow_writes: bool = False
    #: Response headers compared (default: [shadow] headers).
    headers: list[str] | None = None


class ShadowConfig(Struct, forbid_unknown_fields=True, frozen=True):
    #: Shadow requests under way at once; more are dropped, never queued.
    max_concurrency: int = 16
    #: A request or legacy answer larger than this is not compared.
    max_body_bytes: int = 1 << 20
    #: The first this many shadowed safe requests of a route go to legacy twice (noise)...
    noise_samples: int = 10
    #: ...and then this share of them.
    noise_rate: float = 0.05
    headers: list[str] = msgspec.field(default_factory=lambda: ["content-type"])
    redact_headers: list[str] = msgspec.field(
        default_factory=lambda: ["authorization", "cookie", "set-cookie", "proxy-authorization"]
    )
    examples: int = 5


class GatewaySection(Struct, forbid_unknown_fields=True, frozen=True):
    #: The file is looked at this often; a changed route table is used from then on.
    reload_seconds: float = 1.0
    #: Paths this process's Fundament serves itself, before the route table.
    fundament_paths: list[str] = msgspec.field(
        default_factory=lambda: ["/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/problems", "/console"]
    )


class GatewayConfig(Struct, forbid_unknown_fields=True, frozen=True):
    legacy: Upstream
    gateway: GatewaySection = GatewaySection()
    fundament: FundamentUpstream = FundamentUpstream()
    shadow: ShadowConfig = ShadowConfig()
    routes: list[RouteConfig] = []


Segments = tuple[str, ...]


def parse_pointer(pointer: str, where: str) -> Segments:
    """An RFC 6901 JSON Pointer as its segments (``""`` is the whole document)."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ConfigError(f"{where}: {pointer!r} is not a JSON Pointer (it starts with /)")
    return tuple(s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/"))


@dataclass(frozen=True, slots=True)
class Route:
    """One compiled route."""

    key: str
    methods: frozenset[str] | None
    prefix: str | None
    pattern: re.Pattern[str] | None
    mode: Mode
    rewrite: Rewrite | None
    pick: Segments | None
    ignore: tuple[Segments, ...]
    personal: tuple[Segments, ...]
    shadow_writes: bool
    headers: tuple[str, ...]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.methods is not None and method not in self.methods:
            return None
        if self.prefix is not None:
            return {"rest": path[len(self.prefix) :]} if path.startswith(self.prefix) else None
        assert self.pattern is not None
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()

    def shadows(self, method: str) -> bool:
        return self.mode == "shadow" and (method in SAFE_METHODS or self.shadow_writes)


#: The catch-all: what no route matches goes to legacy, counted under this key.
UNMATCHED = Route(
    key="(unmatched)",
    methods=None,
    prefix="",
    pattern=None,
    mode="legacy",
    rewrite=None,
    pick=None,
    ignore=(),
    personal=(),
    shadow_writes=False,
    headers=(),
)


@dataclass(frozen=True, slots=True)
class RouteTable:
    routes: tuple[Route, ...]

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return UNMATCHED, {}


def compile_route(n: int, cfg: RouteConfig, shadow: ShadowConfig) -> Route:
    where = f"routes[{n}] ({cfg.match!r})"
    parts = cfg.match.split()
    if len(parts) != 2:
        raise ConfigError(f"{where}: match is 'METHODS PATH', like 'GET /api/customers/{{id}}'")
    methods_text, path = parts
    methods: frozenset[str] | None = None
    if methods_text != "*":
        methods = frozenset(m.upper() for m in methods_text.split(","))
        unknown = sorted(methods - _METHODS)
        if unknown:
            raise ConfigError(f"{where}: unknown method {unknown[0]!r}")
        if "GET" in methods:
            methods |= {"HEAD"}
    if not path.startswith("/"):
        raise ConfigError(f"{where}: the path starts with /")
    prefix: str | None = None
    pattern: re.Pattern[str] | None = None
    names: set[str]
    if path.endswith("*"):
        prefix = path[:-1]
        if _VAR.search(prefix):
            raise ConfigError(f"{where}: a prefix (ending in *) has no {{variables}}")
        names = {"rest"}
    else:
        names = set(_VAR.findall(path))
        regex = ""
        at = 0
        for var in _VAR.finditer(path):
            regex += re.escape(path[at : var.start()]) + f"(?P<{var[1]}>{_VALUE})"
            at = var.end()
        try:
            pattern = re.compile(regex + re.escape(path[at:]))
        except re.error as exc:  # a variable named twice
            raise ConfigError(f"{where}: {exc}") from None
    if cfg.mode != "legacy" and cfg.fundament is not None:
        available = names | {"tenant"}
        texts = [cfg.fundament.path, *(cfg.fundament.query or {}).values()]
        for text in texts:
            for var in _VAR.findall(text):
                if var not in available:
                    raise ConfigError(f"{where}: {{{var}}} is neither a variable of the match nor tenant")
        if not cfg.fundament.path.startswith("/"):
            raise ConfigError(f"{where}: fundament.path starts with /")
    pick = None
    if cfg.fundament is not None and cfg.fundament.pick is not None:
        pick = parse_pointer(cfg.fundament.pick, f"{where} fundament.pick")
    return Route(
        key=cfg.match,
        methods=methods,
        prefix=prefix,
        pattern=pattern,
        mode=cfg.mode,
        rewrite=cfg.fundament,
        pick=pick,
        ignore=tuple(parse_pointer(p, f"{where} ignore") for p in cfg.ignore),
        personal=tuple(parse_pointer(p, f"{where} personal") for p in cfg.personal),
        shadow_writes=cfg.shadow_writes,
        headers=tuple(h.lower() for h in (cfg.headers if cfg.headers is not None else shadow.headers)),
    )


def load_config(path: Path) -> GatewayConfig:
    """Read and check the file: a :class:`ConfigError` says what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        config = msgspec.toml.decode(raw, type=GatewayConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None
    check(config, path)
    return config


def check(config: GatewayConfig, path: Path) -> None:
    if config.legacy.url is None or not re.match(r"^https?://", config.legacy.url):
        raise ConfigError(f"{path}: [legacy] url is an http:// or https:// URL")
    if config.fundament.url is not None and not re.match(r"^https?://", config.fundament.url):
        raise ConfigError(f"{path}: [fundament] url is an http:// or https:// URL (or absent: this process)")
    for name, up in (("legacy", config.legacy), ("fundament", config.fundament)):
        timeouts = (up.connect_timeout, up.read_timeout, up.total_timeout)
        if min(timeouts) <= 0 or up.max_connections < 1:
            raise ConfigError(f"{path}: [{name}] timeouts are > 0 and max_connections ≥ 1")
    if config.fundament.key_env is not None and not os.environ.get(config.fundament.key_env):
        raise ConfigError(f"{path}: [fundament] key_env names {config.fundament.key_env}, which is not set")
    s = config.shadow
    if s.max_concurrency < 1 or s.max_body_bytes < 0 or not 0 <= s.noise_rate <= 1 or s.examples < 0:
        raise ConfigError(f"{path}: [shadow] max_concurrency ≥ 1, noise_rate in [0, 1], examples ≥ 0")
    if config.gateway.reload_seconds <= 0:
        raise ConfigError(f"{path}: [gateway] reload_seconds > 0")
    seen: set[str] = set()
    for n, route in enumerate(config.routes):
        if route.match in seen:
            raise ConfigError(f"{path}: routes[{n}]: {route.match!r} twice")
        seen.add(route.match)
        compile_route(n, route, s)
        uses_tenant = route.fundament is not None and "{tenant}" in route.fundament.path
        if route.mode != "legacy" and uses_tenant and config.fundament.tenant is None:
            raise ConfigError(f"{path}: routes[{n}] uses {{tenant}}: set [fundament] tenant")


def route_table(config: GatewayConfig) -> RouteTable:
    return RouteTable(tuple(compile_route(n, r, config.shadow) for n, r in enumerate(config.routes)))
