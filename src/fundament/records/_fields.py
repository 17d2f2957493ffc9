"""What a collection's schema says of a field path: whether a record can hold a value
there, and of which JSON types, so that filters, sorts and declared indexes refuse a
typo instead of silently matching nothing.

Only what the schema itself states is used, and only where it binds every record: a
``type``, an object's ``properties`` and ``patternProperties``, and ``additionalProperties``
(``false``: nothing else; a schema: what every other member is). Applicators (``$ref``,
``allOf``, ``anyOf``, …) only ever narrow what a record may be, so ignoring them may let a
query through that matches nothing, but never refuses one that could match.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fundament.records._query import META, QueryError, describe

_SHOWN = 20


class _Matcher(Protocol):
    def is_valid(self, instance: Any) -> bool: ...


def _stated_types(node: dict[str, Any]) -> frozenset[str] | None:
    stated = node.get("type")
    if isinstance(stated, str):
        return frozenset({stated})
    if isinstance(stated, list) and all(isinstance(t, str) for t in stated):
        return frozenset(stated)
    return None


class SchemaFields:
    """The field paths of one schema. ``compile`` turns a schema into a validator: patterns
    must run on the same linear-time engine (and limits) as the record validation."""

    def __init__(self, schema: Any, compile: Callable[[dict[str, Any]], _Matcher]) -> None:
        self._schema = schema
        self._compile = compile
        self._patterns: dict[str, _Matcher | None] = {}

    def types(self, path: str) -> frozenset[str] | None:
        """The JSON types a record may hold at ``path`` (a dot path of data fields), None
        where the schema does not say; :class:`QueryError` (no position) if no record can
        hold a value there."""
        segments = path.split(".")
        node: Any = self._schema
        for i, segment in enumerate(segments):
            if not isinstance(node, dict):  # a boolean schema names no fields
                return None
            stated = _stated_types(node)
            if stated is not None and "object" not in stated:
                raise QueryError(self._not_an_object(path, segments[:i], stated))
            properties = node.get("properties")
            properties = properties if isinstance(properties, dict) else {}
            if segment in properties:
                node = properties[segment]
                continue
            if self._matches_pattern(node, segment):
                return None
            extra = node.get("additionalProperties", True)
            if extra is False:
                patterns = node.get("patternProperties")
                raise QueryError(self._undeclared(path, segments, i, list(properties), list(patterns or ())))
            node = extra
        return _stated_types(node) if isinstance(node, dict) else None

    def _holds(self, path: str) -> bool:
        try:
            self.types(path)
        except QueryError:
            return False
        return True

    def _matches_pattern(self, node: dict[str, Any], name: str) -> bool:
        patterns = node.get("patternProperties")
        if not isinstance(patterns, dict):
            return False
        for pattern in patterns:
            if pattern not in self._patterns:
                try:
                    self._patterns[pattern] = self._compile({"type": "string", "pattern": pattern})
                except Exception:  # a stored pattern that no longer compiles: say nothing
                    self._patterns[pattern] = None
            matcher = self._patterns[pattern]
            if matcher is None or matcher.is_valid(name):
                return True
        return False

    def _undeclared(
        self, path: str, segments: Sequence[str], i: int, declared: list[str], patterns: list[str]
    ) -> str:
        hint: str | None = None
        if i == 0 and segments[0] == "data" and len(segments) > 1:
            rest = ".".join(segments[1:])
            if rest in META or self._holds(rest):
                return (
                    f"{path!r} is not a field of this collection: filters and sorts name a"
                    f" record's fields without 'data.'; did you mean {rest!r}?"
                )
        # Bounded: a schema may declare thousands of names of any length, a hint is a nicety.
        candidates = [name for name in declared[:1000] if len(name) <= 64]
        close = difflib.get_close_matches(segments[i], candidates, n=1)
        if close:
            hint = ".".join([*segments[:i], close[0]])
        owner = "its schema" if i == 0 else repr(".".join(segments[:i])) + " in its schema"
        shown = ", ".join(declared[:_SHOWN]) + (", …" if len(declared) > _SHOWN else "")
        if patterns:
            matching = ", ".join(repr(p) for p in patterns[:_SHOWN])
            shown = f"{shown} and fields matching {matching}" if declared else f"fields matching {matching}"
        fields = f"{owner} declares {shown}" if shown else f"{owner} declares no fields"
        if i == 0:
            fields += "; id, created_at and updated_at are always there"
        did_you_mean = f"; did you mean {hint!r}?" if hint else ""
        return f"{path!r} is not a field of this collection{did_you_mean} ({fields})"

    @staticmethod
    def _not_an_object(path: str, parent: Sequence[str], stated: frozenset[str]) -> str:
        if not parent:
            return f"{path!r} is not a field of this collection: its records are {describe(stated)}"
        owner = ".".join(parent)
        return (
            f"{path!r} is not a field of this collection: {owner!r} is {describe(stated)}"
            " in its schema, with no fields"
        )

