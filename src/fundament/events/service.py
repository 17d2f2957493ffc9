"""Webhook endpoints, their signing secrets, the fan-out of events to deliveries, and the
delivery job (Standard Webhooks v1).

A delivery is a row per (endpoint, event), made in the transaction that numbers the event,
with a durable job (``webhook.deliver``) that sends it. The job sends inside its own
transaction, which holds the delivery row locked: a process that dies mid-request rolls it
back, and the job's short lease lets another worker send it again (at least once, never
lost). The job answers "again at" until the delivery is done, so the schedule lives in the
delivery row, not in the queue's generic backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import orjson
from standardwebhooks.webhooks import Webhook as Signer

from fundament import jobs, tenancy
from fundament.events.delivery import AddressRefused, Outcome, Sender, check_url
from fundament.events.outbox import change_event
from fundament.events.schemas import (
    Attempt,
    ChangeEvent,
    Delivery,
    DeliveryList,
    Webhook,
    WebhookCreated,
    WebhookList,
    WebhookSecret,
)
from fundament.platform import (
    FieldError,
    NotFound,
    Tx,
    ValidationFailed,
    b64,
    encode,
    keyset_page,
    looks_like_id,
    new_id,
    open_sealed,
    rfc3339,
    seal,
    utcnow,
)

DELIVER_KIND = "webhook.deliver"
#: After a rotation the old secret still signs (as a second signature) this long.
ROTATION_OVERLAP = timedelta(hours=24)
_WEBHOOK_COLUMNS = "id, url, events, collections, enabled, disabled_reason, created_at, updated_at"
_DELIVERY_COLUMNS = "id, webhook_id, event_id, event_seq, status, attempts, log::text AS log, created_at"


@dataclass
class WebhookConfig:
    """What the webhook service needs from the composition root."""

    master: bytes
    allow_private: bool
    sender: Sender
    retry_delays: list[float]
    plans: tenancy.PlanLookup
    #: Of this process's senders, at most this many send one tenant's deliveries at once,
    #: so a tenant with slow endpoints leaves the others senders to go on with.
    local_share: int = 2
    #: Deliveries being sent by this process, per tenant.
    sending: dict[str, int] = field(default_factory=dict)

    def secret_key(self) -> bytes:
        # A key of its own for the stored signing secrets, derived from the master key.
        return hmac.new(self.master, b"fundament.webhook-secrets", hashlib.sha256).digest()


def _new_secret() -> str:
    return "whsec_" + b64(secrets.token_bytes(24))


def _seal_secret(config: WebhookConfig, tenant_id: str, webhook_id: str, secret: str) -> bytes:
    return seal(config.secret_key(), secret.encode(), aad=f"{tenant_id}/{webhook_id}".encode())


def _open_secret(config: WebhookConfig, tenant_id: str, webhook_id: str, sealed: bytes) -> str:
    return open_sealed(config.secret_key(), bytes(sealed), aad=f"{tenant_id}/{webhook_id}".encode()).decode()


async def _check_url(config: WebhookConfig, url: str) -> None:
    try:
        await check_url(url, allow_private=config.allow_private)
    except AddressRefused as exc:
        raise ValidationFailed(
            "Webhooks deliver only to public addresses.", errors=[FieldError("/url", str(exc))]
        ) from None


def _webhook(rec: asyncpg.Record) -> Webhook:
    return Webhook(
        id=rec["id"],
        url=rec["url"],
        events=list(rec["events"]),
        collections=None if rec["collections"] is None else list(rec["collections"]),
        enabled=rec["enabled"],
        disabled_reason=rec["disabled_reason"],
        created_at=rec["created_at"],
        updated_at=rec["updated_at"],
    )


async def count_webhooks(tx: Tx) -> int:
    """The tenant's endpoints, this transaction's own included (the plan's ``max_webhooks``)."""
    value: int = await tx.conn.fetchval("SELECT count(*) FROM webhooks WHERE tenant_id = $1", tx.tenant_id)
    return value


async def create_webhook(tx: Tx, config: WebhookConfig, body: dict[str, Any]) -> WebhookCreated:
    await _check_url(config, body["url"])
    webhook_id = new_id("whk")
    secret = _new_secret()
    now = utcnow()
    rec = await tx.conn.fetchrow(
        "INSERT INTO webhooks (tenant_id, id, url, events, collections, enabled, secret, created_at,"
        f" updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {_WEBHOOK_COLUMNS}",
        tx.tenant_id,
        webhook_id,
        body["url"],
        sorted(set(body["events"])),
        None if body.get("collections") is None else sorted(set(body["collections"])),
        body.get("enabled", True),
        _seal_secret(config, str(tx.tenant_id), webhook_id, secret),
        now,
    )
    tx.emit("webhook.created", "webhook", webhook_id)
    return WebhookCreated(**msgspec.structs.asdict(_webhook(rec)), secret=secret)


async def list_webhooks(tx: Tx, *, limit: int, cursor: str | None) -> WebhookList:
    page = await keyset_page(
        tx.conn,
        select=f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks",
        where=["tenant_id = $1"],
        args=[tx.tenant_id],
        key="id",
        cursor=cursor,
        limit=limit,
        build=_webhook,
        key_of=lambda w: w.id,
    )
    return WebhookList(page.items, page.next_cursor)


async def get_webhook(tx: Tx, webhook_id: str) -> Webhook:
    if not looks_like_id(webhook_id, "whk"):
        raise NotFound("No such webhook.")
    rec = await tx.conn.fetchrow(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2", tx.tenant_id, webhook_id
    )
    if rec is None:
        raise NotFound("No such webhook.")
    return _webhook(rec)


async def update_webhook(tx: Tx, config: WebhookConfig, webhook_id: str, changes: dict[str, Any]) -> Webhook:
    current = await get_webhook(tx, webhook_id)
    if changes.get("url") is not None:
        await _check_url(config, changes["url"])
    url = changes.get("url") or current.url
    events = sorted(set(changes["events"])) if changes.get("events") else current.events
    collections = current.collections
    if "collections" in changes:
        collections = None if changes["collections"] is None else sorted(set(changes["collections"]))
    enabled = current.enabled if changes.get("enabled") is None else bool(changes["enabled"])
    rec = await tx.conn.fetchrow(
        "UPDATE webhooks SET url = $3, events = $4, collections = $5, enabled = $6, updated_at = $7,"
        " disabled_reason = CASE WHEN $6 THEN NULL ELSE disabled_reason END"
        f" WHERE tenant_id = $1 AND id = $2 RETURNING {_WEBHOOK_COLUMNS}",
        tx.tenant_id,
        webhook_id,
        url,
        events,
        collections,
        enabled,
        utcnow(),
    )
    tx.emit("webhook.updated", "webhook", webhook_id, changed=sorted(changes))
    return _webhook(rec)


async def delete_webhook(tx: Tx, webhook_id: str) -> None:
    await get_webhook(tx, webhook_id)
    await tx.conn.execute("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2", tx.tenant_id, webhook_id)
    tx.emit("webhook.deleted", "webhook", webhook_id)


async def rotate_secret(tx: Tx, config: WebhookConfig, webhook_id: str) -> WebhookSecret:
    await get_webhook(tx, webhook_id)
    secret = _new_secret()
    until = utcnow() + ROTATION_OVERLAP
    await tx.conn.execute(
        "UPDATE webhooks SET previous_secret = secret, previous_until = $3, secret = $4, updated_at = now()"
        " WHERE tenant_id = $1 AND id = $2",
        tx.tenant_id,
        webhook_id,
        until,
        _seal_secret(config, str(tx.tenant_id), webhook_id, secret),
    )
    tx.emit("webhook.secret_rotated", "webhook", webhook_id)
    return WebhookSecret(secret=secret, previous_valid_until=until)


def _delivery(rec: asyncpg.Record) -> Delivery:
    attempts = msgspec.convert(orjson.loads(rec["log"]), list[Attempt], strict=False)
    last = attempts[-1] if attempts else None
    return Delivery(
        id=rec["id"],
        webhook_id=rec["webhook_id"],
        event_id=rec["event_id"],
        event_seq=rec["event_seq"],
        status=rec["status"],
        attempt=rec["attempts"],
        response_status=last.response_status if last else None,
        duration_ms=last.duration_ms if last else None,
        at=last.at if last else rec["created_at"],
        attempts=attempts,
    )


async def list_deliveries(tx: Tx, webhook_id: str, *, limit: int, cursor: str | None) -> DeliveryList:
    await get_webhook(tx, webhook_id)
    page = await keyset_page(
        tx.conn,
        select=f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries",
        where=["tenant_id = $1", "webhook_id = $2"],
        args=[tx.tenant_id, webhook_id],
        key="id",
        cursor=cursor,
        limit=limit,
        build=_delivery,
        key_of=lambda d: d.id,
    )
    return DeliveryList(page.items, page.next_cursor)


async def replay(tx: Tx, webhook_id: str, delivery_id: str) -> Delivery:
    """Send a delivery again from the first attempt (its log is kept)."""
    await get_webhook(tx, webhook_id)
    if not looks_like_id(delivery_id, "dlv"):
        raise NotFound("No such delivery.")
    rec = await tx.conn.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, updated_at = now()"
        f" WHERE tenant_id = $1 AND webhook_id = $2 AND id = $3 RETURNING {_DELIVERY_COLUMNS}",
        tx.tenant_id,
        webhook_id,
        delivery_id,
    )
    if rec is None:
        raise NotFound("No such delivery.")
    await jobs.enqueue(tx, DELIVER_KIND, delivery_id, sooner=True)
    tx.emit("webhook.delivery_replayed", "webhook", webhook_id, delivery=delivery_id)
    return _delivery(rec)


