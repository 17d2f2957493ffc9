"""What running Fundament costs: resources, their allocation drivers, the app instance type.

The model is a TOML file named by ``FUNDAMENT_COST_MODEL``; without one, the built-in
default below (a small AWS eu-central-1 set-up, identical to ``docs/examples/cost-model.toml``)
is used. Amounts are in ``currency``; the ``*_eur`` field names assume the usual EUR.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

DRIVERS = ("server_time", "db_time", "stored_bytes", "requests", "even", "revenue")

__all__ = [
    "DEFAULT_MODEL",
    "DRIVERS",
    "SHARED_TEAM",
    "UNASSIGNED_TEAM",
    "CostModel",
    "CostModelError",
    "Instance",
    "Resource",
    "Team",
    "load_cost_model",
]


class CostModelError(ValueError):
    """The cost model file is unreadable or wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Resource:
    """One line of the monthly bill and how it is split between tenants."""

    name: str
    monthly_cost_eur: Decimal
    driver: str  # one of DRIVERS
    # FOCUS ServiceName values billed to this resource (see fundament.metering.focus).
    service_names: tuple[str, ...] = ()
    # "compute" resources scale with instances in capacity planning; every other kind is fixed.
    kind: str = "shared"


#: The team of features no ``[[teams]]`` entry claims; reserved as a team name.
UNASSIGNED_TEAM = "unassigned"
#: The line for costs no feature causes (storage, even, revenue drivers), as in features.
SHARED_TEAM = "(shared)"


@dataclass(frozen=True)
class Team:
    """A team that owns features, so the report can show what each team's features cost.

    ``features`` are glob patterns (``*`` matches anything, ``/`` included) over metering's
    feature names, "METHOD /route/template"; ``collections`` are collection names, matching the
    requests to routes under ``/collections/{name}`` for that collection.
    """

    name: str
    features: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    """The machine type one app server runs on."""

    name: str
    monthly_cost_eur: Decimal
    vcpus: int
    workers: int  # server worker processes per instance


@dataclass(frozen=True)
class CostModel:
    currency: str
    resources: tuple[Resource, ...]
    instance: Instance
    instances_running: int
    target_utilisation: float = 0.6  # 0 < x <= 1: the CPU share we plan to use of what we pay for
    min_replicas: int = 2  # never fewer instances, so one can fail or be replaced
    teams: tuple[Team, ...] = ()
    # Where the model came from; not part of equality, so a file can equal the built-in model.
    source: str = field(default="built-in", compare=False)

    def team_of(self, feature: str, collection: str = "") -> str:
        """The team owning ``feature`` (for ``collection``, if the request named one).

        A collection named by a team wins over route patterns, because it is the more specific
        claim; among patterns the first team in file order wins; else :data:`UNASSIGNED_TEAM`.
        """
        if collection:
            for team in self.teams:
                if collection in team.collections:
                    return team.name
        for team in self.teams:
            if any(fnmatchcase(feature, pattern) for pattern in team.features):
                return team.name
        return UNASSIGNED_TEAM


