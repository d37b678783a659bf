"""Rendering Icinga 2 DSL: exact escaping and typed values, checked by Icinga 2's own validation."""

from __future__ import annotations

import pytest

from directord.icinga import render
from tests import services

TRICKY = 'He said "hi" \\ C:\\temp\\new\nsecond line\t$HOST$ $ \x07 end ü€'


def test_strings_are_escaped_exactly() -> None:
    assert render.string(TRICKY) == (
        '"He said \\"hi\\" \\\\ C:\\\\temp\\\\new\\nsecond line\\t$HOST$ $ \\007 end ü€"'
    )


def test_lone_dollars_in_custom_vars_become_literal() -> None:
    assert render.literal_dollars("$HOST$ costs $5 and $$ stays, $host.name$") == (
        "$HOST$ costs $$5 and $$ stays, $host.name$"
    )
    files = render.render(
        [("Host", "h", {"vars.price": "$5", "display_name": "$5"})], {}, "master"
    ).files
    assert 'vars.price = "$$5"' in files["zones.d/master/hosts.conf"]
    assert 'display_name = "$5"' in files["zones.d/master/hosts.conf"]


def test_values_keep_their_types() -> None:
    assert render.value(3) == "3"
    assert render.value(2.5) == "2.5"
    assert render.value(True) == "true"
    assert render.value(None) == "null"
    assert render.value("5m", "check_interval") == "5m"
    assert render.value("5m", "note") == '"5m"'
    assert render.value(["a", 1]) == '[ "a", 1 ]'
    assert render.value({"b": 1, "a-b": [True], "if": "x"}) == (
        '{\n    "a-b" = [ true ]\n    b = 1\n    "if" = "x"\n  }'
    )
    with pytest.raises(ValueError, match="cannot be rendered"):
        render.value(float("nan"))


def test_render_is_deterministic_and_grouped_by_type() -> None:
    objects = [
        ("Host", "b", {"address": "2"}),
        ("HostGroup", "g", {}),
        ("Host", "a", {"vars.os": "x", "imports": ["t"], "address": "1"}),
    ]
    first = render.render(objects, {}, "master")
    second = render.render(list(reversed(objects)), {}, "master")
    assert first == second
    assert sorted(first.files) == ["zones.d/master/hostgroups.conf", "zones.d/master/hosts.conf"]
    hosts = first.files["zones.d/master/hosts.conf"]
    assert hosts.index('object Host "a"') < hosts.index('object Host "b"')
    assert 'object Host "a" {\n  import "t"\n  address = "1"\n  vars.os = "x"\n}\n' in hosts
    assert render.render(objects[:2], {}, "master").checksum != first.checksum


@pytest.mark.icinga2
def test_rendered_config_passes_icinga2_validation() -> None:
    templates = {
        "generic-host": render.Template(
            type="Host",
            properties={
                "check_command": "dummy",
                "check_interval": "5m",
                "retry_interval": "30s",
                "max_check_attempts": 3,
                "enable_active_checks": False,
            },
        )
    }
    objects = [
        (
            "Host",
            'tricky "name" \\ $',
            {
                "imports": ["generic-host"],
                "address": "192.0.2.1",
                "display_name": TRICKY,
                "vars.note": TRICKY,
                "vars.list": [1, 2.5, True, None, TRICKY],
                "vars.nested": {"a-b": {"c": TRICKY}, "if": 1},
                "vars.my-key": "x",
                "groups": ["g1"],
            },
        ),
        ("HostGroup", "g1", {"display_name": "Group $1"}),
        ("User", "u1", {"email": "u1@example.com", "vars.pager": "+49 1"}),
        ("UserGroup", "ug1", {}),
    ]
    rendered = render.render(objects, templates, "master")
    result = services.icinga2_validate(rendered.files)
    assert result.returncode == 0, result.stdout[-3000:]
    broken = render.render([("Host", "x", {"imports": ["no-such-template"]})], {}, "master")
    rejected = services.icinga2_validate(broken.files)
    assert rejected.returncode != 0
    assert "Import references unknown template: 'no-such-template'" in rejected.stdout
