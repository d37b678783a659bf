"""Durations and sizes: parsing, the allowed range, and printing them as a person writes them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directord import config as config_mod
from directord import errors, units


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (1.5, "1.5s"),
        (30, "30s"),
        (60, "1m"),
        (90, "90s"),
        (120, "2m"),
        (300, "5m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (129600, "1d12h"),
        (150, "2m30s"),
    ],
)
def test_format_duration_as_written(seconds: float, text: str) -> None:
    assert units.format_duration(seconds) == text
    assert units.parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "seconds"), [("1h30m", 5400), ("1d 12h", 129600), ("2m30s", 150)])
def test_compound_durations(text: str, seconds: float) -> None:
    assert units.parse_duration(text) == seconds


@given(st.integers(min_value=0, max_value=int(units.MAX_DURATION * 1000)))
def test_format_then_parse_is_the_same_duration(millis: int) -> None:
    seconds = millis / 1000
    assert math.isclose(units.parse_duration(units.format_duration(seconds)), seconds, abs_tol=1e-6)


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e22 * 86400, "0.0001ms", "3651d", 10**30])
def test_absurd_durations_name_the_allowed_range(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"out of range: a duration here is 0 or from 1ms to 3650d"
    ):
        units.parse_duration(value)


def test_a_positive_duration_refuses_zero() -> None:
    with pytest.raises(ValueError, match=r"from 1ms to 3650d"):
        units.parse_duration("0s", positive=True)


def test_absurd_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"at most 1PiB"):
        units.parse_size("1e9TiB".replace("e9", "000000000"))


def test_the_old_names_still_work() -> None:
    assert config_mod.parse_duration is units.parse_duration
    assert config_mod.ConfigError is errors.ConfigError
    assert config_mod.unknown("job", "x", ["a"]) == "unknown job 'x' (known: a)"
