from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

T = TypeVar("T", bound="CorsSettings")


@_attrs_define
class CorsSettings:
    """The browser origins allowed to call the tenant's paths (CORS).

    Attributes:
        allowed_origins (list[str]): At most 20, kept once each in the order given, as stored: host lowercased, a
            default port (`:443` for https, `:80` for http) dropped. Empty: no browser origin may call the tenant's paths
            (besides the operator's, FUNDAMENT_CORS_OPERATOR_ORIGINS).
    """

    allowed_origins: list[str]

    def to_dict(self) -> dict[str, Any]:
        allowed_origins = self.allowed_origins

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "allowed_origins": allowed_origins,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        allowed_origins = cast(list[str], d.pop("allowed_origins"))

        cors_settings = cls(
            allowed_origins=allowed_origins,
        )

        return cors_settings
