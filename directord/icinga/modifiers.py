"""Per-column property modifiers, applied to each imported row in the order configured.

``{column: hostname, modifier: lowercase}``; the result replaces the column, or goes to
``target`` when given. Text modifiers apply to each element of a list. None stays None (only
``default`` replaces it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal[
    "lowercase",
    "uppercase",
    "trim",
    "regex_replace",
    "split",
    "join",
    "map",
    "strip_domain",
    "to_int",
    "to_bool",
    "default",
]
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off", ""}


class ModifierError(ValueError):
    """A value a modifier cannot convert (e.g. to_int of 'abc'), naming the column."""


class Modifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1)
    modifier: Kind
    target: str | None = None
    delimiter: str = ","
    pattern: str | None = None
    replacement: str = ""
    map: dict[str, Any] | None = None
    default: Any = None
    value: Any = None
    strict: bool = Field(
        True, description="to_int/to_bool: a value that does not convert fails the import"
    )

    @model_validator(mode="after")
    def _check(self) -> Modifier:
        if self.modifier == "regex_replace":
            if self.pattern is None:
                raise ValueError("regex_replace needs 'pattern' (and 'replacement')")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {self.pattern!r} is not a valid regular expression: {exc}"
                ) from None
        if self.modifier == "map" and self.map is None:
            raise ValueError("map needs 'map' (a lookup table) and may have 'default'")
        if self.modifier in ("split", "join") and self.delimiter == "":
            raise ValueError(f"{self.modifier} needs a non-empty 'delimiter'")
        return self

    def function(self) -> Callable[[Any], Any]:
        return _FUNCTIONS[self.modifier](self)


def _each(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [fn(v) for v in value]
        return fn(value)

    return apply


def _to_int(m: Modifier) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        try:
            return int(str(value).strip())
        except ValueError:
            if m.strict:
                raise ModifierError(
                    f"column {m.column!r}: {value!r} is not a whole number"
                ) from None
            return None

    return _each(convert)


def _to_bool(m: Modifier) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if m.strict:
            raise ModifierError(f"column {m.column!r}: {value!r} is not a yes/no value")
        return None

    return _each(convert)


def _split(m: Modifier) -> Callable[[Any], Any]:
    def split(value: Any) -> Any:
        if value is None or isinstance(value, list):
            return value
        text = str(value)
        return [p.strip() for p in text.split(m.delimiter) if p.strip()] if text.strip() else []

    return split


def _join(m: Modifier) -> Callable[[Any], Any]:
    def join(value: Any) -> Any:
        if isinstance(value, list):
            return m.delimiter.join("" if v is None else str(v) for v in value)
        return value

    return join


def _map(m: Modifier) -> Callable[[Any], Any]:
    table = m.map or {}
    return _each(lambda v: table.get(str(v), m.default))


def _regex(m: Modifier) -> Callable[[Any], Any]:
    compiled = re.compile(m.pattern or "")
    return _each(lambda v: compiled.sub(m.replacement, str(v)))


_FUNCTIONS: dict[str, Callable[[Modifier], Callable[[Any], Any]]] = {
    "lowercase": lambda m: _each(lambda v: str(v).lower()),
    "uppercase": lambda m: _each(lambda v: str(v).upper()),
    "trim": lambda m: _each(lambda v: str(v).strip()),
    "strip_domain": lambda m: _each(lambda v: str(v).split(".", 1)[0]),
    "regex_replace": _regex,
    "split": _split,
    "join": _join,
    "map": _map,
    "to_int": _to_int,
    "to_bool": _to_bool,
    "default": lambda m: lambda v: m.value if v is None or v == "" else v,
}


def compile_all(modifiers: list[Modifier]) -> Callable[[dict[str, Any]], None]:
    """One function applying every modifier to a row, in place, in order."""
    steps = [(m.column, m.target or m.column, m.function()) for m in modifiers]

    def apply(row: dict[str, Any]) -> None:
        for column, target, fn in steps:
            row[target] = fn(row.get(column))

    return apply
