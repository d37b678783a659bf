"""The ``command`` kind: an external program with arguments, environment and working directory.

The child runs in its own process group. On timeout or shutdown the whole group gets SIGTERM,
then SIGKILL after ``kill_grace``; when the command exits, whatever it left running (in its
group, or marked as the run's: see process_groups.py) goes the same way, so nothing it spawned
lingers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from directord import units
from directord.jobs import children
from directord.jobs.base import Job, JobContext, JobResult

TAIL_BYTES = 4096
DRAIN = 0.5  # seconds to read what the command wrote before it exited


class CommandSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    inherit_env: bool = True
    cwd: str | None = None
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])
    kill_grace: units.Duration = 5.0

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return shlex.split(value)
        return value


class _Tail:
    """The last TAIL_BYTES of a stream."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > TAIL_BYTES:
            del self.data[: len(self.data) - TAIL_BYTES]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


async def _pump(stream: asyncio.StreamReader | None, tail: _Tail) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        tail.add(chunk)


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code once the process itself has ended (``proc.wait()`` also waits for its
    pipes to close from Python 3.12 on, which a leftover child holding them would delay)."""
    await _ended(proc)
    # The loop's child watcher reaps it at once; its exit code follows.
    delay = 0.001
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return proc.returncode


async def _ended(proc: asyncio.subprocess.Process) -> None:
    """Until the process has ended (its pidfd is readable; without pidfd, until it is reaped)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (OSError, AttributeError):  # not Linux, or reaped already: poll
        while proc.returncode is None:
            await asyncio.sleep(0.01)
        return
    loop = asyncio.get_running_loop()
    ended = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    try:
        loop.add_reader(fd, readable)
        try:
            if proc.returncode is None:
                await ended
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Command(Job):
    kind = "command"
    description = "Run an external program; fails on a non-zero exit code, keeps its output's tail"
    Settings = CommandSettings
    suggested_interval = 3600.0
    secret_settings: ClassVar[frozenset[str]] = frozenset({"env"})

    async def run(self, ctx: JobContext) -> JobResult:
        settings: CommandSettings = ctx.settings
        env = dict(os.environ) if settings.inherit_env else {}
        env.update(settings.env)
        # Without a cwd the child starts in the config file's directory, like relative paths.
        cwd = ctx.config.resolve_path(settings.cwd or ".")
        started = time.monotonic()
        proc = await children.start(ctx, settings.command, env, cwd=str(cwd))
        out, err = _Tail(), _Tail()
        pumps = asyncio.gather(_pump(proc.stdout, out), _pump(proc.stderr, err))
        try:
            await _ended(proc)
            # The run ends with its command: what it left running (``cmd &``, ``setsid cmd &``)
            # goes, also when it holds the output pipes open.
            await asyncio.wait([pumps], timeout=DRAIN)
            await ctx.processes.end_leftovers(settings.kill_grace)
            await asyncio.wait([pumps], timeout=DRAIN)
            # Its pipes closed (the usual case): wait() returns at once; else poll for the code.
            code = await (proc.wait() if pumps.done() else _exited(proc))
        except asyncio.CancelledError:
            # Timeout or shutdown: the whole process group goes, politely first.
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.shield(asyncio.wait_for(proc.wait(), settings.kill_grace))
            except (TimeoutError, asyncio.CancelledError):
                _kill_group(proc.pid, signal.SIGKILL)
                await asyncio.shield(_exited(proc))
            # A TERM-resistant grandchild in the group would survive the leader's exit.
            _kill_group(proc.pid, signal.SIGKILL)
            pumps.cancel()
            ctx.details.update(self._facts(None, started, out, err))
            raise
        finally:
            if proc.returncode is None:
                _kill_group(proc.pid, signal.SIGKILL)
            pumps.cancel()
        facts = self._facts(code, started, out, err)
        ctx.details.update(facts)
        duration = time.monotonic() - started
        counters: dict[str, Any] = {"exit_code": code, "duration": round(duration, 3)}
        if code in settings.ok_exit_codes:
            return JobResult.ok(f"exit {code} in {duration:.1f}s", **counters)
        last = (err.text() or out.text()).strip().splitlines()
        why = f": {last[-1][:200]}" if last else ""
        return JobResult.failed(f"exit code {code}{why}", **counters)

    @staticmethod
    def _facts(code: int | None, started: float, out: _Tail, err: _Tail) -> dict[str, object]:
        return {
            "exit_code": code,
            "duration": time.monotonic() - started,
            "stdout_tail": out.text(),
            "stderr_tail": err.text(),
            "stdout_bytes": out.total,
            "stderr_bytes": err.total,
        }
