"""Events: the transactional outbox of changes and signed webhooks (Standard Webhooks)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, Protocol

from fundament import jobs, records, tenancy
from fundament.events.delivery import AddressRefused, Sender, check_url
from fundament.events.feed import Feeds
from fundament.events.outbox import EVENT_TYPES, PRUNE_KIND, Sequencer, prune_handler, record_pending
from fundament.events.service import DELIVER_KIND, WebhookConfig, count_webhooks, deliver_handler, fan_out
from fundament.platform import Authenticator, Database, Settings

__all__ = [
    "EVENT_TYPES",
    "AddressRefused",
    "Events",
    "Needs",
    "Sequencer",
    "WebhookConfig",
    "check_url",
    "count_webhooks",
    "install",
]


#: A delivery's job lease is its timeout plus this: long enough for the attempt's few
#: statements around the request, short enough that a crashed sender's delivery is soon
#: another's (the issue's bound: delivered within 90 s of a restart).
LEASE_MARGIN_SECONDS = 5.0


class Needs(Protocol):
    """What the webhook and stream routes read from the services object."""

    @property
    def events(self) -> Events: ...

    @property
    def records(self) -> records.RecordsState: ...

    @property
    def authenticator(self) -> Authenticator: ...


class Events:
    """The module's running parts: the sequencer, and the workers that send deliveries."""

    def __init__(self, db: Database, settings: Settings, config: WebhookConfig) -> None:
        retention = timedelta(hours=settings.event_retention_hours)
        self.config = config
        self.sequencer = Sequencer(db, retention=retention, fan_out=fan_out, on_sequenced=self._wake_up)
        # A lease just past one attempt's timeout: a crashed sender's delivery is taken over
        # soon, not after the export-sized lease of the other jobs.
        self.worker = jobs.Worker(
            db,
            {DELIVER_KIND: deliver_handler(config), PRUNE_KIND: prune_handler(retention)},
            lease=timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS),
            max_attempts=settings.job_max_attempts,
            poll_seconds=settings.job_poll_seconds,
        )
        self.feeds = Feeds(db, max_seconds=settings.event_stream_max_seconds)
        self._senders = settings.webhook_workers
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _wake_up(self, tenant_id: str) -> None:
        self._wake.set()

    def start(self, *, deliver: bool) -> None:
        """Start the sweep for unnumbered changes, and (``deliver``) the delivery workers."""
        self.sequencer.start()
        if deliver:
            self._tasks = [asyncio.create_task(self._send_forever()) for _ in range(self._senders)]

    async def _send_forever(self) -> None:
        while True:
            try:
                if await self.worker.run_once() == 0:
                    self._wake.clear()
                    # Woken by this process's new events; others' show up by polling.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.worker.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away; try again shortly
                await asyncio.sleep(self.worker.poll_seconds * 5)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sequencer.close()
        await self.config.sender.close()


def install(
    app: Any, *, db: Database, settings: Settings, master: bytes, plans: tenancy.PlanLookup
) -> Events:
    """Mount the webhook routes and write every change to the outbox in its own transaction;
    return the running parts (the app starts and closes them)."""
    from fundament.events.api import feeds_router, router

    config = WebhookConfig(
        master=master,
        allow_private=settings.webhook_allow_private,
        sender=Sender(allow_private=settings.webhook_allow_private, timeout=settings.webhook_timeout_seconds),
        retry_delays=settings.webhook_retry_delays(),
        plans=plans,
        local_share=max(1, settings.webhook_workers // 2),
    )
    events = Events(db, settings, config)
    if settings.events:
        db.before_commit.append(record_pending)
        db.after_commit.append(events.sequencer.after_commit)
    app.include_router(router)
    app.include_router(feeds_router)
    return events
