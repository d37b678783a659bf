"""Bad config input ends in a ConfigError naming what and where (the CLI's exit 2), never a
traceback, a hang or unbounded memory; and every error is listed at once."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directord import config as config_mod
from directord import errors
from directord.jobs import registry

KINDS = registry.discover()

BOMB_LEVELS = "\n".join(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9))
BOMB_IN_PROPERTIES = f"""
import_sources:
  cmdb: {{type: csv, path: hosts.csv, key_column: hostname}}
sync_rules:
  hosts:
    object_type: Host
    sources: [cmdb]
    object_name: "${{hostname}}"
    properties:
      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]
{BOMB_LEVELS.replace("    l", "      l")}
"""
BOMB_IN_TEMPLATES = f"""
templates:
  generic-host:
    type: Host
    properties:
      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]
{BOMB_LEVELS.replace("    l", "      l")}
"""


def load_text(tmp_path: Path, text: str | bytes) -> config_mod.Settings:
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return config_mod.load(path, kinds=KINDS)


def problems(tmp_path: Path, text: str | bytes) -> list[str]:
    with pytest.raises(errors.ConfigError) as info:
        load_text(tmp_path, text)
    return info.value.errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x00",
            "line 1, column 11: not UTF-8 text (byte 0xff at offset 10)",
        ),
        (b"jobs: []\nnode: caf\xe9\n", "line 2, column 10: not UTF-8 text (byte 0xe9"),
        ("node: a\x00b\n", "line 1, column 8: not valid YAML: character '\\x00' is not allowed"),
        ("a: " + "[" * 3000 + "]" * 3000, "not valid YAML: exceeded maximum nesting depth"),
        ("k:\n" + "- " * 3000 + "a\n", "line 2, column 127: nested more than 64 levels deep"),
        (BOMB_IN_PROPERTIES, "an alias bomb?"),
        (BOMB_IN_TEMPLATES, "an alias bomb?"),
        ("a: &a [*a]\n", "line 1, column 4: an alias refers to a value that contains it"),
        ("jobs: [\n", "line 2, column 1: not valid YAML"),
    ],
)
def test_unusable_files_name_the_place(tmp_path: Path, text: str | bytes, expected: str) -> None:
    (found,) = problems(tmp_path, text)
    assert expected in found


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    os.mkfifo(path)
    with pytest.raises(errors.ConfigError, match="not a regular file"):
        config_mod.load(path)


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    with path.open("wb") as f:
        f.truncate(64 << 20)  # sparse: no disk used
    with pytest.raises(errors.ConfigError, match="larger than"):
        config_mod.load(path)


JOB = {"name": "a", "kind": "command", "settings": {"command": ["true"]}}


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("interval", math.nan),
        ("interval", math.inf),
        ("interval", "1e22d"),
        ("interval", 1e22 * 86400),
        ("interval", "0.0001ms"),
        ("timeout", math.inf),
        ("max_lifetime", math.nan),
        ("stale_after", "0s"),
    ],
)
def test_absurd_durations_are_refused_with_the_range(where: str, value: object) -> None:
    raw: dict[str, Any] = {"jobs": [{**JOB, "interval": "1h"}]}
    if where in {"interval", "timeout"}:
        raw["jobs"][0][where] = value
    elif where == "max_lifetime":
        raw["runner"] = {"max_lifetime": value}
    else:
        raw["http"] = {"stale_after": value}
    with pytest.raises(errors.ConfigError) as info:
        config_mod.parse(raw, kinds=KINDS)
    (found,) = info.value.errors
    if value == "1e22d":
        assert "is not a duration" in found
    else:
        assert "out of range: a duration here is" in found
        assert "1ms to 3650d" in found


@pytest.mark.parametrize("name", ["a/b", "a\x00b", "", " a", "a ", "../x", "a\nb", "x" * 129])
def test_job_names_outside_the_charset_are_refused(name: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        config_mod.parse({"jobs": [{**JOB, "name": name, "interval": "1h"}]}, kinds=KINDS)
    assert any(e.startswith("jobs[0]") and ".name: " in e for e in info.value.errors)


@pytest.mark.parametrize("name", ["nightly-backup", "import cmdb", "a.b_c:d@e+f", "Übersicht", "1"])
def test_job_names_in_the_charset_are_fine(name: str) -> None:
    settings = config_mod.parse({"jobs": [{**JOB, "name": name, "interval": "1h"}]}, kinds=KINDS)
    assert settings.jobs[0].name == name


def test_every_error_at_once_naming_the_job(tmp_path: Path) -> None:
    # Four mistakes of four kinds: an unknown key used to hide the other three.
    text = """
        colour: blue
        timeperiods:
          nights: {ranges: {"monday - sunday": "22:00-06:00"}}
        jobs:
          - {name: nightly-backup, kind: command, interval: 5x, settings: {command: [cp]}}
          - {name: report, kind: command, interval: 1h, settings: {command: [x]}}
          - {name: report, kind: command, interval: 1h, settings: {command: [y]}}
          - {name: purge, kind: housekeeping, interval: 1d, timeperiod: nihgts,
             settings: {keep_days: many}}
    """
    found = problems(tmp_path, "\n".join(line[8:] for line in text.splitlines()))
    assert found == [
        "colour: unknown key",
        "jobs[0] (nightly-backup).interval: '5x' is not a duration (use 30s, 5m, 1h, 1d)",
        "jobs[2] (report).name: 'report' is already the name of jobs[1] (report)",
        "jobs[3] (purge).timeperiod: unknown time period 'nihgts' (known: nights)",
        "jobs[3] (purge).settings.keep_days: 'many': input should be a valid number, "
        "unable to parse string as a number",
    ]


def test_a_broken_entry_does_not_cause_reports_about_references_to_it() -> None:
    raw = {
        "timeperiods": {"nights": {"ranges": {"monday": "25:00-26:00"}, "colour": 1}},
        "import_sources": {"cmdb": {"type": "csv", "key_column": "k"}},
        "sync_rules": {
            "hosts": {"object_type": "Host", "sources": ["cmdb"], "object_name": "${k}"}
        },
        "jobs": [{**JOB, "interval": "1h", "timeperiod": "nights"}],
    }
    with pytest.raises(errors.ConfigError) as info:
        config_mod.parse(raw, kinds=KINDS)
    assert info.value.errors == [
        "timeperiods.nights.colour: unknown key",
        "import_sources.cmdb.csv.path: missing (required)",
    ]


# -- fuzzing: whatever the input, a Settings or a ConfigError -----------------------------------

KEYS = [
    "jobs", "name", "kind", "interval", "timeout", "timeperiod", "after", "retry", "settings",
    "command", "env", "timeperiods", "ranges", "includes", "excludes", "timezone", "runner",
    "concurrency", "max_lifetime", "http", "listen", "stale_after", "token_file", "templates",
    "type", "properties", "import_sources", "sync_rules", "sources", "object_name", "filter",
    "path", "key_column", "modifiers", "column", "modifier", "monday", "source", "all",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(["1h", "0", "5x", "csv", "command", "Host", "${a}", "monday", "a/b"])
    | st.text(max_size=20)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)


def only_config_errors(call: Any) -> None:
    try:
        call()
    except errors.ConfigError as exc:
        problems = exc.errors
    else:
        return
    assert problems
    assert all(isinstance(e, str) and e for e in problems)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_fuzz_structures(raw: dict[str, Any]) -> None:
    only_config_errors(lambda: config_mod.parse(raw, kinds=KINDS))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"name": SCALARS, "kind": st.sampled_from(["command", "import", "sync", "x"])},
            optional={"interval": SCALARS, "settings": VALUES, "after": VALUES},
        ),
        max_size=4,
    )
)
def test_fuzz_jobs(jobs: list[dict[str, Any]]) -> None:
    only_config_errors(lambda: config_mod.parse({"jobs": jobs}, kinds=KINDS))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_bytes(tmp_path: Path, data: bytes) -> None:
    only_config_errors(lambda: load_text(tmp_path, data))


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_fuzz_yaml_documents(tmp_path: Path, raw: dict[str, Any]) -> None:
    text = yaml.safe_dump(raw, default_flow_style=bool(len(raw) % 2))
    only_config_errors(lambda: load_text(tmp_path, text))


def test_an_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("jobs: []\n")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        path.chmod(stat.S_IWUSR)
        pytest.skip("running as root")
    with pytest.raises(errors.ConfigError, match="cannot read"):
        config_mod.load(path)
