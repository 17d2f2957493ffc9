"""SCIM filters, sort and keyset cursors for record lists, translated to SQL.

Grammar: RFC 7644 §3.4.2.2 (attribute paths, ``eq ne co sw ew gt ge lt le pr``, ``and``,
``or``, ``not ( … )``, grouping). Values always become bind parameters; only attribute
paths, validated against the SCIM ATTRNAME grammar, are written into the SQL text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

META = {"id": "r.id", "created_at": "r.created_at", "updated_at": "r.updated_at"}
_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}
_CMP = {"eq": "=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


class QueryError(ValueError):
    """A bad filter, sort or cursor; ``param`` names which, ``position`` where (0-based)."""

    def __init__(self, detail: str, *, position: int | None = None, param: str = "filter"):
        super().__init__(detail)
        self.detail = detail
        self.position = position
        self.param = param


class Fields(Protocol):
    """What a collection's schema says of its data fields (records/_fields.py)."""

    def types(self, path: str) -> frozenset[str] | None:
        """The JSON types a record may hold at ``path``, None where the schema does not
        say; a :class:`QueryError` (without position) if no record can hold it."""
        ...


_ARTICLE = {
    "array": "an array",
    "boolean": "a boolean",
    "integer": "an integer",
    "null": "null",
    "number": "a number",
    "object": "an object",
    "string": "a string",
}
#: What a filter's value is, as the schema's ``type`` names it; what to compare a field with.
_VALUE_TYPE = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string"}
_EXPECTED = {
    "string": "a string in double quotes",
    "number": "a number",
    "integer": "a number",
    "boolean": "true or false",
}


def describe(types: frozenset[str]) -> str:
    """``frozenset({"string", "null"})`` → ``"null or a string"``."""
    return " or ".join(_ARTICLE.get(t, t) for t in sorted(types))


def _admits(types: frozenset[str], kind: str) -> bool:
    # Any number may be compared with an integer field: ``score gt 2.5`` is a fair question.
    return bool(types & {"number", "integer"}) if kind == "number" else kind in types


def _check_value(path: str, types: frozenset[str] | None, op: str, value: object, position: int) -> None:
    """Refuse a comparison that no value the schema allows at ``path`` can meet. ``eq null``
    and ``ne null`` ask whether the field is there, which any field may or may not be."""
    if types is None or value is None or (isinstance(value, bool) and op not in ("eq", "ne")):
        return  # what the compiler refuses for every field (``gt true``) it words itself
    kind = "string" if op in ("co", "sw", "ew") else _VALUE_TYPE.get(type(value), "string")
    if _admits(types, kind):
        return
    expected = sorted({_EXPECTED[t] for t in types if t in _EXPECTED})
    if op in ("co", "sw", "ew"):
        detail = (
            f"operator {op!r} matches strings, and {path!r} is {describe(types)}"
            " in this collection's schema"
        )
    else:
        instead = f": compare it with {' or '.join(expected)}" if expected else ""
        detail = (
            f"{path!r} is {describe(types)} in this collection's schema, so"
            f" {json.dumps(value)[:40]} cannot match it{instead}"
        )
    raise QueryError(f"{detail} (at position {position})", position=position)


def field_sql(path: str) -> str:
    """SQL for an attribute path: a meta column or ``(r.data #> '{a,b}')`` (jsonb)."""
    if path in META:
        return META[path]
    segments = path.split(".")
    if len(segments) > 8 or not all(_SEGMENT.match(s) for s in segments):
        raise QueryError(f"invalid attribute path {path[:80]!r}")
    return "(r.data #> '{" + ",".join(segments) + "}')"


# --- AST ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: Any
    position: int


@dataclass(frozen=True)
class Present:
    path: str


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    inner: Expr


Expr = Compare | Present | And | Or | Not

