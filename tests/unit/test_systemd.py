"""The watchdog period that the daemon's heartbeat follows (the e2e test only counts messages)."""

from __future__ import annotations

import os

from directord.systemd import Notifier


def test_watchdog_every_half_timeout() -> None:
    assert Notifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000"}).watchdog_interval == 0.5


def test_no_watchdog_without_usec_or_for_another_pid() -> None:
    assert Notifier({"NOTIFY_SOCKET": "@x"}).watchdog_interval is None
    other = str(os.getpid() + 1)
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": other}
    assert Notifier(env).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "junk"}).watchdog_interval is None


def test_abstract_address() -> None:
    assert Notifier({"NOTIFY_SOCKET": "@name"}).address == "\0name"
    assert not Notifier({}).enabled
