from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="FeatureUsage")


@_attrs_define
class FeatureUsage:
    """
    Attributes:
        requests (int):
        errors (int): Answers with status 4xx or 5xx.
        server_errors (int): Answers with status 5xx.
        server_ms (float): Server time, milliseconds.
        db_ms (float): Database time (transactions, pool wait included), milliseconds.
        bytes_in (int):
        bytes_out (int):
        p99_ms (float | None): 99th percentile of server time, milliseconds, from a fixed-bucket histogram (interpolated
            within its bucket); null without measured requests.
        feature (str):
    """

    requests: int
    errors: int
    server_errors: int
    server_ms: float
    db_ms: float
    bytes_in: int
    bytes_out: int
    p99_ms: float | None
    feature: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        requests = self.requests

        errors = self.errors

        server_errors = self.server_errors

        server_ms = self.server_ms

        db_ms = self.db_ms

        bytes_in = self.bytes_in

        bytes_out = self.bytes_out

        p99_ms: float | None
        p99_ms = self.p99_ms

        feature = self.feature

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "requests": requests,
                "errors": errors,
                "server_errors": server_errors,
                "server_ms": server_ms,
                "db_ms": db_ms,
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
                "p99_ms": p99_ms,
                "feature": feature,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        requests = d.pop("requests")

        errors = d.pop("errors")

        server_errors = d.pop("server_errors")

        server_ms = d.pop("server_ms")

        db_ms = d.pop("db_ms")

        bytes_in = d.pop("bytes_in")

        bytes_out = d.pop("bytes_out")

        def _parse_p99_ms(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        p99_ms = _parse_p99_ms(d.pop("p99_ms"))

        feature = d.pop("feature")

        feature_usage = cls(
            requests=requests,
            errors=errors,
            server_errors=server_errors,
            server_ms=server_ms,
            db_ms=db_ms,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            p99_ms=p99_ms,
            feature=feature,
        )

        feature_usage.additional_properties = d
        return feature_usage

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
