"""Comparing two answers, the Diffy way: what differs, less what is known to differ anyway.

An answer is compared as its status, the selected headers and, when both bodies are JSON,
the JSON structure member by member (otherwise the bytes). A difference is named by the
path where it is (``status``, ``header:content-type``, or a JSON Pointer); it is noise when
an ignore pattern or a pattern learned from two legacy answers to the same request covers
it. An array index in a learned pattern is ``*``: a field that differs between two answers
in one item of a list is noise in every item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from fundament.gateway.config import Segments

#: A path of a difference: strings for members, ints for array indexes; status and headers
#: are one-segment paths in a namespace no JSON member reaches (a leading NUL).
Path = tuple[str | int, ...]
STATUS: Path = ("\0status",)
REDACTED = "[redacted]"
ABSENT = "(absent)"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def header_path(name: str) -> Path:
    return (f"\0header:{name}",)


def pointer(path: Path) -> str:
    """A path as people read it: ``status``, ``header:NAME`` or a JSON Pointer."""
    if len(path) == 1 and isinstance(path[0], str) and path[0].startswith("\0"):
        return path[0][1:]
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in path)


def _json(body: bytes) -> tuple[bool, Any]:
    if not body:
        return False, None
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, None


def _same(a: Any, b: Any) -> bool:
    # bool is an int to Python; in JSON true and 1 differ.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def diff_json(a: Any, b: Any, at: Path = ()) -> list[Path]:
    """Every path where ``a`` and ``b`` differ: a member missing on one side, a value or
    type that differs; arrays index by index (a longer one's extra items each differ)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Path] = []
        for key in a.keys() | b.keys():
            if key not in a or key not in b:
                out.append((*at, key))
            else:
                out.extend(diff_json(a[key], b[key], (*at, key)))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            if i >= len(a) or i >= len(b):
                out.append((*at, i))
            else:
                out.extend(diff_json(a[i], b[i], (*at, i)))
        return out
    return [] if _same(a, b) else [at]


def diff_answers(a: Answer, b: Answer, headers: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    if a.status != b.status:
        out.append(STATUS)
    for name in headers:
        if _normal_header(a.headers.get(name)) != _normal_header(b.headers.get(name)):
            out.append(header_path(name))
    a_json, a_doc = _json(a.body)
    b_json, b_doc = _json(b.body)
    if a_json and b_json:
        out.extend(diff_json(a_doc, b_doc))
    elif a.body != b.body:
        out.append(())
    return out


def _normal_header(value: str | None) -> str | None:
    # `application/json; charset=utf-8` and `application/json;charset=UTF-8` say the same.
    return None if value is None else value.replace(" ", "").lower()


def generalise(path: Path) -> Segments:
    """A learned pattern: array indexes become ``*``."""
    return tuple("*" if isinstance(s, int) else s for s in path)


def covered(path: Path, patterns: Iterable[Segments]) -> bool:
    """Whether a pattern covers ``path`` or a member above it (``*``: any one segment)."""
    for pattern in patterns:
        if len(pattern) <= len(path) and all(
            p == "*" or p == str(s) for p, s in zip(pattern, path, strict=False)
        ):
            return True
    return False


def value_at(body: bytes, path: Path) -> Any:
    """The value at ``path`` in a JSON body, for an example; :data:`ABSENT` if none."""
    if path == STATUS or (len(path) == 1 and isinstance(path[0], str) and path[0].startswith("\0")):
        return ABSENT
    ok, node = _json(body)
    if not ok:
        return body[:200].decode("utf-8", "replace") if path == () else ABSENT
    for segment in path:
        member = isinstance(node, dict) and isinstance(segment, str) and segment in node
        item = isinstance(node, list) and isinstance(segment, int) and segment < len(node)
        if member or item:
            node = node[segment]
        else:
            return ABSENT
    return node


def redact(node: Any, personal: Iterable[Segments], at: Path = ()) -> Any:
    """``node`` (a JSON value at ``at``) with every personal field's value replaced."""
    patterns = tuple(personal)
    if not patterns:
        return node
    if covered(at, patterns):
        return REDACTED
    if isinstance(node, dict):
        return {k: redact(v, patterns, (*at, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v, patterns, (*at, i)) for i, v in enumerate(node)]
    return node


def pick(doc: Any, segments: Segments) -> tuple[bool, Any]:
    """The part of ``doc`` at ``segments``, a ``*`` mapping over an array; (False, None) when
    it is not there."""
    if not segments:
        return True, doc
    head, rest = segments[0], segments[1:]
    if head == "*":
        if not isinstance(doc, list):
            return False, None
        picked = []
        for item in doc:
            ok, value = pick(item, rest)
            if not ok:
                return False, None
            picked.append(value)
        return True, picked
    if isinstance(doc, dict) and head in doc:
        return pick(doc[head], rest)
    if isinstance(doc, list) and head.isdigit() and int(head) < len(doc):
        return pick(doc[int(head)], rest)
    return False, None
