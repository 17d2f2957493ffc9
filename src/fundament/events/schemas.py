"""Request models (pydantic, which validates them) and response shapes (msgspec Structs,
which encode them) of change events and webhooks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from pydantic import BaseModel, ConfigDict, Field

from fundament.platform import Page, Timestamp, not_null

EventType = Literal[
    "record.created",
    "record.updated",
    "record.deleted",
    "collection.created",
    "collection.updated",
    "collection.deleted",
]
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s/?#@]+(/[^\s]*)?$",
        description="Where deliveries are POSTed: `http` or `https`. Refused (422) if its host resolves "
        "to a loopback, link-local, private or metadata address; checked again at every delivery.",
    ),
]
CollectionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
#: Strict: JSON `0` is not `false`.
Enabled = Annotated[bool, Field(strict=True)]
EventTypes = Annotated[
    list[EventType], Field(min_length=1, max_length=6, description="The event types to deliver.")
]
Collections = Annotated[
    list[CollectionName],
    Field(max_length=100, description="Deliver only changes of these collections; absent or null: all."),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url
    events: EventTypes
    collections: Collections | None = None
    enabled: Enabled = True


class WebhookPatch(BaseModel):
    """JSON Merge Patch of an endpoint; ``collections: null`` delivers every collection again."""

    model_config = ConfigDict(extra="forbid")
    url: Url | None = Field(default=None, json_schema_extra=not_null)
    events: EventTypes | None = Field(default=None, json_schema_extra=not_null)
    collections: Collections | None = None
    enabled: Enabled | None = Field(default=None, json_schema_extra=not_null)


class ChangeEvent(Struct, frozen=True):
    """A change: what the outbox holds, what a delivery carries as ``data``."""

    id: str
    seq: Annotated[int, Meta(description="Gap-free per tenant, in commit order.")]
    type: EventType
    collection: str
    record_id: str | None
    at: Timestamp
    data: Annotated[
        dict[str, Any],
        Meta(description='The record\'s data after the change; `{"id"}` only for a delete.'),
    ]


class Webhook(Struct, frozen=True):
    id: str
    url: str
    events: list[str]
    collections: list[str] | None
    enabled: bool
    disabled_reason: Annotated[
        str | None, Meta(description="Why delivery stopped by itself (the endpoint answered 410).")
    ]
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(Webhook, frozen=True):
    secret: Annotated[
        str, Meta(description="The signing secret (`whsec_…`), shown only here and on rotation.")
    ]


class WebhookList(Page[Webhook], frozen=True):
    pass


class WebhookSecret(Struct, frozen=True):
    secret: Annotated[str, Meta(description="The new signing secret (`whsec_…`), shown only here.")]
    previous_valid_until: Annotated[
        Timestamp, Meta(description="Until then deliveries carry the old secret's signature too.")
    ]


class Attempt(Struct, frozen=True):
    attempt: int
    at: Timestamp
    response_status: int | None
    duration_ms: int
    response: Annotated[str, Meta(description="The answer's first 1 kB.")]
    error: str | None


class Delivery(Struct, frozen=True):
    id: str
    webhook_id: str
    event_id: str
    event_seq: int
    status: Literal["pending", "delivered", "failed"]
    attempt: Annotated[int, Meta(description="Attempts made so far.")]
    response_status: Annotated[int | None, Meta(description="The last attempt's answer.")]
    duration_ms: Annotated[int | None, Meta(description="The last attempt's latency.")]
    at: Annotated[Timestamp, Meta(description="When the last attempt (or the delivery) was made.")]
    attempts: Annotated[list[Attempt], Meta(description="Every attempt, oldest first.")]


class DeliveryList(Page[Delivery], frozen=True):
    pass
