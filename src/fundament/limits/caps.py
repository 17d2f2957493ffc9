"""Plan caps on how many of a resource a tenant holds (collections, keys, users, ...).

One mechanism for every resource: a :class:`Cap` names the plan field, the write events
that add one, and the owning module's count. The :class:`CapGuard` is a before-commit hook,
so it sees every create of every route and job without any of them knowing about plans.
When a transaction emitted a capped create, the guard takes a per-tenant advisory lock and
counts inside the transaction, which already holds its own new rows: concurrent creates of
one tenant are serialised at the lock, and the one that comes second counts after the first
committed (each READ COMMITTED statement sees what committed before it began), so two
creates at ``cap - 1`` cannot both pass, on any number of instances. A refused create
raises before commit: nothing of it is kept. Creates are rare admin writes, so counting
exactly every time costs nothing that matters; record writes only pay a dict lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from fundament import identity, records
from fundament.platform import QuotaExceeded, T, Tx
from fundament.tenancy import PlanLookup

#: Counts a resource of the transaction's tenant, the transaction's own writes included.
Counter = Callable[[Tx], Awaitable[int]]

# Its own key (not the quota's): a create waits only for other creates of its tenant.
# Lock order is fixed: this hook runs before the quota guard's, which takes its lock second.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('fundament.caps:' || $1, 0))"


@dataclass(frozen=True, slots=True)
class Cap:
    """A plan field bounding how many of one resource a tenant may hold."""

    #: The :class:`~fundament.tenancy.Plan` field, e.g. ``max_collections``.
    quota: str
    #: Write events (``tx.emit`` actions) after which the count is due.
    adds: tuple[str, ...]
    count: Counter
    #: Problem type of the refusal (``T.QUOTA_...``).
    problem_type: str
    #: The resource in words, plural, for the problem's detail.
    noun: str


def caps(*, count_open_privacy_jobs: Counter, count_webhooks: Counter) -> list[Cap]:
    """Every cap the plans carry. ``privacy`` and ``events`` are beside limits, not below
    it, so the composition root hands their counts in."""
    return [
        Cap(
            "max_collections",
            ("collection.created",),
            records.count_collections,
            T.QUOTA_COLLECTIONS,
            "collections",
        ),
        Cap(
            "max_api_keys",
            ("api_key.created",),
            identity.count_active_api_keys,
            T.QUOTA_API_KEYS,
            "active API keys",
        ),
        Cap("max_users", ("user.created",), identity.count_users, T.QUOTA_USERS, "users"),
        Cap(
            "max_indexes_per_collection",
            ("collection.created", "collection.updated"),
            records.count_widest_indexes,
            T.QUOTA_INDEXES,
            "indexes in one collection",
        ),
        Cap(
            "max_open_privacy_jobs",
            ("privacy.export_requested", "privacy.erasure_requested"),
            count_open_privacy_jobs,
            T.QUOTA_OPEN_PRIVACY_JOBS,
            "open privacy requests (exports and erasures not yet done)",
        ),
        Cap("max_webhooks", ("webhook.created",), count_webhooks, T.QUOTA_WEBHOOKS, "webhook endpoints"),
    ]


class CapGuard:
    """Before-commit hook refusing a create that would take a tenant over a plan cap."""

    def __init__(self, plans: PlanLookup, caps: Iterable[Cap]) -> None:
        self._plans = plans
        self._by_action: dict[str, list[Cap]] = {}
        for cap in caps:
            for action in cap.adds:
                self._by_action.setdefault(action, []).append(cap)

    async def before_commit(self, tx: Tx) -> None:
        tenant_id = tx.tenant_id
        if tenant_id is None:
            return
        by_action = self._by_action
        due: list[Cap] = []
        for event in tx.events:
            for cap in by_action.get(event.action, ()):
                if cap not in due:
                    due.append(cap)
        if not due:
            return
        plan = await self._plans.plan_of(tenant_id)
        if plan is None:
            return
        await tx.conn.execute(_LOCK, tenant_id)
        for cap in due:
            limit: int = getattr(plan, cap.quota)
            held = await cap.count(tx)
            if held > limit:
                raise QuotaExceeded(
                    f"The plan '{plan.name}' allows {limit} {cap.noun}; this write would make {held}."
                    " Nothing was written.",
                    type=cap.problem_type,
                    extra={"quota": cap.quota, "limit": limit, "plan": plan.name},
                )
