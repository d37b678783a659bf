"""The monitoring-plugin verdict from /health and /status (Nagios/Icinga exit codes)."""

from __future__ import annotations

from typing import Any

from directord import check


def job(name: str, result: str | None = "succeeded", **kw: Any) -> dict[str, Any]:
    return {"name": name, "enabled": True, "last_result": result, "overdue": False, **kw}


def test_ok() -> None:
    v = check.evaluate((200, {}), {"jobs": [job("a"), job("b")], "running": [{"job": "a"}]})
    assert v.code == check.OK
    assert v.text == "OK - 2 jobs, 0 failing, 0 overdue | jobs=2 failing=0 overdue=0 running=1"


def test_failing_is_a_warning_and_named() -> None:
    v = check.evaluate(
        (200, {}),
        {
            "jobs": [
                job("a", "timed_out"),
                job("b", "interrupted"),
                job("c", None),
                job("d", "failed", enabled=False),
            ]
        },
    )
    assert v.code == check.WARNING
    assert v.text.splitlines() == [
        "WARNING - 3 jobs, 2 failing, 0 overdue | jobs=3 failing=2 overdue=0 running=0",
        "failing: a, b",
    ]


def test_overdue_is_critical() -> None:
    v = check.evaluate((200, {}), {"jobs": [job("a", overdue=True), job("b", "failed")]})
    assert v.code == check.CRITICAL
    assert "overdue: a" in v.text


def test_unhealthy_is_critical_with_the_reason() -> None:
    v = check.evaluate(
        (503, {"problems": ["the event loop was blocked for 3.0s"]}), {"jobs": [job("a")]}
    )
    assert v.code == check.CRITICAL
    assert v.text.startswith("CRITICAL - the event loop was blocked for 3.0s; 1 jobs")


def test_unreachable_is_unknown() -> None:
    v = check.check("http://127.0.0.1:9", timeout=2)
    assert v.code == check.UNKNOWN
    assert v.text.startswith("UNKNOWN - cannot reach directord at http://127.0.0.1:9")


def node(name: str, alive: bool, silent: float, stopped: str | None = None) -> dict[str, Any]:
    return {"node": name, "alive": alive, "silent_for": silent, "stopped": stopped}


def test_a_peer_silent_within_the_hour_is_a_warning() -> None:
    nodes = [
        node("m1", True, 1),
        node("m2", False, 95),
        node("old", False, 7200),  # gone for longer: history
        node("m3", False, 40, stopped="2026-12-01T00:00:00+00:00"),  # stopped cleanly
    ]
    v = check.evaluate((200, {}), {"jobs": [job("a")], "nodes": nodes})
    assert v.code == check.WARNING
    assert v.text.splitlines()[0] == (
        "WARNING - 1 jobs, 0 failing, 0 overdue, peer silent: m2 (silent 95s) "
        "| jobs=1 failing=0 overdue=0 running=0"
    )
    healthy = check.evaluate((200, {}), {"jobs": [job("a")], "nodes": nodes[:1]})
    assert healthy.code == check.OK


def test_differing_definitions_are_a_warning() -> None:
    text = "job 'a' has different definitions on the live nodes: m1 (x); m2 (y)"
    v = check.evaluate((200, {}), {"jobs": [job("a")], "warnings": [text]})
    assert v.code == check.WARNING
    assert v.text.splitlines()[1] == text


def test_a_node_cut_off_from_its_database_is_critical() -> None:
    problems = ["database unreachable since 2026-12-01 10:00:00: connection refused"]
    v = check.evaluate((503, {"problems": problems}), {"jobs": [job("a")], "nodes": []})
    assert v.code == check.CRITICAL
    assert v.text.startswith("CRITICAL - database unreachable since 2026-12-01 10:00:00")
