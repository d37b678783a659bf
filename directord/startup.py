"""Signals before the event loop exists (issue 9.10).

Importing the CLI and reading the config take a while; without a handler a SIGTERM then kills the
daemon with exit 143. ``install`` runs first thing in ``python -m directord`` (and the
``directord`` command): until the daemon's loop takes over (``defer``), SIGTERM/SIGINT end the
process at once with exit 0 and a line on stderr: nothing is open yet, nothing can be lost. From
``defer`` on they are only noted, and the daemon's loop acts on them at its next step. SIGHUP
during start-up is ignored: the config being loaded is the newest anyway. Only stdlib imports here.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
received: list[str] = []
_deferred = False


def is_daemon(argv: list[str]) -> bool:
    """Whether the command line asks for the daemon (``jobs run --forever`` / ``forever``)."""
    return "--forever" in argv or ("run" in argv and "forever" in argv)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if signum == signal.SIGHUP:
        return
    received.append(name)
    if not _deferred:
        sys.stderr.write(f"directord: {name} during start-up: exiting before serving\n")
        sys.stderr.flush()
        # Not SystemExit: a signal can land inside code that swallows exceptions (an import
        # lock's weakref callback printed "Exception ignored ... SystemExit" and went on). Nothing
        # is open before the loop takes over, so ending the process here loses nothing.
        os._exit(0)


def install(argv: list[str]) -> None:
    """Handle stop signals from now on, if ``argv`` starts the daemon (other commands keep the
    default: a signal ends them as it always did)."""
    if not is_daemon(argv):
        return
    for sig in (*STOP_SIGNALS, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def defer() -> None:
    """From now on only note stop signals (the daemon checks ``received`` at each step)."""
    global _deferred
    _deferred = True
