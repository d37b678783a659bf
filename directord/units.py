"""Durations and sizes as written in the config (``30s``, ``1h30m``, ``256MiB``): parsing,
range checks and printing them back the way a person writes them. A leaf: no directord imports."""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# A duration is 0 (none/off) or between these: below a millisecond nothing we do can tell the
# difference, and beyond ten years a timestamp arithmetic overflows long before it is useful.
MIN_DURATION = 0.001
MAX_DURATION = 3650 * 86400.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)"
_DURATION_RE = re.compile(rf"\s*(?:(\d+(?:\.\d+)?)|((?:{_PART}\s*)+))\s*\Z")
_PART_RE = re.compile(_PART)
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G)?\s*\Z")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}
# Sizes beyond this are typing mistakes, not memory limits.
MAX_SIZE = 1 << 50
_HINT = "(use 30s, 5m, 1h, 1d)"


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration {_HINT}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration is 0 or more")
        return float(value)
    if isinstance(value, str) and len(value) < 100:
        match = _DURATION_RE.match(value)
        if match and match.group(1) is not None:
            return float(match.group(1))
        if match:
            return sum(float(n) * _UNITS[u] for n, u in _PART_RE.findall(match.group(2)))
    raise ValueError(f"{value!r} is not a duration {_HINT}")


def parse_duration(value: Any, *, positive: bool = False) -> float:
    """``30s``, ``5m``, ``1h``, ``1d``, ``250ms``, ``1h30m`` or plain seconds -> seconds.

    Not a number (``.nan``), infinite, below 1ms (other than 0) or above 3650d is refused with
    the allowed range; ``positive`` refuses 0 too."""
    seconds = _seconds(value)
    if (
        not math.isfinite(seconds)
        or seconds > MAX_DURATION
        or (seconds == 0 and positive)
        or 0 < seconds < MIN_DURATION
    ):
        # The range is written out only here: per valid value it cost 10,000 jobs 0.1 s.
        low = format_duration(MIN_DURATION)
        high = format_duration(MAX_DURATION)
        allowed = f"from {low} to {high}" if positive else f"0 or from {low} to {high}"
        raise ValueError(f"{value!r} is out of range: a duration here is {allowed}")
    return seconds


def parse_size(value: Any) -> int:
    """``256MiB``, ``1GiB``, ``500MB`` or plain bytes -> bytes."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        size = value
    elif isinstance(value, str) and len(value) < 100:
        match = _SIZE_RE.match(value)
        if match:
            size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    if size is None:
        raise ValueError(f"{value!r} is not a size (use 256MiB, 1GiB or bytes)")
    if size > MAX_SIZE:
        raise ValueError(f"{value!r} is out of range: a size here is at most 1PiB")
    return size


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def format_duration(seconds: float) -> str:
    """Seconds -> the way a person writes it, and parse_duration reads back: ``1d``, ``5m``,
    ``1h30m``, ``250ms``; summed from the largest unit down, except that under two minutes
    stays in seconds (``90s``, as people write it, not ``1m30s``)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{seconds!r} is not a duration")
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{_number(seconds * 1000)}ms"
    if seconds < 120 and seconds != 60:
        return f"{_number(seconds)}s"
    whole = int(seconds)
    millis = round((seconds - whole) * 1000, 3)
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if millis > 0:
        parts.append(f"{_number(millis)}ms")
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A config duration: 0 (none) or 1ms..3650d."""
PositiveDuration = Annotated[
    float, BeforeValidator(functools.partial(parse_duration, positive=True))
]
"""A config duration that must be more than 0: 1ms..3650d."""
Size = Annotated[int, BeforeValidator(parse_size)]
"""A config size in bytes: ``256MiB``, ``1GiB``, up to 1PiB."""
