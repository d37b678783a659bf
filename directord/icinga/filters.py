"""Row filters for sync rules: ``os=linux&!(env=test)``.

Grammar (whitespace between tokens is ignored)::

    expr    := and ('|' and)*
    and     := unary ('&' unary)*
    unary   := '!' unary | '(' expr ')' | test
    test    := column [op value]
    op      := '=' | '!=' | '<' | '<=' | '>' | '>='
    value   := '"' text '"'  (\\" and \\\\ escaped)  |  bare text up to & | ( ) or the end
    column  := a letter or '_', then letters, digits, '_', '.', '-'

``col=value`` compares case-insensitively, ``*`` in the value matches any text (``name=web*``);
with a list column it holds when any element matches. ``!=`` is its negation. ``<`` and friends
compare numbers when both sides are numbers, text otherwise. A bare ``col`` holds when the value is
present and not empty, false or 0. Parse errors name the position and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from directord.icinga.errors import ExpressionError

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_OPS = ("!=", "<=", ">=", "=", "<", ">")
_BARE_END = set("&|()")


@dataclass(frozen=True)
class Filter:
    text: str
    predicate: Predicate

    def __call__(self, row: Row) -> bool:
        return self.predicate(row)


def parse(text: str) -> Filter:
    parser = _Parser(text)
    predicate = parser.expr()
    parser.skip()
    if parser.pos < len(text):
        raise parser.error(f"unexpected {text[parser.pos]!r}", "'&', '|' or the end")
    return Filter(text, predicate)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, problem: str, expected: str) -> ExpressionError:
        return ExpressionError(problem, text=self.text, position=self.pos, expected=expected)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expr(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == "|":
            self.pos += 1
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda row: any(p(row) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == "&":
            self.pos += 1
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda row: all(p(row) for p in parts)

    def unary(self) -> Predicate:
        ch = self.peek()
        if ch == "!" and not self.text.startswith("!=", self.pos):
            self.pos += 1
            inner = self.unary()
            return lambda row: not inner(row)
        if ch == "(":
            self.pos += 1
            inner = self.expr()
            if self.peek() != ")":
                raise self.error("unclosed '('", "')'")
            self.pos += 1
            return inner
        return self.test()

    def test(self) -> Predicate:
        self.skip()
        match = _COLUMN.match(self.text, self.pos)
        if match is None:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            raise self.error(f"{found} where a column name belongs", "a column name, '!' or '('")
        column = match.group()
        self.pos = match.end()
        self.skip()
        op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            return lambda row: _truthy(row.get(column))
        self.pos += len(op)
        value = self.value()
        return _comparison(column, op, value)

    def value(self) -> str:
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _BARE_END:
            self.pos += 1
        return self.text[start : self.pos].strip()

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        self.pos = start
        raise self.error("unclosed quote", "a closing '\"'")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "n", "off")
    return bool(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _comparison(column: str, op: str, expected: str) -> Predicate:
    if op in ("=", "!="):
        pattern = expected.lower()
        wildcard = "*" in pattern

        def equal(row: Row) -> bool:
            value = row.get(column)
            values = value if isinstance(value, list) else [value]
            for v in values:
                text = _text(v).lower()
                if fnmatchcase(text, pattern) if wildcard else text == pattern:
                    return True
            return False

        return equal if op == "=" else (lambda row: not equal(row))
    want = _number(expected)

    def order(row: Row) -> bool:
        value = row.get(column)
        if value is None:
            return False
        have = _number(value)
        if have is not None and want is not None:
            left: Any = have
            right: Any = want
        else:
            left, right = _text(value), expected
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)

    return order
