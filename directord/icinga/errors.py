"""Errors of the icinga room, each naming what is wrong and where."""

from __future__ import annotations


class SourceError(Exception):
    """An import source could not be read, or its rows are unusable (e.g. duplicate keys)."""


class ExpressionError(ValueError):
    """A filter expression or a ``${column}`` template that does not parse."""

    def __init__(self, problem: str, *, text: str, position: int, expected: str) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        self.expected = expected
        super().__init__(f"{text!r}: {problem} at {position}, expected {expected}")
