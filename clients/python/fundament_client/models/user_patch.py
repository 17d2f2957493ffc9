from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.user_patch_role import UserPatchRole
from ..types import UNSET, Unset

T = TypeVar("T", bound="UserPatch")


@_attrs_define
class UserPatch:
    """A JSON Merge Patch: ``name`` may be removed (``null``), ``email`` and ``role`` not.

    Attributes:
        email (str | Unset):
        name (None | str | Unset):
        role (UserPatchRole | Unset):
    """

    email: str | Unset = UNSET
    name: None | str | Unset = UNSET
    role: UserPatchRole | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        email = self.email

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        role: str | Unset = UNSET
        if not isinstance(self.role, Unset):
            role = self.role.value

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if email is not UNSET:
            field_dict["email"] = email
        if name is not UNSET:
            field_dict["name"] = name
        if role is not UNSET:
            field_dict["role"] = role

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        email = d.pop("email", UNSET)

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        _role = d.pop("role", UNSET)
        role: UserPatchRole | Unset
        if isinstance(_role, Unset):
            role = UNSET
        else:
            role = UserPatchRole(_role)

        user_patch = cls(
            email=email,
            name=name,
            role=role,
        )

        return user_patch
