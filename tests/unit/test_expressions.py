"""Filters, templates and modifiers: behaviour, errors with positions, and hypothesis properties
(no exception but the documented one for any input)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directord.icinga import filters, modifiers, templates
from directord.icinga.errors import ExpressionError

ROW = {
    "os": "Linux",
    "env": "test",
    "groups": ["web", "prod"],
    "cores": 8,
    "name": "web01",
    "empty": "",
    "flag": True,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("os=linux", True),
        ("os=windows", False),
        ("os=linux&!(env=test)", False),
        ("os=linux&!(env=prod)", True),
        ("env=prod|env=test", True),
        ("groups=prod", True),
        ("groups!=prod", False),
        ("name=web*", True),
        ('name="web01"', True),
        ("cores>4", True),
        ("cores<=4", False),
        ("empty", False),
        ("flag", True),
        ("missing", False),
        ("missing=", True),
        ("!missing", True),
        ("( os = linux ) & cores >= 8", True),
    ],
)
def test_filter_semantics(text: str, expected: bool) -> None:
    assert filters.parse(text)(ROW) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("os=linux&(env=prod", "unclosed '(' at 18, expected ')'"),
        ("os=linux&", "the end where a column name belongs at 9"),
        ("=linux", "'=' where a column name belongs at 0"),
        ("os=linux)", "unexpected ')' at 8, expected '&', '|' or the end"),
        ('name="web', "unclosed quote at 5"),
    ],
)
def test_filter_errors_name_the_position(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        filters.parse(text)
    assert message in str(info.value)


def test_templates() -> None:
    assert templates.parse("${groups}").render(ROW) == ["web", "prod"]
    assert templates.parse("${cores}").render(ROW) == 8
    assert templates.parse("host ${name} (${groups})").render(ROW) == "host web01 (web,prod)"
    assert templates.parse("$$${name}").render(ROW) == "$web01"
    assert templates.parse("${missing}").render(ROW) is None
    assert templates.parse("x${missing}y").render(ROW) == "xy"
    assert templates.render_value(["generic", templates.parse("${groups}")], ROW) == [
        "generic",
        "web",
        "prod",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${name", "unclosed placeholder at 6, expected '}'"),
        ("a $b", "a lone '$' at 2"),
        ("${}", "no column name after '${' at 2"),
    ],
)
def test_template_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("$", r"\$").replace("(", r"\(")):
        templates.parse(text)


grammar_bits = st.sampled_from(
    [
        "os",
        "env",
        "groups",
        "cores",
        "=",
        "!=",
        "<",
        ">=",
        "&",
        "|",
        "!",
        "(",
        ")",
        '"',
        "linux",
        "*",
        " ",
        "web*",
        "\\",
        "8",
        "x.y",
    ]
)
values = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(),
    st.booleans(),
    st.lists(st.text(max_size=4), max_size=3),
)


@pytest.mark.slow
@settings(max_examples=2000, deadline=1000)
@given(
    st.one_of(st.text(max_size=30), st.lists(grammar_bits, max_size=12).map("".join)),
    st.dictionaries(st.sampled_from(["os", "env", "groups", "cores", "x.y"]), values),
)
def test_any_filter_text_parses_or_raises_expression_error(text: str, row: dict[str, Any]) -> None:
    try:
        predicate = filters.parse(text)
    except ExpressionError as exc:
        assert 0 <= exc.position <= len(text)  # noqa: PT017 - any input, either way
        return
    assert predicate(row) in (True, False)


@pytest.mark.slow
@settings(max_examples=2000, deadline=1000)
@given(
    st.one_of(
        st.text(max_size=30),
        st.lists(
            st.sampled_from(["$", "{", "}", "$$", "${", "a", "os", " ", "${os}"]), max_size=10
        ).map("".join),
    ),
    st.dictionaries(st.sampled_from(["a", "os"]), values),
)
def test_any_template_text_parses_or_raises_expression_error(
    text: str, row: dict[str, Any]
) -> None:
    try:
        template = templates.parse(text)
    except ExpressionError as exc:
        assert 0 <= exc.position <= len(text)  # noqa: PT017 - any input, either way
        return
    template.render(row)
    if "$" not in text:
        assert template.render(row) == text


def m(**kw: Any) -> modifiers.Modifier:
    return modifiers.Modifier(column="c", **kw)


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ({"modifier": "lowercase"}, "AbC", "abc"),
        ({"modifier": "uppercase"}, ["a", "b"], ["A", "B"]),
        ({"modifier": "trim"}, "  x ", "x"),
        (
            {"modifier": "regex_replace", "pattern": r"\.example\.com$", "replacement": ""},
            "a.example.com",
            "a",
        ),
        ({"modifier": "split", "delimiter": ";"}, "a; b;;c", ["a", "b", "c"]),
        ({"modifier": "split"}, "", []),
        ({"modifier": "join", "delimiter": "+"}, ["a", "b"], "a+b"),
        ({"modifier": "map", "map": {"l": "linux"}, "default": "other"}, "w", "other"),
        ({"modifier": "map", "map": {"l": "linux"}}, "l", "linux"),
        ({"modifier": "strip_domain"}, "web1.example.com", "web1"),
        ({"modifier": "to_int"}, " 42 ", 42),
        ({"modifier": "to_bool"}, "Yes", True),
        ({"modifier": "to_bool", "strict": False}, "maybe", None),
        ({"modifier": "default", "value": "n/a"}, "", "n/a"),
        ({"modifier": "lowercase"}, None, None),
    ],
)
def test_modifiers(spec: dict[str, Any], value: Any, expected: Any) -> None:
    row = {"c": value}
    modifiers.compile_all([m(**spec)])(row)
    assert row["c"] == expected


def test_modifier_target_and_errors() -> None:
    row = {"c": "A.B"}
    modifiers.compile_all([m(modifier="lowercase", target="d")])(row)
    assert row == {"c": "A.B", "d": "a.b"}
    with pytest.raises(modifiers.ModifierError, match="column 'c': 'x' is not a whole number"):
        modifiers.compile_all([m(modifier="to_int")])({"c": "x"})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        m(modifier="regex_replace", pattern="(")
    with pytest.raises(ValueError, match="map needs 'map'"):
        m(modifier="map")
