"""Named queries: the file format, one name set for every dialect, placeholders, migrations."""

from __future__ import annotations

import inspect

import pytest

from directord.store import memory_queries, queries


def test_sections_by_name_with_comments_kept() -> None:
    text = "-- preamble\n\n-- name: one\n-- why\nSELECT 1;\n\n-- name: two\nSELECT\n  2;\n"
    assert queries.parse(text) == {"one": "-- why\nSELECT 1;", "two": "SELECT\n  2;"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("SELECT 0;\n-- name: one\nSELECT 1;\n", "SQL before the first"),
        ("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n", "'one' is defined twice"),
        ("-- name: one\n-- only a comment\n-- name: two\nSELECT 2;\n", "'one' has no statement"),
    ],
)
def test_bad_query_files_are_refused(text: str, error: str) -> None:
    with pytest.raises(queries.QueryFileError, match=error):
        queries.parse(text, "x.sql")


def test_every_dialect_has_the_same_names() -> None:
    assert "sqlite" in queries.dialects()
    for dialect in queries.dialects():
        assert set(queries.load(dialect)) == queries.names(), dialect


def test_the_memory_store_answers_every_name() -> None:
    methods = {
        name
        for name, value in inspect.getmembers(memory_queries.Tables, inspect.isfunction)
        if not name.startswith("_")
    }
    assert methods == queries.names()
    assert queries.names() >= memory_queries.READS


def test_every_query_uses_named_parameters_only() -> None:
    for dialect in queries.dialects():
        for name, statement in queries.load(dialect).items():
            assert "?" not in statement, f"{dialect}.{name}"


def test_numbered_placeholders_for_drivers_that_need_them() -> None:
    sql = "SELECT :a, :b::text, ':not' FROM t WHERE x = :a AND y = ':b'"
    assert queries.numbered(sql) == (
        "SELECT $1, $2::text, ':not' FROM t WHERE x = $1 AND y = ':b'",
        ["a", "b"],
    )


def test_migrations_are_numbered_without_gaps() -> None:
    for dialect in queries.dialects():
        versions = [v for v, _ in queries.migrations(dialect)]
        assert versions == list(range(1, len(versions) + 1)), dialect
        assert queries.latest_version(dialect) == versions[-1]
    assert queries.migrations("memory") == []
    assert queries.latest_version("memory") == 0
