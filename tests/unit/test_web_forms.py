"""The job form: fields from a kind's settings model and the posted form back into a definition."""

from __future__ import annotations

from directord.jobs.command import Command
from directord.web import forms


def by_key(fields: list[forms.Field]) -> dict[str, forms.Field]:
    return {f.key: f for f in fields}


def test_fields_are_named_by_their_config_keys() -> None:
    fields = forms.job_fields(
        {"name": "b", "kind": "command", "interval": 3600.0, "settings": {"command": ["a", "b"]}},
        kinds=["command", "housekeeping"],
        periods=["nights"],
        model=Command.Settings,
        secret=frozenset(),
        editing=False,
    )
    keys = by_key(fields)
    assert list(keys)[:6] == ["name", "kind", "interval", "timeperiod", "timeout", "disabled"]
    assert keys["interval"].value == "1h"
    assert keys["kind"].widget == "select"
    assert keys["kind"].options == ("command", "housekeeping")
    assert keys["timeperiod"].options == ("", "nights")
    assert keys["settings.command"].widget == "lines"
    assert keys["settings.command"].value == "a\nb"
    assert keys["settings.command"].required
    assert keys["settings.inherit_env"].widget == "checkbox"
    assert keys["settings.inherit_env"].value is True
    assert keys["settings.env"].widget == "lines"


def test_secret_settings_are_password_fields_without_their_value() -> None:
    fields = by_key(
        forms.settings_fields(
            Command.Settings, {"cwd": "/tmp"}, secret=frozenset({"cwd"}), editing=True
        )
    )
    assert fields["settings.cwd"].widget == "password"
    assert fields["settings.cwd"].value == ""


def test_form_back_into_a_definition() -> None:
    posted = {
        "name": "b",
        "kind": "command",
        "interval": " 5m ",
        "timeperiod": "",
        "timeout": "",
        "settings.command": "echo\n\nhello \n",
        "settings.env": "A=1\nB = two",
        "settings.ok_exit_codes": "0\n3",
        "settings.cwd": "",
    }
    d = forms.definition_from_form(posted, Command.Settings, frozenset())
    assert d == {
        "name": "b",
        "kind": "command",
        "interval": "5m",
        "disabled": False,
        "settings": {
            "command": ["echo", "hello"],
            "env": {"A": "1", "B": "two"},
            "inherit_env": False,
            "ok_exit_codes": ["0", "3"],
        },
    }
    validated = Command.Settings.model_validate(d["settings"])
    assert validated.ok_exit_codes == [0, 3]


def test_an_empty_secret_on_edit_keeps_the_stored_one() -> None:
    previous = {"settings": {"cwd": "/srv/secret"}}
    posted = {"settings.command": "x", "settings.cwd": ""}
    d = forms.definition_from_form(posted, Command.Settings, frozenset({"cwd"}), previous)
    assert d["settings"]["cwd"] == "/srv/secret"
    d = forms.definition_from_form(
        {**posted, "settings.cwd": "/new"}, Command.Settings, frozenset({"cwd"}), previous
    )
    assert d["settings"]["cwd"] == "/new"


def test_typed_values_survive_an_error_round_trip() -> None:
    fields = forms.job_fields(
        {}, ["command"], [], Command.Settings, frozenset({"cwd"}), editing=False
    )
    posted = {
        "name": "b",
        "interval": "5 parsecs",
        "settings.command": "a\nb",
        "settings.cwd": "pw",
    }
    again = by_key(forms.form_values(posted, fields))
    assert again["interval"].value == "5 parsecs"
    assert again["settings.command"].value == "a\nb"
    assert again["settings.cwd"].value == ""  # passwords are never sent back