# Kept in step with docs/examples/cost-model.toml (a test checks they are equal); the file
# says where each price comes from.
DEFAULT_MODEL = CostModel(
    currency="EUR",
    instance=Instance(name="c7g.large", monthly_cost_eur=Decimal("51.82"), vcpus=2, workers=2),
    instances_running=2,
    target_utilisation=0.6,
    min_replicas=2,
    resources=(
        Resource(
            "app-instances", Decimal("103.64"), "server_time", ("Amazon Elastic Compute Cloud",), "compute"
        ),
        Resource(
            "database", Decimal("250.23"), "db_time", ("Amazon Relational Database Service",), "database"
        ),
        Resource(
            "storage",
            Decimal("28.40"),
            "stored_bytes",
            ("Amazon Simple Storage Service", "AWS Backup"),
            "storage",
        ),
        Resource("load-balancer", Decimal("22.23"), "requests", ("Elastic Load Balancing",), "network"),
        Resource("data-transfer", Decimal("7.83"), "requests", ("AWS Data Transfer",), "network"),
        Resource("cache", Decimal("23.50"), "requests", ("Amazon ElastiCache",), "cache"),
        Resource("nat-gateway", Decimal("35.29"), "even", ("Amazon Virtual Private Cloud",), "network"),
        Resource("monitoring", Decimal("17.92"), "even", ("AmazonCloudWatch",), "shared"),
        Resource("support", Decimal("87.00"), "revenue", ("AWS Support (Business)",), "shared"),
    ),
    teams=(
        Team("data", ("* /v1/tenants/{tenant}/collections*",)),
        Team(
            "identity",
            ("* /v1/tenants/{tenant}/api-keys*", "* /v1/tenants/{tenant}/users*", "* /v1/operator-keys*"),
        ),
        Team("compliance", ("* /v1/tenants/{tenant}/audit-events*", "* /v1/tenants/{tenant}/privacy/*")),
        Team("integrations", ("* /v1/tenants/{tenant}/webhooks*", "* /v1/tenants/{tenant}/events")),
        Team(
            "platform",
            (
                "* /v1/tenants",
                "* /v1/tenants/{tenant}",
                "* /v1/tenants/{tenant}/cors",
                "* /v1/tenants/{tenant}/usage",
                "* /v1/cells*",
                "* /v1/finops/*",
            ),
        ),
    ),
)

_TOP_KEYS = {
    "currency",
    "instance",
    "instances_running",
    "target_utilisation",
    "min_replicas",
    "resources",
    "teams",
}
_TEAM_KEYS = {"name", "features", "collections"}
_INSTANCE_KEYS = {"name", "monthly_cost_eur", "vcpus", "workers"}
_RESOURCE_KEYS = {"name", "monthly_cost_eur", "driver", "service_names", "kind"}
_CURRENCY = re.compile(r"[A-Z]{3}")


