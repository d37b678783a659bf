"""Config parsing: durations, sizes, defaults, and errors that name the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from directord import config as config_mod
from directord import config_secrets
from directord.jobs import base, registry


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1d", 86400),
        ("250ms", 0.25),
        (90, 90),
        ("1.5h", 5400),
        ("45", 45),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert config_mod.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "-1s", True, "1 hour", None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration|negative"):
        config_mod.parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [("256MiB", 256 << 20), ("1GiB", 1 << 30), ("500MB", 500 * 10**6), (42, 42)]
)
def test_sizes(text: object, size: int) -> None:
    assert config_mod.parse_size(text) == size


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("database: sqlite:///state/d.db\njobs: []\n")
    settings = config_mod.load(path)
    assert settings.database_url() == f"sqlite:///{tmp_path}/state/d.db"
    assert settings.http.listen == "127.0.0.1:8040"
    assert settings.runner.concurrency == 1
    assert settings.runner.memory_growth_limit == 256 << 20
    assert settings.runner.shutdown_grace == 30
    assert settings.monitor.port == 20101
    assert settings.resolve_path("x/y") == tmp_path / "x" / "y"


def test_errors_name_field_and_value(tmp_path: Path) -> None:
    raw = {
        "runner": {"concurrency": 0, "memory_growth_limit": "lots"},
        "http": {"listen": "8040"},
        "jobs": [
            {"name": "a", "kind": "noop", "interval": "1h"},
            {"name": "b", "kind": "noop", "interval": "5x"},
            {"name": "c", "interval": "1h"},
        ],
    }
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse(raw, source="c.yaml")
    errors = info.value.errors
    assert "jobs[1] (b).interval: '5x' is not a duration (use 30s, 5m, 1h, 1d)" in errors
    assert "jobs[2] (c).kind: missing (required)" in errors
    assert "runner.memory_growth_limit: 'lots' is not a size (use 256MiB, 1GiB or bytes)" in errors
    assert any(e.startswith("runner.concurrency: 0: input should be greater than") for e in errors)
    # Every error at once: the bad runner and job fields do not hide the bad listen address.
    assert "http.listen: '8040' is not host:port (e.g. 127.0.0.1:8040)" in errors
    assert str(info.value).startswith("c.yaml: 5 errors")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("jobs:\n  - name: a\n    kind: [unclosed\n")
    with pytest.raises(config_mod.ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        config_mod.load(path)


def test_semantic_checks(tmp_path: Path) -> None:
    raw = {
        "jobs": [
            {"name": "a", "kind": "noop", "interval": "1h", "after": ["b"]},
            {"name": "b", "kind": "noop", "interval": "0", "after": ["a"]},
        ]
    }
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse(raw)
    assert "jobs[1] (b).interval: must be more than 0 seconds" in info.value.errors
    assert any("chained jobs form a cycle: a -> b -> a" in e for e in info.value.errors)


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIRECTORD_CONFIG", raising=False)
    assert config_mod.find_config("given.yaml") == Path("given.yaml")
    monkeypatch.setenv("DIRECTORD_CONFIG", "/env.yaml")
    assert config_mod.find_config(None) == Path("/env.yaml")
    monkeypatch.delenv("DIRECTORD_CONFIG")
    (tmp_path / "config.yaml").write_text("{}")
    assert config_mod.find_config(None) == Path("config.yaml")


def test_errors_never_repeat_a_secret_value() -> None:
    raw = {
        "jobs": [
            {
                "name": "a",
                "kind": "secret",
                "interval": "1h",
                "settings": {"user": ["not", "a", "string"], "password": 12345},
            },
            {
                "name": "b",
                "kind": "command",
                "interval": "1h",
                "settings": {"command": ["x"], "env": {"TOKEN": 987654}},
            },
        ]
    }
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse(raw, kinds=registry.discover())
    text = str(info.value)
    assert "jobs[0] (a).settings.password: input should be a valid string (value not shown" in text
    assert "jobs[1] (b).settings.env.TOKEN:" in text
    assert "12345" not in text
    assert "987654" not in text
    assert "jobs[0] (a).settings.user" in text


def test_cluster_scope_needs_a_shared_database() -> None:
    with pytest.raises(
        config_mod.ConfigError,
        match=r"runner\.scope: 'cluster' needs a database the nodes share .*use 'node'",
    ):
        config_mod.parse({"runner": {"scope": "cluster"}})


def test_high_availability_keys(tmp_path: Path) -> None:
    pg = "postgresql://directord@db.example:5432/directord"
    settings = config_mod.parse(
        {"database": pg, "database_password_file": "secret/pw", "node": "m1"}, base_dir=tmp_path
    )
    assert (settings.runner_scope, settings.runner.lease) == ("cluster", 30.0)
    options = settings.store_options()
    assert options == {
        "password_file": tmp_path / "secret" / "pw",
        "node": "m1",
        "lease": 30.0,
        "cluster_limit": 1,
    }
    opted_out = config_mod.parse(
        {"database": pg, "runner": {"scope": "node", "lease": "10s", "concurrency": 2}}
    )
    assert opted_out.store_options()["cluster_limit"] is None
    assert opted_out.store_options()["lease"] == 10.0
    assert config_mod.parse({}).runner_scope == "node"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"database": "postgresql://u:hunter2@h/db"},
            r"database: 'postgresql://u:\*\*\*@h/db' holds a password; put it in "
            r"database_password_file",
        ),
        ({"database": "mysql://u:hunter2@h/db"}, r"database: 'mysql://u:\*\*\*@h/db' is neither"),
        ({"database_password_file": "pw"}, r"only a PostgreSQL database takes a password"),
        (
            {"database": "postgresql://h/db", "runner": {"lease": "500ms"}},
            r"runner\.lease: 0\.5s is too short",
        ),
    ],
)
def test_database_errors_never_show_a_password(raw: dict[str, object], message: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=message) as exc:
        config_mod.parse(raw)
    assert "hunter2" not in str(exc.value)


def test_kind_settings_are_validated_once_per_load() -> None:
    calls: list[str] = []

    class Counted(base.Job):
        kind = "counted"
        description = "counts its validations"

        @classmethod
        def check_config(cls, settings: object, config: object) -> list[str]:
            calls.append("checked")
            return []

        async def run(self, ctx: base.JobContext) -> base.JobResult:
            return base.JobResult.ok("")

    kinds = registry.Kinds({"counted": Counted}, [])
    settings = config_mod.parse(
        {"jobs": [{"name": "a", "kind": "counted", "interval": "1h"}]}, kinds=kinds
    )
    validated, problems = registry.validate_jobs(settings, kinds)  # as building the specs does
    assert problems == []
    assert list(validated) == ["a"]
    assert calls == ["checked"]


def test_a_copy_with_other_jobs_is_validated_and_redacted_anew() -> None:
    kinds = registry.discover()
    job = {"name": "a", "kind": "command", "interval": "1h", "settings": {"command": ["x"]}}
    settings = config_mod.parse({"jobs": [job]}, kinds=kinds)
    assert config_secrets.redactor(settings)("key sesame-1234") == "key sesame-1234"
    other = config_mod.JobConfig.model_validate(
        {**job, "name": "b", "settings": {"command": ["y"], "env": {"PASSWORD": "sesame-1234"}}}
    )
    merged = settings.model_copy(update={"jobs": [*settings.jobs, other]})
    validated, problems = registry.validate_jobs(merged, kinds)
    assert (sorted(validated), problems) == (["a", "b"], [])
    assert config_secrets.redactor(merged)("key sesame-1234") == "key ***"
