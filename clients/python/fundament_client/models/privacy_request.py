from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.privacy_request_kind import PrivacyRequestKind
from ..models.privacy_request_status import PrivacyRequestStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.privacy_request_erased_type_0 import PrivacyRequestErasedType0


T = TypeVar("T", bound="PrivacyRequest")


@_attrs_define
class PrivacyRequest:
    """
    Attributes:
        id (str):
        kind (PrivacyRequestKind):
        status (PrivacyRequestStatus):
        created_at (datetime.datetime):
        due_at (datetime.datetime): One month after the request (Art. 12(3) GDPR).
        completed_at (datetime.datetime | None):
        erased (None | PrivacyRequestErasedType0 | Unset): Erasures: records per collection.
    """

    id: str
    kind: PrivacyRequestKind
    status: PrivacyRequestStatus
    created_at: datetime.datetime
    due_at: datetime.datetime
    completed_at: datetime.datetime | None
    erased: None | PrivacyRequestErasedType0 | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.privacy_request_erased_type_0 import PrivacyRequestErasedType0  # noqa: PLC0415

        id = self.id

        kind = self.kind.value

        status = self.status.value

        created_at = self.created_at.isoformat()

        due_at = self.due_at.isoformat()

        completed_at: None | str
        if isinstance(self.completed_at, datetime.datetime):
            completed_at = self.completed_at.isoformat()
        else:
            completed_at = self.completed_at

        erased: dict[str, Any] | None | Unset
        if isinstance(self.erased, Unset):
            erased = UNSET
        elif isinstance(self.erased, PrivacyRequestErasedType0):
            erased = self.erased.to_dict()
        else:
            erased = self.erased

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "status": status,
                "created_at": created_at,
                "due_at": due_at,
                "completed_at": completed_at,
            }
        )
        if erased is not UNSET:
            field_dict["erased"] = erased

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.privacy_request_erased_type_0 import PrivacyRequestErasedType0  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        kind = PrivacyRequestKind(d.pop("kind"))

        status = PrivacyRequestStatus(d.pop("status"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        due_at = datetime.datetime.fromisoformat(d.pop("due_at"))

        def _parse_completed_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                completed_at_type_0 = datetime.datetime.fromisoformat(data)

                return completed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        completed_at = _parse_completed_at(d.pop("completed_at"))

        def _parse_erased(data: object) -> None | PrivacyRequestErasedType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                erased_type_0 = PrivacyRequestErasedType0.from_dict(data)

                return erased_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PrivacyRequestErasedType0 | Unset, data)

        erased = _parse_erased(d.pop("erased", UNSET))

        privacy_request = cls(
            id=id,
            kind=kind,
            status=status,
            created_at=created_at,
            due_at=due_at,
            completed_at=completed_at,
            erased=erased,
        )

        privacy_request.additional_properties = d
        return privacy_request

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
