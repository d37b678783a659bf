"""``${column}`` placeholders in sync rule properties.

A template that is exactly one placeholder keeps the column's type (a list stays a list, a number
a number); anywhere else a placeholder is replaced by the value as text (lists joined by ',').
A missing column or None gives None for a whole-value template and '' inside text. ``$$`` is a
literal dollar. Anything else that starts with ``$`` is an error naming its position.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from directord.icinga.errors import ExpressionError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[str | tuple[str], ...]  # literal text, or (column,)

    @property
    def columns(self) -> list[str]:
        return [p[0] for p in self.parts if isinstance(p, tuple)]

    def render(self, row: dict[str, Any]) -> Any:
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple):
            return row.get(self.parts[0][0])
        out = []
        for part in self.parts:
            if isinstance(part, tuple):
                out.append(_text(row.get(part[0])))
            else:
                out.append(part)
        return "".join(out)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def parse(text: str) -> Template:
    parts: list[str | tuple[str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            literal.append(ch)
            i += 1
            continue
        if text.startswith("$$", i):
            literal.append("$")
            i += 2
            continue
        if not text.startswith("${", i):
            raise ExpressionError(
                "a lone '$'",
                text=text,
                position=i,
                expected="'${column}' or '$$' for a dollar sign",
            )
        match = _NAME.match(text, i + 2)
        if match is None:
            raise ExpressionError(
                "no column name after '${'", text=text, position=i + 2, expected="a column name"
            )
        end = match.end()
        if end >= len(text) or text[end] != "}":
            raise ExpressionError("unclosed placeholder", text=text, position=end, expected="'}'")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append((match.group(),))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def parse_value(value: Any) -> Any:
    """A property value from the config: strings become templates, lists and dicts recursively."""
    if isinstance(value, str):
        return parse(value)
    if isinstance(value, list):
        return [parse_value(v) for v in value]
    if isinstance(value, dict):
        return {k: parse_value(v) for k, v in value.items()}
    return value


def render_value(value: Any, row: dict[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(row)
    if isinstance(value, list):
        out = []
        for v in value:
            rendered = render_value(v, row)
            # A whole-value list placeholder inside a list splices in: [generic, "${groups}"].
            if isinstance(v, Template) and isinstance(rendered, list):
                out.extend(rendered)
            elif rendered is not None and rendered != "":
                out.append(rendered)
        return out
    if isinstance(value, dict):
        return {k: render_value(v, row) for k, v in value.items()}
    return value