# --- tokenizer ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*") |
        (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.-]) |
        (?P<word>[A-Za-z][A-Za-z0-9_.-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if m is None or m.lastgroup is None:
            raise QueryError(f"unexpected character {text[i]!r} at position {i}", position=i)
        start = m.start(m.lastgroup)
        tokens.append(_Tok(m.lastgroup, m.group(m.lastgroup), start))
        i = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, max_terms: int, max_depth: int, fields: Fields | None) -> None:
        self.text = text
        self.fields = fields
        self.toks = _tokenize(text)
        self.i = 0
        self.terms = 0
        self.max_terms = max_terms
        self.max_depth = max_depth

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def error(self, what: str) -> QueryError:
        tok = self.peek()
        if tok is None:
            return QueryError(f"{what} at position {len(self.text)} (end of filter)", position=len(self.text))
        return QueryError(f"{what}: unexpected {tok.text[:30]!r} at position {tok.pos}", position=tok.pos)

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text.lower() in words

    def parse(self) -> Expr:
        if not self.toks:
            raise QueryError("empty filter at position 0", position=0)
        expr = self.parse_or(0)
        if self.peek() is not None:
            raise self.error("expected 'and', 'or' or the end of the filter")
        return expr

    def parse_or(self, depth: int) -> Expr:
        left = self.parse_and(depth)
        while self.is_word("or"):
            self.i += 1
            left = Or(left, self.parse_and(depth))
        return left

    def parse_and(self, depth: int) -> Expr:
        left = self.parse_unary(depth)
        while self.is_word("and"):
            self.i += 1
            left = And(left, self.parse_unary(depth))
        return left

    def parse_unary(self, depth: int) -> Expr:
        if depth >= self.max_depth:
            raise self.error(f"filter nested deeper than {self.max_depth} levels")
        tok = self.peek()
        if tok is None:
            raise self.error("expected an attribute, 'not' or '('")
        if tok.kind == "lparen":
            self.i += 1
            inner = self.parse_or(depth + 1)
            self.expect_rparen()
            return inner
        if self.is_word("not"):
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind != "lparen":
                raise self.error("'not' must be followed by '('")
            self.i += 1
            inner = self.parse_or(depth + 1)
            self.expect_rparen()
            return Not(inner)
        return self.parse_comparison()

    def expect_rparen(self) -> None:
        tok = self.peek()
        if tok is None or tok.kind != "rparen":
            raise self.error("expected ')'")
        self.i += 1

    def parse_comparison(self) -> Expr:
        tok = self.peek()
        assert tok is not None
        if tok.kind != "word" or tok.text.lower() in ("and", "or", "not"):
            raise self.error("expected an attribute path")
        try:
            field_sql(tok.text)
            types = _field_types(tok.text, self.fields)
        except QueryError as exc:
            raise QueryError(f"{exc.detail} at position {tok.pos}", position=tok.pos) from exc
        self.i += 1
        self.terms += 1
        if self.terms > self.max_terms:
            raise QueryError(
                f"filter has more than {self.max_terms} comparisons (at position {tok.pos})",
                position=tok.pos,
            )
        op_tok = self.peek()
        if op_tok is None or op_tok.kind != "word" or op_tok.text.lower() not in _OPS:
            raise self.error("expected an operator (eq ne co sw ew gt ge lt le pr)")
        op = op_tok.text.lower()
        self.i += 1
        if op == "pr":
            return Present(tok.text)
        val_tok = self.peek()
        if val_tok is None:
            raise self.error("expected a value")
        self.i += 1
        if val_tok.kind in ("string", "number"):
            try:
                value: Any = json.loads(val_tok.text)
                if isinstance(value, str):
                    value.encode("utf-8")  # lone surrogates cannot be stored or compared
            except (ValueError, UnicodeEncodeError) as exc:
                raise QueryError(f"invalid value at position {val_tok.pos}", position=val_tok.pos) from exc
            if isinstance(value, float) and not math.isfinite(value):
                raise QueryError(f"number out of range at position {val_tok.pos}", position=val_tok.pos)
        elif val_tok.kind == "word" and val_tok.text in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[val_tok.text]
        else:
            self.i -= 1
            raise self.error('expected a value ("string", number, true, false or null)')
        _check_value(tok.text, types, op, value, val_tok.pos)
        return Compare(tok.text, op, value, val_tok.pos)


def _field_types(path: str, fields: Fields | None) -> frozenset[str] | None:
    return None if fields is None or path in META else fields.types(path)


def parse_filter(
    text: str,
    *,
    max_length: int = 2000,
    max_terms: int = 50,
    max_depth: int = 16,
    fields: Fields | None = None,
) -> Expr:
    """Parse a SCIM filter; any problem is a :class:`QueryError` naming its position. With
    ``fields``, a path no record can hold, or a value no record's field can match, is one."""
    if len(text) > max_length:
        raise QueryError(
            f"filter longer than {max_length} characters (at position {max_length})", position=max_length
        )
    return _Parser(text, max_terms, max_depth, fields).parse()


# --- translation --------------------------------------------------------------------------


def _param(args: list[object], value: object) -> str:
    args.append(value)
    return f"${len(args)}"


def _like(value: str, op: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]


def _timestamp(c: Compare) -> datetime:
    if not isinstance(c.value, str):
        raise QueryError(
            f"{c.path} needs an RFC 3339 timestamp string (position {c.position})", position=c.position
        )
    text = c.value[:-1] + "+00:00" if c.value.endswith(("Z", "z")) else c.value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise QueryError(
            f"{c.value[:40]!r} is not an RFC 3339 timestamp with offset (position {c.position})",
            position=c.position,
        )
    return parsed


def _compare(c: Compare, args: list[object], slots: Mapping[str, int]) -> str:
    op, value = c.op, c.value
    bad = QueryError(
        f"operator {op!r} cannot compare {c.path} with {json.dumps(value)[:40]} (position {c.position})",
        position=c.position,
    )
    if c.path == "id":
        if not isinstance(value, str):
            raise bad
        if op in ("co", "sw", "ew"):
            return f"r.id LIKE {_param(args, _like(value, op))}"
        if op == "ne":
            return f"r.id <> {_param(args, value)}"
        return f"r.id {_CMP[op]} {_param(args, value)}"
    if c.path in ("created_at", "updated_at"):
        if op in ("co", "sw", "ew"):
            raise bad
        column = META[c.path]
        ts = _param(args, _timestamp(c))
        return f"{column} <> {ts}" if op == "ne" else f"{column} {_CMP[op]} {ts}"
    f = field_sql(c.path)
    # A declared field's slot holds a bounded key of the value, monotone in jsonb order
    # (records/_slots.py): it narrows the rows through its index, the real test decides.
    slot = f"r.i{slots[c.path]}" if c.path in slots else None
    if op in ("eq", "ne"):
        if value is None:
            present = f"({f} IS NOT NULL AND {f} <> 'null'::jsonb)"
            if op == "ne":
                return present
            return f"({slot} = 'null'::jsonb AND NOT {present})" if slot else f"NOT {present}"
        literal = _jsonb_param(value, args)
        if op == "ne":
            return f"({f} IS DISTINCT FROM {literal})"
        if slot:
            return f"({slot} = fundament_index_key({literal}) AND {f} = {literal})"
        return f"{f} = {literal}"
    if op in ("co", "sw", "ew"):
        if not isinstance(value, str):
            raise bad
        return f"(jsonb_typeof({f}) = 'string' AND ({f} #>> '{{}}') LIKE {_param(args, _like(value, op))})"
    # gt ge lt le: numbers with numbers, strings with strings
    if isinstance(value, bool) or value is None:
        raise bad
    literal = _jsonb_param(value, args)
    kind = "string" if isinstance(value, str) else "number"
    test = f"(jsonb_typeof({f}) = '{kind}' AND {f} {_CMP[op]} {literal})"
    if slot:
        bound = ">=" if op in ("gt", "ge") else "<="
        return f"({slot} {bound} fundament_index_key({literal}) AND {test})"
    return test


def _jsonb_param(value: Any, args: list[object]) -> str:
    if isinstance(value, str):
        return f"to_jsonb({_param(args, value)}::text)"
    return f"{_param(args, json.dumps(value))}::jsonb"


#: Comparisons an index on the field answers (``co``, ``ew``, ``ne`` and ``pr`` read every row).
_NARROWING = frozenset({"eq", "gt", "ge", "lt", "le", "sw"})


def _narrowed(expr: Expr, indexed: Collection[str]) -> bool:
    """Whether an index finds the rows ``expr`` can match without reading the others."""
    if isinstance(expr, Compare):
        return expr.path in indexed and expr.op in _NARROWING and expr.value is not None
    if isinstance(expr, And):
        return _narrowed(expr.left, indexed) or _narrowed(expr.right, indexed)
    if isinstance(expr, Or):
        return _narrowed(expr.left, indexed) and _narrowed(expr.right, indexed)
    return False  # Present, Not


def scans(
    filter: str | None, sort: str | None, slots: Mapping[str, int], fields: Fields | None = None
) -> bool:
    """Whether a list with ``filter`` and ``sort`` reads the whole collection: its filter is
    not narrowed by an index (meta columns and declared fields have one), or, without a
    filter, it sorts by a field that has none. A filter or sort that does not parse is not
    a scan: the list refuses it before running anything."""
    indexed = {*META, *slots}
    try:
        if filter:
            parse_sort(sort, fields)
            return not _narrowed(parse_filter(filter, fields=fields), indexed)
        return any(key.path not in indexed for key in parse_sort(sort, fields))
    except QueryError:
        return False


def compile_filter(expr: Expr, args: list[object], slots: Mapping[str, int] | None = None) -> str:
    """SQL boolean expression for ``expr``; parameters are appended to ``args``.
    ``slots`` maps the collection's declared fields to their index slot numbers."""
    slots = slots or {}
    if isinstance(expr, Compare):
        return _compare(expr, args, slots)
    if isinstance(expr, Present):
        if expr.path in META:
            return "TRUE"
        f = field_sql(expr.path)
        return f"({f} IS NOT NULL AND {f} <> 'null'::jsonb)"
    if isinstance(expr, Not):
        return f"NOT ({compile_filter(expr.inner, args, slots)})"
    op = "AND" if isinstance(expr, And) else "OR"
    return f"({compile_filter(expr.left, args, slots)} {op} {compile_filter(expr.right, args, slots)})"


# --- sort and keyset cursors ----------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    path: str
    descending: bool


def parse_sort(text: str | None, fields: Fields | None = None) -> tuple[SortKey, ...]:
    """``-score,created_at`` → keys, with ``id`` appended as the final tie-breaker. With
    ``fields``, a field no record can hold is refused."""
    if not text:
        keys = [SortKey("created_at", False)]
    else:
        keys = []
        for raw in text.split(","):
            part = raw.strip()
            desc = part.startswith("-")
            path = part[1:] if desc else part
            if not path:
                raise QueryError("empty field in sort", param="sort")
            try:
                field_sql(path)
                _field_types(path, fields)
            except QueryError as exc:
                raise QueryError(exc.detail, param="sort") from exc
            if any(k.path == path for k in keys):
                raise QueryError(f"{path!r} appears twice in sort", param="sort")
            keys.append(SortKey(path, desc))
        if len(keys) > 4:
            raise QueryError("sort takes at most 4 fields", param="sort")
    if not any(k.path == "id" for k in keys):
        keys.append(SortKey("id", keys[-1].descending))
    return tuple(keys)


@dataclass(frozen=True)
class SortColumn:
    """One ORDER BY expression; a declared field sorts by its slot, then its value."""

    expr: str
    descending: bool
    kind: str  # "ts" (created_at, updated_at), "id", or "jsonb"


def sort_columns(keys: Sequence[SortKey], slots: Mapping[str, int] | None = None) -> tuple[SortColumn, ...]:
    """The ORDER BY columns for ``keys``. Missing fields sort as JSON null (lowest), so
    keyset comparisons never meet SQL NULL."""
    slots = slots or {}
    columns: list[SortColumn] = []
    for key in keys:
        if key.path in ("created_at", "updated_at"):
            columns.append(SortColumn(META[key.path], key.descending, "ts"))
        elif key.path == "id":
            columns.append(SortColumn("r.id", key.descending, "id"))
        else:
            if key.path in slots:
                columns.append(SortColumn(f"r.i{slots[key.path]}", key.descending, "jsonb"))
            value = f"COALESCE({field_sql(key.path)}, 'null'::jsonb)"
            columns.append(SortColumn(value, key.descending, "jsonb"))
    return tuple(columns)


def slot_guards_sql(columns: Sequence[SortColumn]) -> list[str]:
    """``r.iN IS NOT NULL`` for each slot sorted by: true of every row of a collection
    that declares the field, and what lets the planner use the slot's partial index."""
    return [f"{c.expr} IS NOT NULL" for c in columns if c.expr.startswith("r.i") and c.expr[3:].isdigit()]


def order_by_sql(columns: Sequence[SortColumn]) -> str:
    return ", ".join(f"{c.expr} {'DESC' if c.descending else 'ASC'}" for c in columns)


def select_sort_values_sql(columns: Sequence[SortColumn]) -> str:
    return ", ".join(f"{c.expr} AS _s{i}" for i, c in enumerate(columns))


def _fingerprint(columns: Sequence[SortColumn]) -> str:
    spec = ",".join(("-" if c.descending else "") + c.expr for c in columns)
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


_INLINE = 256


def encode_cursor(columns: Sequence[SortColumn], values: Sequence[object]) -> str:
    """Opaque cursor for the row whose sort values are ``values`` (as read back from _sN)."""
    out: list[object] = []
    for column, value in zip(columns, values, strict=True):
        if isinstance(value, datetime):
            out.append({"t": value.isoformat()})
        elif column.kind == "id":
            out.append(value)
        elif isinstance(value, str) and len(value) > _INLINE:
            # Too long to carry (cursors are query parameters, 2 kB at most): the next
            # page reads the value back from the row, found by the id that ends every sort.
            out.append({"r": 1})
        else:  # jsonb: asyncpg gives JSON text by default; keep it normalised as a value
            out.append({"j": json.loads(value) if isinstance(value, str) else value})
    payload = json.dumps({"s": _fingerprint(columns), "v": out}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: valid JSON, but no jsonb number
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _decode(columns: Sequence[SortColumn], cursor: str) -> list[object]:
    bad = QueryError("the cursor is not valid for this list", param="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
        # JSON may spell a lone surrogate (\ud800), which no database text can hold.
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except (binascii.Error, ValueError, UnicodeError, RecursionError) as exc:
        raise bad from exc
    if not isinstance(payload, dict) or payload.get("s") != _fingerprint(columns):
        raise bad
    values = payload.get("v")
    if not isinstance(values, list) or len(values) != len(columns):
        raise bad
    decoded: list[object] = []
    for column, value in zip(columns, values, strict=True):
        if column.kind == "ts":
            if not isinstance(value, dict) or not isinstance(value.get("t"), str):
                raise bad
            try:
                ts = datetime.fromisoformat(value["t"])
            except ValueError as exc:
                raise bad from exc
            if ts.tzinfo is None:
                raise bad
            decoded.append(ts)
        elif column.kind == "id":
            if not isinstance(value, str):
                raise bad
            decoded.append(value)
        elif isinstance(value, dict) and value.get("r") == 1 and len(value) == 1:
            decoded.append(_FROM_ROW)
        else:
            if not isinstance(value, dict) or "j" not in value:
                raise bad
            decoded.append(json.dumps(value["j"]))
    if columns[-1].kind != "id" and _FROM_ROW in decoded:
        raise bad
    return decoded


_FROM_ROW = object()


def keyset_sql(columns: Sequence[SortColumn], cursor: str, args: list[object]) -> str:
    """Rows strictly after the cursor in ``columns`` order (mixed directions expanded)."""
    values = _decode(columns, cursor)
    params: list[str] = []
    last_id = _param(args, values[-1]) if _FROM_ROW in values else None
    for column, value in zip(columns, values, strict=True):
        if value is _FROM_ROW:
            # The inner alias shadows the outer ``r``: the expression reads the cursor's row.
            params.append(
                f"(SELECT {column.expr} FROM records r WHERE r.tenant_id = $1 AND r.collection = $2"
                f" AND r.id = {last_id})"
            )
            continue
        p = _param(args, value)
        params.append(f"{p}::jsonb" if column.kind == "jsonb" else p)
    ors = []
    for i, column in enumerate(columns):
        terms = [f"{c.expr} = {params[j]}" for j, c in enumerate(columns[:i])]
        terms.append(f"{column.expr} {'<' if column.descending else '>'} {params[i]}")
        ors.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(ors) + ")"
