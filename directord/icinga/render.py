"""Desired objects and templates rendered as Icinga 2 configuration (DSL). Pure.

One file per object type under ``zones.d/<zone>/`` (templates in ``templates.conf``), objects
sorted by name, properties in a fixed order (imports first), so the same objects always give the
same bytes. The checksum of the file set identifies a config.

Strings are escaped for the Icinga 2 lexer: ``\\``, ``"``, newline, tab, carriage return, and any
other control character as an octal escape. In custom variables (``vars``), which Icinga 2
validates as macro strings, a ``$`` that is not part of a ``$macro$`` or ``$$`` is written as
``$$``, Icinga 2's literal dollar (a lone ``$`` would fail validation). Values keep their
types: numbers, booleans, null, arrays, dictionaries, and durations (``5m``) for interval and
timeout attributes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from directord.icinga.rules import ObjectType

FILES = {
    "Host": "hosts.conf",
    "HostGroup": "hostgroups.conf",
    "Service": "services.conf",
    "ServiceGroup": "servicegroups.conf",
    "User": "users.conf",
    "UserGroup": "usergroups.conf",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MACRO = re.compile(r"\$\$|\$[A-Za-z0-9_.]+\$|\$")
_DURATION = re.compile(r"\d+(\.\d+)?(ms|s|m|h|d)\Z")
# Attributes whose string values are Icinga 2 durations, rendered unquoted (5m, 30s).
_DURATION_ATTRS = re.compile(r"(^|_)(interval|timeout)$")
# Icinga 2 keywords cannot be used as bare identifiers.
_KEYWORDS = frozenset(
    {
        "object",
        "template",
        "include",
        "include_recursive",
        "include_zones",
        "library",
        "null",
        "true",
        "false",
        "const",
        "var",
        "this",
        "globals",
        "locals",
        "use",
        "default",
        "ignore_on_error",
        "current_filename",
        "current_line",
        "apply",
        "to",
        "where",
        "import",
        "assign",
        "ignore",
        "function",
        "return",
        "break",
        "continue",
        "for",
        "if",
        "else",
        "while",
        "throw",
        "try",
        "except",
        "in",
        "using",
        "namespace",
    }
)


class Template(BaseModel):
    """``templates: {generic-host: {type: Host, properties: {...}}}`` in config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ObjectType
    properties: dict[str, Any] = Field(default_factory=dict)
    imports: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class RenderedConfig:
    files: dict[str, str]  # path -> content, paths like zones.d/master/hosts.conf
    checksum: str

    def as_json(self) -> str:
        return json.dumps(self.files, sort_keys=True)


def string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def literal_dollars(text: str) -> str:
    """Lone ``$`` as ``$$``; ``$macro$`` and ``$$`` stay as they are."""
    return _MACRO.sub(lambda m: "$$" if m.group() == "$" else m.group(), text)


def _key(name: str) -> str:
    return name if _IDENT.match(name) and name not in _KEYWORDS else string(name)


def value(v: Any, attribute: str = "", indent: int = 1, macro: bool = False) -> str:
    """``v`` as an Icinga 2 literal; ``macro``: it is (inside) a custom variable."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{attribute or 'value'}: {v} cannot be rendered")
        return repr(v)
    if isinstance(v, str):
        if _DURATION_ATTRS.search(attribute) and _DURATION.match(v):
            return v
        return string(literal_dollars(v) if macro else v)
    if isinstance(v, list | tuple):
        items = ", ".join(value(x, "", indent, macro) for x in v)
        return f"[ {items} ]" if v else "[ ]"
    if isinstance(v, Mapping):
        if not v:
            return "{ }"
        pad = "  " * (indent + 1)
        inner = "\n".join(
            f"{pad}{_key(str(k))} = {value(x, str(k), indent + 1, macro)}"
            for k, x in sorted(v.items())
        )
        return "{\n" + inner + "\n" + "  " * indent + "}"
    raise ValueError(f"{attribute or 'value'}: a {type(v).__name__} cannot be rendered")


def _target(attribute: str) -> str:
    """``vars.os`` -> ``vars.os``; ``vars.my-key`` -> ``vars["my-key"]``."""
    head, *rest = attribute.split(".")
    if not _IDENT.match(head) or head in _KEYWORDS:
        raise ValueError(f"property {attribute!r}: {head!r} is not an Icinga 2 attribute name")
    out = head
    for part in rest:
        out += f".{part}" if _IDENT.match(part) and part not in _KEYWORDS else f"[{string(part)}]"
    return out


def _body(properties: Mapping[str, Any]) -> list[str]:
    imports = properties.get("imports") or []
    if isinstance(imports, str):
        imports = [imports]
    lines = [f"  import {string(str(i))}" for i in imports]
    for attribute in sorted(k for k in properties if k != "imports"):
        macro = attribute == "vars" or attribute.startswith("vars.")
        rendered = value(properties[attribute], attribute.rsplit(".", 1)[-1], macro=macro)
        lines.append(f"  {_target(attribute)} = {rendered}")
    return lines


def block(keyword: str, object_type: str, name: str, properties: Mapping[str, Any]) -> str:
    body = _body(properties)
    inner = "\n".join(body)
    return (
        f"{keyword} {object_type} {string(name)} {{\n{inner}\n}}\n"
        if body
        else (f"{keyword} {object_type} {string(name)} {{\n}}\n")
    )


def render(
    objects: Iterable[tuple[str, str, Mapping[str, Any]]],
    templates: Mapping[str, Template],
    zone: str,
) -> RenderedConfig:
    """The config for (type, name, properties) objects and the declared templates."""
    folder = f"zones.d/{zone}"
    by_file: dict[str, list[str]] = {}
    for name in sorted(templates):
        t = templates[name]
        props = dict(t.properties)
        if t.imports:
            props["imports"] = t.imports
        by_file.setdefault(f"{folder}/templates.conf", []).append(
            block("template", t.type, name, props)
        )
    for object_type, name, obj_props in sorted(objects, key=lambda o: (o[0], o[1])):
        file = FILES.get(object_type)
        if file is None:
            raise ValueError(f"object type {object_type!r} cannot be rendered")
        by_file.setdefault(f"{folder}/{file}", []).append(
            block("object", object_type, name, obj_props)
        )
    header = "/* Rendered by directord. Changes here are overwritten. */\n\n"
    files = {path: header + "\n".join(blocks) for path, blocks in sorted(by_file.items())}
    digest = hashlib.sha256()
    for path, content in files.items():
        digest.update(f"{path}\0{len(content)}\0{content}".encode())
    return RenderedConfig(files, digest.hexdigest())
