from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.usage_granularity import UsageGranularity

if TYPE_CHECKING:
    from ..models.feature_usage import FeatureUsage
    from ..models.usage_bucket import UsageBucket
    from ..models.usage_figures import UsageFigures


T = TypeVar("T", bound="Usage")


@_attrs_define
class Usage:
    """
    Attributes:
        tenant_id (str):
        from_ (datetime.datetime):
        to (datetime.datetime):
        granularity (UsageGranularity):
        totals (UsageFigures):
        stored_bytes (int): Latest measurement of the tenant's stored record bytes.
        records (int):
        storage_measured_at (datetime.datetime | None):
        features (list[FeatureUsage]):
        buckets (list[UsageBucket]):
    """

    tenant_id: str
    from_: datetime.datetime
    to: datetime.datetime
    granularity: UsageGranularity
    totals: UsageFigures
    stored_bytes: int
    records: int
    storage_measured_at: datetime.datetime | None
    features: list[FeatureUsage]
    buckets: list[UsageBucket]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tenant_id = self.tenant_id

        from_ = self.from_.isoformat()

        to = self.to.isoformat()

        granularity = self.granularity.value

        totals = self.totals.to_dict()

        stored_bytes = self.stored_bytes

        records = self.records

        storage_measured_at: None | str
        if isinstance(self.storage_measured_at, datetime.datetime):
            storage_measured_at = self.storage_measured_at.isoformat()
        else:
            storage_measured_at = self.storage_measured_at

        features = []
        for features_item_data in self.features:
            features_item = features_item_data.to_dict()
            features.append(features_item)

        buckets = []
        for buckets_item_data in self.buckets:
            buckets_item = buckets_item_data.to_dict()
            buckets.append(buckets_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "tenant_id": tenant_id,
                "from": from_,
                "to": to,
                "granularity": granularity,
                "totals": totals,
                "stored_bytes": stored_bytes,
                "records": records,
                "storage_measured_at": storage_measured_at,
                "features": features,
                "buckets": buckets,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.feature_usage import FeatureUsage  # noqa: PLC0415
        from ..models.usage_bucket import UsageBucket  # noqa: PLC0415
        from ..models.usage_figures import UsageFigures  # noqa: PLC0415

        d = dict(src_dict)
        tenant_id = d.pop("tenant_id")

        from_ = datetime.datetime.fromisoformat(d.pop("from"))

        to = datetime.datetime.fromisoformat(d.pop("to"))

        granularity = UsageGranularity(d.pop("granularity"))

        totals = UsageFigures.from_dict(d.pop("totals"))

        stored_bytes = d.pop("stored_bytes")

        records = d.pop("records")

        def _parse_storage_measured_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                storage_measured_at_type_0 = datetime.datetime.fromisoformat(data)

                return storage_measured_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        storage_measured_at = _parse_storage_measured_at(d.pop("storage_measured_at"))

        features = []
        _features = d.pop("features")
        for features_item_data in _features:
            features_item = FeatureUsage.from_dict(features_item_data)

            features.append(features_item)

        buckets = []
        _buckets = d.pop("buckets")
        for buckets_item_data in _buckets:
            buckets_item = UsageBucket.from_dict(buckets_item_data)

            buckets.append(buckets_item)

        usage = cls(
            tenant_id=tenant_id,
            from_=from_,
            to=to,
            granularity=granularity,
            totals=totals,
            stored_bytes=stored_bytes,
            records=records,
            storage_measured_at=storage_measured_at,
            features=features,
            buckets=buckets,
        )

        usage.additional_properties = d
        return usage

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