async def fan_out(tx: Tx, events: list[asyncpg.Record]) -> None:
    """Schedule a delivery of each new event to each enabled endpoint that wants it."""
    hooks = await tx.conn.fetch(
        "SELECT id, events, collections FROM webhooks WHERE tenant_id = $1 AND enabled", tx.tenant_id
    )
    if not hooks:
        return
    rows: list[tuple[str, str, str, int]] = []
    for event in events:
        for hook in hooks:
            wanted = hook["collections"]
            if event["type"] in hook["events"] and (wanted is None or event["collection"] in wanted):
                rows.append((new_id("dlv"), hook["id"], event["id"], event["seq"]))
    if not rows:
        return
    await tx.conn.execute(
        "INSERT INTO webhook_deliveries (tenant_id, id, webhook_id, event_id, event_seq, status,"
        " created_at, updated_at) SELECT $1, i, w, e, s, 'pending', now(), now()"
        " FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS u (i, w, e, s)",
        tx.tenant_id,
        *zip(*rows, strict=True),
    )
    await jobs.enqueue_many(tx, DELIVER_KIND, [r[0] for r in rows])


_SLOT = (
    "SELECT s FROM generate_series(0, $2::int - 1) AS s"
    " WHERE pg_try_advisory_xact_lock(hashtext('fundament.webhooks:' || $1), s) LIMIT 1"
)
#: How soon a delivery that found every in-flight slot of its tenant taken looks again.
_NO_SLOT_DELAY = timedelta(milliseconds=500)
_MAX_RETRY_AFTER = 86_400.0


