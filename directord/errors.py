"""Error types and messages shared by every room: a leaf, it imports nothing of directord's
but the secret-name rule (so errors never repeat a secret value)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from directord import redact


class ConfigError(Exception):
    """A config that cannot be used. ``errors`` holds one line per problem, each with its path."""

    def __init__(self, errors: Iterable[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if len(self.errors) == 1:
            return f"{head}{self.errors[0]}"
        lines = "\n".join(f"  {e}" for e in self.errors)
        return f"{head}{len(self.errors)} errors\n{lines}"


def unknown(what: str, name: str, known: Iterable[str], none: str = "none defined") -> str:
    """``unknown import source 'x' (known: a, b)``: the one way we say a name does not exist."""
    listed = ", ".join(sorted(known)) or none
    return f"unknown {what} {name!r} (known: {listed})"


def location(loc: Iterable[int | str]) -> str:
    """``('jobs', 2, 'settings', 'command')`` -> ``jobs[2].settings.command``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out or "(top level)"


def _message(error: Mapping[str, Any], secret: bool = False) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown key"
    if msg.startswith("Value error, "):
        return str(msg[len("Value error, ") :])
    value = error.get("input")
    if secret:
        return f"{msg[0].lower()}{msg[1:]} (value not shown: a secret)"
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{value!r}: {msg[0].lower()}{msg[1:]}"
    return f"{msg[0].lower()}{msg[1:]}"


def validation_errors(
    exc: ValidationError,
    prefix: tuple[int | str, ...] = (),
    secret: frozenset[str] = frozenset(),
    names: Mapping[int, str] | None = None,
) -> list[str]:
    """One line per error: its field path and what is wrong. Values of fields that are secret
    (named in ``secret``, or named like a password or token) are not repeated. With ``names``
    (job index -> job name), ``jobs[5]`` reads ``jobs[5] (nightly-backup)``."""
    out = []
    for e in exc.errors():
        loc = (*prefix, *e["loc"])
        secret_field = any(redact.is_secret_name(part, secret) for part in e["loc"])
        out.append(f"{job_location(loc, names)}: {_message(e, secret_field)}")
    return out


def job_location(loc: tuple[int | str, ...], names: Mapping[int, str] | None) -> str:
    """The path, with the job's name after ``jobs[i]`` when it is known."""
    if names and len(loc) >= 2 and loc[0] == "jobs" and isinstance(loc[1], int):
        rest = location(("x", *loc[2:]))[1:] if len(loc) > 2 else ""
        return job_where(loc[1], names) + rest
    return location(loc)


def job_where(index: int, names: Mapping[int, str] | None = None) -> str:
    """``jobs[5] (nightly-backup)``, or ``jobs[5]`` when the job has no usable name."""
    name = (names or {}).get(index)
    return f"jobs[{index}] ({name})" if name else f"jobs[{index}]"
