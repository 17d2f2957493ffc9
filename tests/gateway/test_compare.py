"""The comparison's pieces: JSON differences, noise patterns, redaction, pick."""

from __future__ import annotations

from fundament.gateway.compare import (
    STATUS,
    Answer,
    covered,
    diff_answers,
    diff_json,
    generalise,
    pick,
    pointer,
    redact,
)


def test_json_differences_name_their_paths() -> None:
    a = {"id": 1, "tags": ["a", "b"], "ok": True, "n": 1, "nested": {"x": 1}}
    b = {"id": 1, "tags": ["a"], "ok": 1, "n": 1.0, "nested": {"x": 2}, "extra": None}
    assert sorted(map(pointer, diff_json(a, b))) == ["/extra", "/nested/x", "/ok", "/tags/1"]
    assert diff_json([{"a": 1}], [{"a": 1}]) == []


def test_answers_compare_status_headers_and_body() -> None:
    legacy = Answer(200, {"content-type": "application/json; charset=utf-8"}, b'{"a": 1}', 0.0)
    same = Answer(200, {"content-type": "application/json;charset=UTF-8"}, b'{"a":1}', 0.0)
    assert diff_answers(legacy, same, ["content-type"]) == []
    other = Answer(404, {"content-type": "text/plain"}, b"nope", 0.0)
    found = diff_answers(legacy, other, ["content-type"])
    assert found[0] == STATUS and pointer(found[1]) == "header:content-type" and found[2] == ()


def test_noise_patterns_cover_items_and_subtrees() -> None:
    learned = generalise(("items", 3, "served_at"))
    assert learned == ("items", "*", "served_at")
    assert covered(("items", 0, "served_at"), [learned])
    assert not covered(("items", 0, "name"), [learned])
    assert covered(("meta", "page", "size"), [("meta",)])  # a pattern covers what is under it


def test_redaction_and_pick() -> None:
    doc = [{"email": "ada@example.com", "name": "Ada"}]
    assert redact(doc, [("*", "email")]) == [{"email": "[redacted]", "name": "Ada"}]
    page = {"items": [{"data": {"a": 1}}, {"data": {"a": 2}}]}
    assert pick(page, ("items", "*", "data")) == (True, [{"a": 1}, {"a": 2}])
    assert pick(page, ("items", "0", "data")) == (True, {"a": 1})
    assert pick({"items": []}, ("items", "0", "data")) == (False, None)
