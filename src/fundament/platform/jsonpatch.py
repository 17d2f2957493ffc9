"""JSON Merge Patch, RFC 7396 §2.

Written here rather than taken from a library: the algorithm is the RFC's ten-line
pseudocode, and the PyPI packages for it are unmaintained.
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` and return the result; neither input is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def refuse_removal(document: dict[str, Any], fields: tuple[str, ...]) -> None:
    """A merge patch removes a member with ``null``; refuse that for required members (422)."""
    from fundament.platform.errors import FieldError, ValidationFailed

    removed = [f for f in fields if f in document and document[f] is None]
    if removed:
        raise ValidationFailed(
            f"{', '.join(repr(f) for f in removed)} cannot be removed.",
            errors=[FieldError(f"/{f}", "may not be null") for f in removed],
        )


def not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for a merge-patch member that may be left out but not set to
    ``null`` (which would remove it; :func:`refuse_removal` answers 422): the OpenAPI
    document then says so, instead of offering ``null`` as a valid value."""
    branches = schema.pop("anyOf", None)
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if "default" in schema and schema["default"] is None:
        del schema["default"]
