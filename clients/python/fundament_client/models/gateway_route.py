from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.gateway_route_mode import GatewayRouteMode

if TYPE_CHECKING:
    from ..models.gateway_example import GatewayExample


T = TypeVar("T", bound="GatewayRoute")


@_attrs_define
class GatewayRoute:
    """One route of the gateway's table, with the evidence to flip it (this process's
    counts since it started; a reload keeps them).

        Attributes:
            match (str): `METHODS PATH` as configured; `(unmatched)`: what no route matched (legacy).
            mode (GatewayRouteMode):
            requests (int):
            share (float): This route's part of all requests the gateway served.
            compared (int): Shadow comparisons made.
            mismatches (int): Comparisons that differed beyond ignored and learned noise.
            mismatch_rate (float | None):
            dropped (int): Shadow requests not sent: too many under way, or too large.
            failed (int): Shadow requests Fundament did not answer (error, timeout).
            noise (list[str]): Paths learned as noise: they differ between two legacy answers.
            legacy_p50_ms (float | None): Milliseconds; null before the first sample.
            legacy_p99_ms (float | None): Milliseconds; null before the first sample.
            fundament_p50_ms (float | None): Milliseconds; null before the first sample.
            fundament_p99_ms (float | None): Milliseconds; null before the first sample.
            examples (list[GatewayExample]): The latest mismatches, newest last.
    """

    match: str
    mode: GatewayRouteMode
    requests: int
    share: float
    compared: int
    mismatches: int
    mismatch_rate: float | None
    dropped: int
    failed: int
    noise: list[str]
    legacy_p50_ms: float | None
    legacy_p99_ms: float | None
    fundament_p50_ms: float | None
    fundament_p99_ms: float | None
    examples: list[GatewayExample]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        match = self.match

        mode = self.mode.value

        requests = self.requests

        share = self.share

        compared = self.compared

        mismatches = self.mismatches

        mismatch_rate: float | None
        mismatch_rate = self.mismatch_rate

        dropped = self.dropped

        failed = self.failed

        noise = self.noise

        legacy_p50_ms: float | None
        legacy_p50_ms = self.legacy_p50_ms

        legacy_p99_ms: float | None
        legacy_p99_ms = self.legacy_p99_ms

        fundament_p50_ms: float | None
        fundament_p50_ms = self.fundament_p50_ms

        fundament_p99_ms: float | None
        fundament_p99_ms = self.fundament_p99_ms

        examples = []
        for examples_item_data in self.examples:
            examples_item = examples_item_data.to_dict()
            examples.append(examples_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "match": match,
                "mode": mode,
                "requests": requests,
                "share": share,
                "compared": compared,
                "mismatches": mismatches,
                "mismatch_rate": mismatch_rate,
                "dropped": dropped,
                "failed": failed,
                "noise": noise,
                "legacy_p50_ms": legacy_p50_ms,
                "legacy_p99_ms": legacy_p99_ms,
                "fundament_p50_ms": fundament_p50_ms,
                "fundament_p99_ms": fundament_p99_ms,
                "examples": examples,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.gateway_example import GatewayExample  # noqa: PLC0415

        d = dict(src_dict)
        match = d.pop("match")

        mode = GatewayRouteMode(d.pop("mode"))

        requests = d.pop("requests")

        share = d.pop("share")

        compared = d.pop("compared")

        mismatches = d.pop("mismatches")

        def _parse_mismatch_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        mismatch_rate = _parse_mismatch_rate(d.pop("mismatch_rate"))

        dropped = d.pop("dropped")

        failed = d.pop("failed")

        noise = cast(list[str], d.pop("noise"))

        def _parse_legacy_p50_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        legacy_p50_ms = _parse_legacy_p50_ms(d.pop("legacy_p50_ms"))

        def _parse_legacy_p99_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        legacy_p99_ms = _parse_legacy_p99_ms(d.pop("legacy_p99_ms"))

        def _parse_fundament_p50_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        fundament_p50_ms = _parse_fundament_p50_ms(d.pop("fundament_p50_ms"))

        def _parse_fundament_p99_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        fundament_p99_ms = _parse_fundament_p99_ms(d.pop("fundament_p99_ms"))

        examples = []
        _examples = d.pop("examples")
        for examples_item_data in _examples:
            examples_item = GatewayExample.from_dict(examples_item_data)

            examples.append(examples_item)

        gateway_route = cls(
            match=match,
            mode=mode,
            requests=requests,
            share=share,
            compared=compared,
            mismatches=mismatches,
            mismatch_rate=mismatch_rate,
            dropped=dropped,
            failed=failed,
            noise=noise,
            legacy_p50_ms=legacy_p50_ms,
            legacy_p99_ms=legacy_p99_ms,
            fundament_p50_ms=fundament_p50_ms,
            fundament_p99_ms=fundament_p99_ms,
            examples=examples,
        )

        gateway_route.additional_properties = d
        return gateway_route

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
