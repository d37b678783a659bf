"""A run's processes: how they are marked, found and ended, so none outlives its run.

Every child a job spawns (``spawn_args``) gets
- its own session and process group (``start_new_session``): the group is noted on the run's
  row as ``pgid:start time@host`` of its leader, so a reused pid or another host's is not taken
  for it;
- the marks ``DIRECTORD_RUN_ID`` and ``DIRECTORD_RUN_OWNER`` in its environment, inherited by
  everything it starts, also by what leaves the group (``setsid cmd &``, a double fork);
- on Linux ``PR_SET_PDEATHSIG`` (SIGTERM): if the daemon dies, the kernel tells the direct child
  (set by ``setpriv --pdeathsig`` in front of the command, so the spawn stays a cheap vfork).

A run's leftovers (``find``) are the live processes in its group or session (not older than the
group's leader: a pgid is not reused while a member lives) and those whose environment carries
its marks (read from ``/proc/PID/environ``). A process that clears its environment *and* leaves
the session is not found. Ending them (``end``) is SIGTERM, a short grace, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
from loguru import logger

RUN_ID_ENV = "DIRECTORD_RUN_ID"
RUN_OWNER_ENV = "DIRECTORD_RUN_OWNER"
GRACE = 2.0  # seconds between SIGTERM and SIGKILL for what is left of a run
_PR_SET_PDEATHSIG = 1
_HOST = socket.gethostname()


@dataclass(frozen=True)
class Group:
    """A process group by its leader: pid (= pgid), start time and host."""

    pgid: int
    created: float
    host: str = _HOST

    def __str__(self) -> str:
        return f"{self.pgid}:{self.created:.3f}@{self.host}"

    @classmethod
    def parse(cls, text: str | None) -> Group | None:
        """The group of a ``process_group`` column; None for nothing or anything malformed."""
        if not text:
            return None
        ids, _, host = text.partition("@")
        pgid, _, created = ids.partition(":")
        try:
            return cls(int(pgid), float(created), host)
        except ValueError:
            return None

    @classmethod
    def of(cls, pid: int) -> Group | None:
        """The group led by ``pid`` (None: it is gone already)."""
        stat = _stat(pid, psutil.boot_time())
        return None if stat is None else cls(pid, stat.created)


@dataclass(frozen=True)
class Marks:
    """What a run's children carry in their environment: the run's id and its owner."""

    run_id: int
    owner: str

    def env(self) -> dict[str, str]:
        return {RUN_ID_ENV: str(self.run_id), RUN_OWNER_ENV: self.owner}

    def carried_by(self, environ: bytes) -> bool:
        entries = environ.split(b"\0")
        return all(f"{k}={v}".encode() in entries for k, v in self.env().items())


def _pdeathsig() -> Callable[[], None] | None:
    """A preexec function setting PR_SET_PDEATHSIG, where prctl exists (Linux) but setpriv does
    not. It runs in the child between fork and exec: one call of a libc function resolved here,
    before any fork, and getppid; no lock, no logging. (It costs the spawn its vfork: ~5-10 ms.)"""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent, term = os.getpid(), int(signal.SIGTERM)

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, term)
        if os.getppid() != parent:  # the daemon died before the prctl: nobody would tell
            os.kill(os.getpid(), term)

    return set_pdeathsig


@functools.cache
def _setpriv() -> str | None:
    """util-linux's setpriv, if it can set the parent-death signal (Debian since 10)."""
    found = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if found is None:
        return None
    try:
        # Once a process, a few ms: not worth a thread.
        out = subprocess.run(
            [found, "--help"], check=False, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if "--pdeathsig" in out.stdout else None


_PREEXEC: tuple[int, Callable[[], None] | None] | None = None


def _preexec() -> Callable[[], None] | None:
    global _PREEXEC
    if _PREEXEC is None or _PREEXEC[0] != os.getpid():  # the parent's pid, after a fork too
        _PREEXEC = (os.getpid(), _pdeathsig())
    return _PREEXEC[1]


def _runnable(program: str, env: dict[str, str], cwd: str | None) -> bool:
    """Whether exec would find ``program`` (else it is started unwrapped, so that the error is
    the program's own: "cannot start 'x': No such file or directory")."""
    if "/" in program:
        path = program if cwd is None else os.path.join(cwd, program)
        return os.access(path, os.X_OK) and not os.path.isdir(path)
    return shutil.which(program, path=env.get("PATH", os.defpath)) is not None


def spawn_args(
    argv: list[str], env: dict[str, str], marks: Marks | None, cwd: str | None = None
) -> tuple[list[str], dict[str, Any]]:
    """The argv and keyword arguments for ``asyncio.create_subprocess_exec`` of a run's child:
    its own session and group, the run's marks in ``env``, and PR_SET_PDEATHSIG: through
    ``setpriv --pdeathsig TERM`` (an exec more, ~1 ms; the spawn keeps its vfork), else a
    preexec function, else none (not Linux)."""
    options: dict[str, Any] = {
        "env": {**env, **(marks.env() if marks else {})},
        "start_new_session": True,
    }
    setpriv = _setpriv()
    if setpriv is not None:
        if argv and _runnable(argv[0], options["env"], cwd):
            return [setpriv, "--pdeathsig", "TERM", "--", *argv], options
        return argv, options
    preexec = _preexec()
    if preexec is not None:
        options["preexec_fn"] = preexec
    return argv, options


def _spared() -> set[int]:
    """This process and its ancestors: never a run's leftover, whatever they carry."""
    spared = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        spared.update(p.pid for p in psutil.Process().parents())
    return spared


def find(groups: list[Group], marks: Marks | None) -> list[psutil.Process]:
    """The live processes of a run: members of its groups (or their sessions) and those
    carrying its marks. A group of another host, or whose leader's pid now names a younger
    process (the pid was reused), is not looked at. One pass over /proc: two syscalls and at
    most one read a process (~5 ms for 100 processes); more only for the few that match."""
    booted = psutil.boot_time()
    here = [g for g in groups if g.host == _HOST and _same_group(g, booted)]
    pgids = {g.pgid for g in here}
    needles = [] if marks is None else [f"\0{k}={v}\0".encode() for k, v in marks.env().items()]
    candidates = []
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if os.getpgid(pid) in pgids or os.getsid(pid) in pgids:
                    candidates.append(pid)
                    continue
            except OSError:
                continue
            if needles:
                environ = b"\0" + _environ(pid)
                if all(n in environ for n in needles):
                    candidates.append(pid)
    if not candidates:
        return []
    spared, found = _spared(), []
    for pid in candidates:
        stat = _stat(pid, booted)
        if stat is None or pid in spared or stat.zombie:
            continue
        # A group member is never older than its group's leader; a marked process is the run's.
        grouped = [g for g in here if g.pgid in (stat.pgrp, stat.session)]
        if not any(stat.created >= g.created - 0.01 for g in grouped) and not (
            needles and all(n in b"\0" + _environ(pid) for n in needles)
        ):
            continue
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def now() -> float:
    """This moment on the clock of process start times (``Group.created``): boot time plus
    time since boot, as /proc counts them, not the wall clock (they differ by up to a second)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)  # Linux; elsewhere the wall clock will do
    return time.time() if boottime is None else psutil.boot_time() + time.clock_gettime(boottime)


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:  # gone, or not ours to read
        return b""


@dataclass(frozen=True)
class _Stat:
    pgrp: int
    session: int
    created: float
    zombie: bool


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int, booted: float) -> _Stat | None:
    """Group, session and start time from /proc/PID/stat (one read; psutil takes several)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
        # After "pid (comm) ": state ppid pgrp session ... starttime (the 20th after comm).
        fields = text[text.rindex(b")") + 2 :].split()
        created = booted + int(fields[19]) / _CLOCK_TICKS
        return _Stat(int(fields[2]), int(fields[3]), created, fields[0] in (b"Z", b"X"))
    except (OSError, ValueError, IndexError):
        return None


def _same_group(group: Group, booted: float) -> bool:
    leader = _stat(group.pgid, booted)
    if leader is None:
        return True  # the leader is gone; its members keep the pgid from being reused
    return abs(leader.created - group.created) < 0.01


def end(procs: list[psutil.Process], grace: float = GRACE) -> int:
    """SIGTERM each of ``procs``, SIGKILL those still alive after ``grace``; how many there
    were. Blocking: call it in a thread. (psutil checks a pid was not reused before it sends.)"""
    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
            alive.append(proc)
    left = _wait_gone(alive, grace)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(left, grace)
    return len(alive)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``procs`` still alive after ``timeout`` (an exited process that its new parent
    has not reaped yet counts as gone: psutil.wait_procs would wait for the reaping)."""
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for p in procs if _alive(p)]
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(0.02)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def end_run(groups: list[Group], marks: Marks | None, grace: float = GRACE) -> int:
    """Find and end what is left of a run (in a thread: the loop stays free); how many went."""

    def work() -> int:
        return end(find(groups, marks), grace)

    return await asyncio.to_thread(work)


def leftovers_text(count: int) -> str:
    return f"{count} leftover process{'es' if count != 1 else ''} killed"


@dataclass
class RunProcesses:
    """What one run spawned, as its job reports it (``JobContext.processes``): the marks its
    children carry, the groups they lead, how many leftovers had to be ended. ``on_group`` is
    told of each group (the executor notes it on the run's row)."""

    marks: Marks | None = None
    on_group: Callable[[Group], object] | None = None
    groups: list[Group] = field(default_factory=list)
    killed: int = 0
    _spawning: float = 0.0
    _swept: int = 0  # how many of ``groups`` the last sweep looked for

    @property
    def unswept(self) -> bool:
        """Whether a child was spawned since the last sweep for leftovers."""
        return len(self.groups) != self._swept

    def spawn_args(
        self, argv: list[str], env: dict[str, str], cwd: str | None = None
    ) -> tuple[list[str], dict[str, Any]]:
        """``spawn_args`` for a child of this run."""
        self._spawning = now() - 0.02  # a start time a tick early is still "after"
        return spawn_args(argv, env, self.marks, cwd)

    def spawned(self, pid: int) -> None:
        """Report a child started with ``spawn_args``: it leads a group of its own."""
        # Gone and reaped already (a very short child): its members were started after the
        # spawn, and a live process of that pid later is another one (its start time differs).
        group = Group.of(pid) or Group(pid, self._spawning)
        self.groups.append(group)
        if self.on_group is not None:
            self.on_group(group)

    async def end_leftovers(self, grace: float = GRACE) -> int:
        """End what is left of this run's children (the job finished or timed out); counts
        them into ``killed`` and returns how many there were now."""
        if not self.unswept:
            return 0
        self._swept = len(self.groups)
        count = await end_run(self.groups, self.marks, grace)
        if count:
            self.killed += count
            logger.bind(action="leftovers_killed", count=count).warning(
                "the job left processes running (daemonized?): {}", leftovers_text(count)
            )
        return count
