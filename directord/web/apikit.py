"""What every resource of the JSON API is made of: the ``Endpoint`` of the table in ``rest``, the
errors a handler raises (``ApiError``, or ``RawJson`` for an answer that is already encoded), and
reading a request: its JSON body, whole-number and time query parameters, every bad field at once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from directord import catalog, errors, timeperiods
from directord.web import apimodels

Handler = Callable[[web.Request], Awaitable[tuple[int, BaseModel | None]]]
MAX_LIMIT = 500


class RawJson(Exception):
    """A handler's answer that is already serialized JSON (200)."""

    def __init__(self, body: bytes) -> None:
        super().__init__("raw json")
        self.body = body


class ApiError(Exception):
    def __init__(self, status: int, message: str, body: BaseModel | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    write: bool = False
    query: tuple[Query, ...] = ()

    @property
    def summary(self) -> str:
        """OpenAPI's summary: the first paragraph of the handler's docstring."""
        return " ".join((self.handler.__doc__ or "").split("\n\n")[0].split())

    @property
    def tags(self) -> tuple[str, ...]:
        """The resource it belongs to (OpenAPI's tag): the path's first part after /api/."""
        return (self.path.split("/")[2],)


async def body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def invalid(field_errors: list[catalog.FieldError]) -> ApiError:
    """422 naming every bad field."""
    out = apimodels.ValidationOut(
        errors=[apimodels.FieldErrorOut(field=e.field, message=e.message) for e in field_errors]
    )
    return ApiError(422, "invalid", out)


def pydantic_errors(exc: ValidationError) -> list[catalog.FieldError]:
    out = []
    for line in errors.validation_errors(exc):
        field_, _, message = line.partition(": ")
        out.append(catalog.FieldError(field_, message))
    return out


def int_query(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid([catalog.FieldError(name, f"{raw!r} is not a whole number")]) from None
    if not lo <= value <= hi:
        raise invalid([catalog.FieldError(name, f"must be from {lo} to {hi}")])
    return value


def instant(
    text: str | None, name: str, tz: timeperiods.TimePeriod | None, default: datetime
) -> datetime:
    """An ISO-8601 time from the query or body; without an offset, wall time in ``tz``'s zone."""
    if text is None or text == "":
        return default
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise invalid([catalog.FieldError(name, f"{text!r} is not an ISO-8601 time")]) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz.tz if tz is not None else default.tzinfo)
    try:
        at.timestamp()
    except (OverflowError, ValueError):
        raise invalid([catalog.FieldError(name, f"{text!r} is out of range")]) from None
    return at
