"""Response shapes of the gateway's migration report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from fundament.platform import Page, Timestamp

Ms = Annotated[float | None, Meta(description="Milliseconds; null before the first sample.")]


class GatewayDifference(Struct, frozen=True):
    path: Annotated[
        str,
        Meta(description="`status`, `header:NAME`, or a JSON Pointer into the body (`` : the whole body)."),
    ]
    legacy: Annotated[
        Any, Meta(description="Legacy's value there (`(absent)`: none; personal: `[redacted]`).")
    ]
    fundament: Annotated[Any, Meta(description="Fundament's value there, the same way.")]


class GatewayExample(Struct, frozen=True):
    """One mismatching request, redacted of personal fields."""

    at: Timestamp
    method: str
    path: str
    legacy_status: int
    fundament_status: int
    differences: list[GatewayDifference]


class GatewayRoute(Struct, frozen=True):
    """One route of the gateway's table, with the evidence to flip it (this process's
    counts since it started; a reload keeps them)."""

    match: Annotated[
        str,
        Meta(
            examples=["GET /api/customers/{id}"],
            description="`METHODS PATH` as configured; `(unmatched)`: what no route matched (legacy).",
        ),
    ]
    mode: Literal["legacy", "fundament", "shadow"]
    requests: Annotated[int, Meta(ge=0)]
    share: Annotated[
        float, Meta(ge=0, le=1, description="This route's part of all requests the gateway served.")
    ]
    compared: Annotated[int, Meta(ge=0, description="Shadow comparisons made.")]
    mismatches: Annotated[
        int, Meta(ge=0, description="Comparisons that differed beyond ignored and learned noise.")
    ]
    mismatch_rate: (
        Annotated[float, Meta(ge=0, le=1, description="mismatches / compared; null before a comparison.")]
        | None
    )
    dropped: Annotated[
        int, Meta(ge=0, description="Shadow requests not sent: too many under way, or too large.")
    ]
    failed: Annotated[
        int, Meta(ge=0, description="Shadow requests Fundament did not answer (error, timeout).")
    ]
    noise: Annotated[
        list[str], Meta(description="Paths learned as noise: they differ between two legacy answers.")
    ]
    legacy_p50_ms: Ms
    legacy_p99_ms: Ms
    fundament_p50_ms: Ms
    fundament_p99_ms: Ms
    examples: Annotated[list[GatewayExample], Meta(description="The latest mismatches, newest last.")]


class GatewayRouteList(Page[GatewayRoute], frozen=True):
    pass