def payload(event: ChangeEvent) -> bytes:
    """The delivery body: Standard Webhooks' ``{"type", "timestamp", "data"}``."""
    return orjson.dumps(
        {"type": event.type, "timestamp": rfc3339(event.at), "data": msgspec.to_builtins(event)}
    )


def signature(keys: list[str], msg_id: str, at: datetime, body: bytes) -> str:
    """``webhook-signature``: one ``v1,…`` per secret in force, space-separated."""
    text = body.decode()
    return " ".join(Signer(k).sign(msg_id, at, text) for k in keys)


def next_attempt(delays: list[float], attempts: int, outcome: Outcome) -> datetime | None:
    """When to try again after ``attempts`` failed ones, or None: no more tries."""
    if attempts > len(delays):
        return None
    delay = delays[attempts - 1] * random.uniform(1.0, 1.2)
    if outcome.retry_after is not None:
        # Honoured up to a day: an endpoint may slow its own deliveries, not park them for good.
        delay = max(delay, min(outcome.retry_after, _MAX_RETRY_AFTER))
    return utcnow() + timedelta(seconds=delay)


def deliver_handler(config: WebhookConfig) -> jobs.Handler:
    async def handle(tx: Tx, job: jobs.Job, now: datetime) -> datetime | None:
        return await deliver(tx, config, job.ref)

    return handle


