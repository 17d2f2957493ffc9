from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.feature_usage import FeatureUsage


T = TypeVar("T", bound="UsageBucket")


@_attrs_define
class UsageBucket:
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
        start (datetime.datetime):
        stored_bytes (int | None): Last storage sample in this bucket, if any.
        records (int | None):
        features (list[FeatureUsage]):
    """

    requests: int
    errors: int
    server_errors: int
    server_ms: float
    db_ms: float
    bytes_in: int
    bytes_out: int
    p99_ms: float | None
    start: datetime.datetime
    stored_bytes: int | None
    records: int | None
    features: list[FeatureUsage]
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

        start = self.start.isoformat()

        stored_bytes: int | None
        stored_bytes = self.stored_bytes

        records: int | None
        records = self.records

        features = []
        for features_item_data in self.features:
            features_item = features_item_data.to_dict()
            features.append(features_item)

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
                "start": start,
                "stored_bytes": stored_bytes,
                "records": records,
                "features": features,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.feature_usage import FeatureUsage  # noqa: PLC0415

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

        start = datetime.datetime.fromisoformat(d.pop("start"))

        def _parse_stored_bytes(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        stored_bytes = _parse_stored_bytes(d.pop("stored_bytes"))

        def _parse_records(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        records = _parse_records(d.pop("records"))

        features = []
        _features = d.pop("features")
        for features_item_data in _features:
            features_item = FeatureUsage.from_dict(features_item_data)

            features.append(features_item)

        usage_bucket = cls(
            requests=requests,
            errors=errors,
            server_errors=server_errors,
            server_ms=server_ms,
            db_ms=db_ms,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            p99_ms=p99_ms,
            start=start,
            stored_bytes=stored_bytes,
            records=records,
            features=features,
        )

        usage_bucket.additional_properties = d
        return usage_bucket

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