def load_cost_model(path: str | Path | None) -> CostModel:
    """Read a cost model TOML file, or return the built-in default for ``None``.

    Raises :class:`CostModelError` naming the file and key for every mistake: unreadable
    file, bad TOML, missing or unknown key, wrong type, negative cost, unknown driver,
    target utilisation outside (0, 1].
    """
    if path is None:
        return DEFAULT_MODEL
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise CostModelError(f"{source}: cannot read the cost model: {e.strerror or e}") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise CostModelError(f"{source}: not valid TOML: {e}") from e
    return _Parser(source).model(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str) -> CostModelError:
        return CostModelError(f"{self.source}: {key}: {message}")

    def keys(self, table: Mapping[str, Any], prefix: str, allowed: set[str], required: set[str]) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for key in sorted(required - table.keys()):
            raise self.error(f"{prefix}{key}", "missing required key")

    def money(self, value: Any, key: str) -> Decimal:
        # Floats go through str() so 51.82 stays 51.82 and not its binary approximation.
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.error(key, f"expected an amount, got {value!r}")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.error(key, f"expected an amount, got {value!r}") from None
        if not amount.is_finite():
            raise self.error(key, f"expected a finite amount, got {value!r}")
        if amount < 0:
            raise self.error(key, f"must not be negative, got {value!r}")
        return amount

    def integer(self, value: Any, key: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected a whole number, got {value!r}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def table(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {value!r}")
        return value

    def model(self, data: Mapping[str, Any]) -> CostModel:
        self.keys(data, "", _TOP_KEYS, {"currency", "instance", "instances_running", "resources"})
        currency = self.text(data["currency"], "currency")
        if not _CURRENCY.fullmatch(currency):
            raise self.error("currency", f"expected an ISO 4217 code such as 'EUR', got {currency!r}")
        util = data.get("target_utilisation", 0.6)
        if isinstance(util, bool) or not isinstance(util, int | float) or not 0 < util <= 1:
            raise self.error("target_utilisation", f"must be a number with 0 < x <= 1, got {util!r}")
        resources_raw = data["resources"]
        if not isinstance(resources_raw, list) or not resources_raw:
            raise self.error("resources", "expected at least one [[resources]] table")
        resources = tuple(self.resource(r, i) for i, r in enumerate(resources_raw))
        self.check_unique(resources)
        return CostModel(
            currency=currency,
            resources=resources,
            instance=self.instance(data["instance"]),
            instances_running=self.integer(data["instances_running"], "instances_running", 1),
            target_utilisation=float(util),
            min_replicas=self.integer(data.get("min_replicas", 2), "min_replicas", 1),
            teams=self.teams(data.get("teams", [])),
            source=self.source,
        )

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
            raise self.error(key, f"expected a list of non-empty strings, got {value!r}")
        return tuple(value)

    def teams(self, value: Any) -> tuple[Team, ...]:
        if not isinstance(value, list):
            raise self.error("teams", "expected [[teams]] tables")
        teams: list[Team] = []
        owner: dict[str, str] = {}
        for i, raw in enumerate(value):
            prefix = f"teams[{i}]"
            table = self.table(raw, prefix)
            self.keys(table, f"{prefix}.", _TEAM_KEYS, {"name"})
            name = self.text(table["name"], f"{prefix}.name")
            if name in (UNASSIGNED_TEAM, SHARED_TEAM):
                raise self.error(f"{prefix}.name", f"{name!r} is reserved (features no team claims)")
            if any(t.name == name for t in teams):
                raise self.error(f"{prefix}.name", f"duplicate name: {name!r}")
            features = self.strings(table.get("features", []), f"{prefix}.features")
            for pattern in features:
                method, _, path = pattern.partition(" ")
                if not method or not path.startswith(("/", "*")):
                    raise self.error(
                        f"{prefix}.features",
                        f"expected 'METHOD /route/template' (METHOD may be *), got {pattern!r}",
                    )
            collections = self.strings(table.get("collections", []), f"{prefix}.collections")
            # A collection owned twice would make its cost depend on file order, silently.
            for collection in collections:
                if collection in owner:
                    raise self.error(
                        f"{prefix}.collections",
                        f"{collection!r} is already owned by team {owner[collection]!r}",
                    )
                owner[collection] = name
            if not features and not collections:
                raise self.error(prefix, "a team needs at least one of features or collections")
            teams.append(Team(name, features, collections))
        return tuple(teams)

    def instance(self, value: Any) -> Instance:
        table = self.table(value, "instance")
        self.keys(table, "instance.", _INSTANCE_KEYS, _INSTANCE_KEYS)
        return Instance(
            name=self.text(table["name"], "instance.name"),
            monthly_cost_eur=self.money(table["monthly_cost_eur"], "instance.monthly_cost_eur"),
            vcpus=self.integer(table["vcpus"], "instance.vcpus", 1),
            workers=self.integer(table["workers"], "instance.workers", 1),
        )

    def resource(self, value: Any, index: int) -> Resource:
        prefix = f"resources[{index}]"
        table = self.table(value, prefix)
        self.keys(table, f"{prefix}.", _RESOURCE_KEYS, {"name", "monthly_cost_eur", "driver"})
        driver = table["driver"]
        if driver not in DRIVERS:
            raise self.error(
                f"{prefix}.driver", f"unknown driver {driver!r} (expected one of: {', '.join(DRIVERS)})"
            )
        services = table.get("service_names", [])
        if not isinstance(services, list) or not all(isinstance(s, str) and s for s in services):
            raise self.error(f"{prefix}.service_names", f"expected a list of strings, got {services!r}")
        return Resource(
            name=self.text(table["name"], f"{prefix}.name"),
            monthly_cost_eur=self.money(table["monthly_cost_eur"], f"{prefix}.monthly_cost_eur"),
            driver=driver,
            service_names=tuple(services),
            kind=self.text(table.get("kind", "shared"), f"{prefix}.kind"),
        )

    def check_unique(self, resources: tuple[Resource, ...]) -> None:
        names: set[str] = set()
        owner: dict[str, str] = {}
        for i, r in enumerate(resources):
            if r.name in names or r.name == "unmatched":
                why = "reserved for unmatched bill lines" if r.name == "unmatched" else "duplicate name"
                raise self.error(f"resources[{i}].name", f"{why}: {r.name!r}")
            names.add(r.name)
            # A FOCUS ServiceName must map to one resource, or the real bill would be counted twice.
            for service in r.service_names:
                if service in owner:
                    raise self.error(
                        f"resources[{i}].service_names",
                        f"{service!r} is already billed to resource {owner[service]!r}",
                    )
                owner[service] = r.name
