from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SubjectRequest")


@_attrs_define
class SubjectRequest:
    """
    Attributes:
        subject (str): The value of a collection's `subject_field` that identifies the person.
    """

    subject: str

    def to_dict(self) -> dict[str, Any]:
        subject = self.subject

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "subject": subject,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        subject = d.pop("subject")

        subject_request = cls(
            subject=subject,
        )

        return subject_request
