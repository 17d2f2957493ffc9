"""The SCIM filter, sort and cursor language (RFC 7644 §3.4.2.2): examples and properties."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundament.records._fields import SchemaFields
from fundament.records._query import (
    And,
    Compare,
    Not,
    Or,
    Present,
    QueryError,
    SortKey,
    compile_filter,
    encode_cursor,
    field_sql,
    keyset_sql,
    order_by_sql,
    parse_filter,
    parse_sort,
    scans,
    sort_columns,
)
from fundament.records.collections import _validator


def compiled(text: str) -> tuple[str, list[object]]:
    args: list[object] = ["tenant", "coll"]
    sql = compile_filter(parse_filter(text), args)
    return sql, args[2:]


def test_contract_example_parses_with_precedence():
    expr = parse_filter('score gt 10 and (email ew "@example.com" or not (vip pr))')
    assert isinstance(expr, And)
    assert isinstance(expr.left, Compare) and expr.left.op == "gt" and expr.left.value == 10
    assert isinstance(expr.right, Or) and isinstance(expr.right.right, Not)
    assert isinstance(expr.right.right.inner, Present)
    # and binds tighter than or
    expr = parse_filter("a eq 1 and b eq 2 or c eq 3")
    assert isinstance(expr, Or) and isinstance(expr.left, And)


def test_operators_are_case_insensitive_and_values_typed():
    expr = parse_filter('name EQ "x\\"y\\u00e9" AnD n Le -1.5e2 oR flag eq true')
    assert isinstance(expr, Or)
    assert expr.left.left.value == 'x"yé' and expr.left.right.value == -150.0
    assert expr.right.value is True


def test_translation_shapes_and_parameters():
    sql, args = compiled('email eq "a@b.c"')
    assert sql == "(r.data #> '{email}') = to_jsonb($3::text)" and args == ["a@b.c"]
    sql, args = compiled("score eq 10")
    assert sql == "(r.data #> '{score}') = $3::jsonb" and args == ["10"]
    sql, args = compiled("a.b gt 2")
    assert "jsonb_typeof((r.data #> '{a,b}')) = 'number'" in sql and args == ["2"]
    sql, args = compiled('name co "50%_off\\\\"')
    assert "LIKE $3" in sql and args == ["%50\\%\\_off\\\\%"]
    sql, args = compiled('name sw "ab"')
    assert args == ["ab%"]
    sql, _ = compiled("x ne null")
    assert "IS NOT NULL" in sql
    sql, _ = compiled("x ne 3")
    assert "IS DISTINCT FROM" in sql
    sql, args = compiled('created_at ge "2026-01-01T00:00:00Z"')
    assert sql == "r.created_at >= $3" and args == [datetime(2026, 1, 1, tzinfo=UTC)]
    sql, args = compiled('id eq "rec_1"')
    assert sql == "r.id = $3"
    assert compiled("id pr")[0] == "TRUE"


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("score gt", 8),
        ("score zz 1", 6),
        ("(a eq 1", 7),
        ("a eq 1)", 6),
        ('a eq "x', 5),
        ("not a eq 1", 4),
        ("a eq 1 b eq 2", 7),
        ("", 0),
        ("a eq 1 and", 10),
    ],
)
def test_errors_name_their_position(text, position):
    with pytest.raises(QueryError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert f"position {position}" in info.value.detail


@pytest.mark.parametrize(
    "text",
    [
        "a gt true",
        "a co 5",
        "id eq 5",
        'created_at gt "yesterday"',
        'created_at gt "2026-01-01T00:00:00"',  # no offset
        'created_at co "2026"',
        "a lt null",
        "a eq 1e999",
        "x" * 3000,
        "(" * 100 + "a pr" + ")" * 100,
        " or ".join(["a pr"] * 60),
        '"a" eq 1',
        "a..b pr",
        "a eq 99999999999999999999" + "9" * 5000,
    ],
)
def test_semantic_and_limit_errors_are_query_errors(text):
    with pytest.raises(QueryError):
        compile_filter(parse_filter(text), [])


def test_field_paths_are_validated_before_reaching_sql():
    assert field_sql("a.b-c.d_e") == "(r.data #> '{a,b-c,d_e}')"
    for bad in ("a'b", "a b", "1a", "a.", "a{b}", "a,b", ".".join(["a"] * 9)):
        with pytest.raises(QueryError):
            field_sql(bad)


def test_sort_parsing():
    assert parse_sort(None) == (SortKey("created_at", False), SortKey("id", False))
    assert parse_sort("-score,name") == (SortKey("score", True), SortKey("name", False), SortKey("id", False))
    assert parse_sort("-id") == (SortKey("id", True),)
    assert "COALESCE((r.data #> '{score}'), 'null'::jsonb) DESC" in order_by_sql(sort_columns(parse_sort("-score")))
    for bad in ("a,,b", "a,a", "a,b,c,d,e", "-", "a'"):
        with pytest.raises(QueryError) as info:
            parse_sort(bad)
        assert info.value.param == "sort"


def test_cursor_round_trip_and_mixed_directions():
    keys = sort_columns(parse_sort("-score,created_at"))
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    cursor = encode_cursor(keys, ["7", now, "rec_1"])  # jsonb comes back from asyncpg as text
    args: list[object] = []
    sql = keyset_sql(keys, cursor, args)
    assert args == ["7", now, "rec_1"]
    assert sql.count(" OR ") == 2 and "< $1::jsonb" in sql and "r.created_at > $2" in sql
    with pytest.raises(QueryError) as info:
        keyset_sql(sort_columns(parse_sort("score")), cursor, [])  # a cursor of another sort
    assert info.value.param == "cursor"


# --- properties ----------------------------------------------------------------------------

segment = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s.lower() not in ("and", "or", "not", "true", "false", "null")
)
paths = st.lists(segment, min_size=1, max_size=3).map(".".join)
strings = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=8
)
values = st.one_of(
    strings.map(lambda s: f'"{s}"'),
    st.integers(-(10**9), 10**9).map(str),
    st.sampled_from(["true", "false", "null"]),
)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    path = draw(paths)
    op = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "co", "sw", "ew", "pr"]))
    if op == "pr":
        return f"{path} pr"
    if op in ("co", "sw", "ew"):
        return f"{path} {op} {draw(strings.map(lambda s: chr(34) + s + chr(34)))}"
    if op in ("gt", "ge", "lt", "le"):
        return f"{path} {op} {draw(st.integers(-1000, 1000))}"
    return f"{path} {op} {draw(values)}"


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(" ".join),
        inner.map(lambda f: f"({f})"),
        inner.map(lambda f: f"not ({f})"),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(filters)
def test_every_generated_valid_filter_parses_and_translates(text):
    args: list[object] = []
    sql = compile_filter(parse_filter(text), args)
    placeholders = {int(n) for n in re.findall(r"\$(\d+)", sql)}
    assert placeholders == set(range(1, len(args) + 1))


tokens = st.sampled_from(
    [
        "a",
        "b.c",
        "eq",
        "ne",
        "gt",
        "co",
        "pr",
        "and",
        "or",
        "not",
        "(",
        ")",
        '"x"',
        '"',
        "1",
        "-2.5e3",
        "true",
        "null",
        " ",
        "\\",
        "'",
        ";",
        "$1",
        "\x00",
        "é",
        "1e999",
        "..",
        "{",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(tokens, max_size=25).map(" ".join)))
def test_garbage_never_raises_anything_but_query_error(text):
    with contextlib.suppress(QueryError):
        compile_filter(parse_filter(text), [])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.text(max_size=40))
def test_garbage_cursors_and_sorts_are_clean_errors(cursor, sort):
    try:
        keys = sort_columns(parse_sort(sort))
    except QueryError:
        keys = sort_columns(parse_sort(None))
    with contextlib.suppress(QueryError):
        keyset_sql(keys, cursor, [])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(json_values, st.datetimes(timezones=st.just(UTC)), st.text(max_size=30))
def test_cursor_round_trip_property(value, when, rid):
    import json

    keys = sort_columns(parse_sort("-score,created_at"))
    args: list[object] = []
    sql = keyset_sql(keys, encode_cursor(keys, [json.dumps(value), when, rid]), args)
    if len(json.dumps(value)) > 256:  # too long to carry: read back from the cursor's row
        assert args == [rid, when, rid] and "(SELECT COALESCE(" in sql
    else:
        assert json.loads(str(args[0])) == value and args[1] == when and args[2] == rid


def _b64(payload: str) -> str:
    import base64

    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


def test_cursor_with_a_lone_surrogate_is_a_clean_error():
    keys = sort_columns(parse_sort(None))
    good = encode_cursor(keys, [datetime(2026, 1, 1, tzinfo=UTC), "x"])
    fingerprint = __import__("json").loads(__import__("base64").urlsafe_b64decode(good + "==="))["s"]
    head = '{"s":"' + fingerprint + '","v":[{"t":"2026-01-01T00:00:00+00:00"},'
    for payload in (head + '"\\ud800"]}', head + "NaN]}", head + "1e400]}"):
        with pytest.raises(QueryError) as info:
            keyset_sql(keys, _b64(payload), [])
        assert info.value.param == "cursor"


json_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(json_any, st.sampled_from([None, "-score", "score,-created_at", "id", "-updated_at,name"]))
def test_structured_garbage_cursors_decode_cleanly_or_to_bindable_values(values, sort):
    """Fuzz the decoder with well-formed base64 JSON of any shape, including lone surrogates
    and non-finite numbers: it refuses, or yields values the database driver can encode."""
    import json

    slots = {"score": 0, "name": 1}
    keys = sort_columns(parse_sort(sort), slots)
    from fundament.records._query import _fingerprint

    payload = json.dumps({"s": _fingerprint(keys), "v": values})
    args: list[object] = []
    try:
        keyset_sql(keys, _b64(payload), args)
    except QueryError as exc:
        assert exc.param == "cursor"
        return
    for arg, column in zip(args, keys, strict=True):
        if isinstance(arg, str):
            arg.encode("utf-8")
        if column.kind == "jsonb":  # must be strict JSON for the ::jsonb cast
            json.loads(arg, parse_constant=lambda c: pytest.fail(f"{c} in a jsonb parameter"))


def test_declared_fields_filter_and_sort_through_their_slots():
    slots = {"score": 1, "email": 0}
    args: list[object] = []
    sql = compile_filter(parse_filter('score gt 10 and email eq "a@example.com" and vip eq true'), args, slots)
    assert "r.i1 >= fundament_index_key(" in sql and "r.i0 = fundament_index_key(" in sql
    assert "r.i" not in sql.split("vip")[-1]  # undeclared: no slot
    cols = sort_columns(parse_sort("-score"), slots)
    assert [c.expr for c in cols][:2] == ["r.i1", "COALESCE((r.data #> '{score}'), 'null'::jsonb)"]


@pytest.mark.parametrize(
    ("filter", "sort", "expected"),
    [
        (None, None, False),  # created_at order: its index
        (None, "-score", False),  # a declared field: its slot's index
        (None, "note", True),  # sorts every row by a field no index has
        ('email eq "a@example.com"', "note", False),  # the index narrows first
        ("score gt 10 and note co \"x\"", None, False),  # one indexed side narrows an and
        ('score gt 10 or note co "x"', None, True),  # but not an or
        ('email co "x"', None, True),  # co and ew read every row, index or not
        ("not (score gt 10)", None, True),
        ("score pr", None, True),
        ("note eq 1", None, True),
        ('id sw "rec_"', None, False),
        ("created_at gt \"2026-01-01T00:00:00Z\"", None, False),
        ("score eq", None, False),  # does not parse: refused before anything runs
    ],
)
def test_a_list_scans_when_no_index_narrows_it(filter: str | None, sort: str | None, expected: bool) -> None:
    assert scans(filter, sort, {"email": 0, "score": 1}) is expected


# --- checked against the collection's schema (issue #9, defect 7) ----------------------------

CLOSED = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "score": {"type": "integer"},
        "ratio": {"type": "number"},
        "vip": {"type": "boolean"},
        "nick": {"type": ["string", "null"]},
        "tags": {"type": "array"},
        "free": {},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "additionalProperties": False,
        },
        "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
        "loose": {"type": "object"},
    },
    "patternProperties": {"^x_": {"type": "string"}},
    "additionalProperties": False,
}


def schema_fields(schema: object) -> SchemaFields:
    return SchemaFields(schema, _validator)


def refusal(text: str, schema: object = CLOSED) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse_filter(text, fields=schema_fields(schema))
    assert info.value.param == "filter"
    return info.value


@pytest.mark.parametrize(
    "text",
    [
        'email eq "a@example.com"',
        "score gt 10",
        "score gt 2.5",  # any number against an integer field
        "ratio le 1",
        "vip eq true",
        "vip ne false",
        'nick eq "n"',
        "nick eq null",
        "score eq null",  # absent: any field may be
        "score ne null",
        "email pr and tags pr and free pr",
        'free eq "anything" or free eq 1 or free eq true',  # no type stated: any value
        'address.city sw "Be"',
        "meta.visits gt 3",  # additionalProperties is a schema: its type applies
        'loose.anything eq "x"',  # an object that says nothing of its members
        'x_custom co "y"',  # patternProperties
        'id eq "rec_1" and created_at gt "2026-01-01T00:00:00Z" and updated_at pr',
        "not (score lt 0)",
    ],
)
def test_a_query_the_schema_allows_passes(text: str) -> None:
    expr = parse_filter(text, fields=schema_fields(CLOSED))
    compile_filter(expr, [])
    assert scans(text, None, {}, schema_fields(CLOSED)) in (True, False)


def test_an_undeclared_field_is_refused_naming_it_and_what_exists() -> None:
    err = refusal("nosuchfield eq 1")
    assert err.position == 0
    assert "'nosuchfield' is not a field of this collection" in err.detail
    assert "email, score" in err.detail and "'^x_'" in err.detail and "id, created_at" in err.detail
    err = refusal("score gt 1 and scroe lt 5")
    assert err.position == 15 and "did you mean 'score'?" in err.detail
    err = refusal('address.zip eq "3000"')
    assert "'address' in its schema declares city" in err.detail
    err = refusal("not (y_custom pr)")
    assert err.position == 5


@pytest.mark.parametrize(("text", "hint"), [("data.score gt 10", "score"), ('data.id eq "x"', "id")])
def test_data_prefix_gets_a_hint(text: str, hint: str) -> None:
    err = refusal(text)
    assert f"did you mean {hint!r}?" in err.detail and "without 'data.'" in err.detail


def test_a_path_below_a_scalar_or_array_is_refused() -> None:
    assert "'email' is a string" in refusal("email.domain pr").detail
    assert "'tags' is an array" in refusal('tags.first eq "a"').detail
    assert "its records are a string" in refusal("a pr", {"type": "string"}).detail


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ('score gt "ten"', 9, ["'score' is an integer", "compare it with a number"]),
        ('score eq "10"', 9, ["'score' is an integer"]),
        ("score eq true", 9, ["'score' is an integer"]),
        ("email eq 5", 9, ["'email' is a string", "double quotes"]),
        ("vip eq 1", 7, ["'vip' is a boolean", "true or false"]),
        ("nick eq 1", 8, ["null or a string"]),
        ('score co "1"', 9, ["operator 'co' matches strings", "'score' is an integer"]),
        ('meta.visits eq "3"', 15, ["'meta.visits' is an integer"]),
        ("address eq 1", 11, ["'address' is an object"]),
    ],
)
def test_a_value_of_a_type_the_schema_rules_out_is_refused(text: str, position: int, words: list[str]) -> None:
    err = refusal(text)
    assert err.position == position and f"position {position}" in err.detail
    for word in words:
        assert word in err.detail, err.detail


def test_an_open_schema_accepts_any_field_but_still_checks_declared_types() -> None:
    open_schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
    for text in ("nosuchfield eq 1", "data.score gt 10", 'other.deep co "x"'):
        parse_filter(text, fields=schema_fields(open_schema))
    assert "'score' is an integer" in refusal('score gt "ten"', open_schema).detail
    for schema in ({}, True, {"type": "object", "additionalProperties": True}):
        parse_filter('nosuchfield eq 1 and score gt "ten"', fields=schema_fields(schema))


def test_applicators_are_not_guessed_at() -> None:
    """$ref, allOf and friends only narrow what a record is: ignoring them never refuses a
    query that could match."""
    schema = {
        "$defs": {"n": {"type": "integer"}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "additionalProperties": False,
    }
    parse_filter('a eq "x" or b eq 1', fields=schema_fields(schema))
    assert "'c' is not a field" in refusal("c pr", schema).detail


def test_sort_is_checked_against_the_schema() -> None:
    fields = schema_fields(CLOSED)
    assert parse_sort("-score,address.city", fields)[0] == SortKey("score", True)
    for bad, words in (("-nosuch", "'nosuch' is not a field"), ("data.email", "did you mean 'email'?")):
        with pytest.raises(QueryError) as info:
            parse_sort(bad, fields)
        assert info.value.param == "sort" and words in info.value.detail


def test_a_refused_list_is_not_a_scan() -> None:
    fields = schema_fields(CLOSED)
    assert scans("nosuch eq 1", None, {}, fields) is False
    assert scans(None, "-nosuch", {}, fields) is False
    assert scans('email co "x"', "-nosuch", {}, fields) is False
    assert scans('email co "x"', None, {}, fields) is True
    assert scans("nosuch eq 1", None, {}) is True  # without a schema: unknown fields are fine