async def _attempt(
    tx: Tx, config: WebhookConfig, tenant_id: str, rec: asyncpg.Record
) -> Outcome | None:
    """Send the delivery once, in one of the tenant's in-flight slots (None: none free)."""
    plan = await config.plans.plan_of(tenant_id)
    slots = plan.max_inflight_deliveries if plan is not None else 1
    if await tx.conn.fetchval(_SLOT, tenant_id, slots) is None:
        return None
    event = change_event(rec)
    body = payload(event)
    keys = [_open_secret(config, tenant_id, rec["webhook_id"], rec["secret"])]
    if rec["previous_secret"] is not None and rec["previous_until"] > utcnow():
        keys.append(_open_secret(config, tenant_id, rec["webhook_id"], rec["previous_secret"]))
    sent_at = utcnow()
    headers = [
        (b"content-type", b"application/json"),
        (b"user-agent", b"Fundament-Webhooks/1"),
        (b"webhook-id", event.id.encode()),
        (b"webhook-timestamp", str(int(sent_at.timestamp())).encode()),
        (b"webhook-signature", signature(keys, event.id, sent_at, body).encode()),
    ]
    return await config.sender.post(rec["url"], headers, body, sent_at=sent_at)


async def deliver(tx: Tx, config: WebhookConfig, delivery_id: str) -> datetime | None:
    """Make the delivery's next attempt; when to make another, or None when it is done."""
    rec = await tx.conn.fetchrow(
        "SELECT d.status, d.attempts, d.webhook_id, d.event_id, d.event_seq, w.url, w.enabled,"
        " w.secret, w.previous_secret, w.previous_until, e.type, e.collection, e.record_id,"
        " e.at AS event_at, e.data::text AS data FROM webhook_deliveries d"
        " JOIN webhooks w ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id"
        " LEFT JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id"
        " WHERE d.tenant_id = $1 AND d.id = $2 FOR UPDATE OF d SKIP LOCKED",
        tx.tenant_id,
        delivery_id,
    )
    if rec is None or rec["status"] != "pending":
        return None  # deleted with its endpoint, done, or being sent by another worker
    tenant_id = str(tx.tenant_id)
    if not rec["enabled"] or rec["type"] is None:
        reason = "the endpoint is disabled" if not rec["enabled"] else "the event is past retention"
        # Not an attempt, but the log says why the delivery stopped.
        stopped = Outcome(None, 0, "", reason, None)
        await _record(tx, delivery_id, rec["attempts"], "failed", stopped)
        return None
    if config.sending.get(tenant_id, 0) >= config.local_share:
        return utcnow() + _NO_SLOT_DELAY
    # Taken before the first await: two senders of this process cannot both pass the check.
    config.sending[tenant_id] = config.sending.get(tenant_id, 0) + 1
    try:
        outcome = await _attempt(tx, config, tenant_id, rec)
    finally:
        config.sending[tenant_id] -= 1
        if not config.sending[tenant_id]:
            del config.sending[tenant_id]
    if outcome is None:  # every in-flight slot of the tenant is taken
        return utcnow() + _NO_SLOT_DELAY
    attempts = rec["attempts"] + 1
    if outcome.delivered:
        await _record(tx, delivery_id, attempts, "delivered", outcome)
        return None
    if outcome.status == 410:
        await tx.conn.execute(
            "UPDATE webhooks SET enabled = false, updated_at = now(),"
            " disabled_reason = 'The endpoint answered 410 Gone.' WHERE tenant_id = $1 AND id = $2",
            tx.tenant_id,
            rec["webhook_id"],
        )
        tx.emit("webhook.disabled", "webhook", rec["webhook_id"], status=410)
        await _record(tx, delivery_id, attempts, "failed", outcome)
        return None
    again = next_attempt(config.retry_delays, attempts, outcome)
    await _record(tx, delivery_id, attempts, "pending" if again else "failed", outcome)
    return again


async def _record(tx: Tx, delivery_id: str, attempts: int, status: str, outcome: Outcome) -> None:
    """The delivery's state after an attempt, and the attempt in its log."""
    entry = Attempt(
        attempt=attempts,
        at=outcome.sent_at,
        response_status=outcome.status,
        duration_ms=outcome.duration_ms,
        response=outcome.response,
        error=outcome.error,
    )
    await tx.conn.execute(
        "UPDATE webhook_deliveries SET status = $3, attempts = $4, updated_at = now(),"
        # The newest 50 attempts: replays may add attempts without end.
        " log = (SELECT coalesce(jsonb_agg(a ORDER BY o), '[]') FROM (SELECT a, o FROM"
        " jsonb_array_elements(log || $5::jsonb) WITH ORDINALITY AS x (a, o) ORDER BY o DESC LIMIT 50) AS k)"
        " WHERE tenant_id = $1 AND id = $2",
        tx.tenant_id,
        delivery_id,
        status,
        attempts,
        encode([entry]).decode(),
    )
