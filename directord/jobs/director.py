"""The ``director`` kind: one Icinga Director job, run the way Director's own daemon runs it.

The child is ``icingacli director job run --id N --debug --rpc`` in its own process group (marked
as the run's, see process_groups.py), stdin kept open (it stops when stdin closes), speaking
JSON-RPC notifications as netstrings on stdout:
``94:{"jsonrpc":"2.0","method":"logger.log","params":["error","..."]},``. Each ``logger.log``
becomes a log line of the run with its severity. Afterwards the outcome is written back into
``director_job`` (Director's web UI shows it), a failed import or sync fails the run although the
child says success (Director #1583), and settings edited during the run that the child stored back
over (Director #3071) are put back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from directord.director import db as db_mod
from directord.director import reader, state
from directord.jobs import children, command
from directord.jobs.base import Job, JobContext, JobFailed, JobResult

KILL_GRACE = 5.0
SETTINGS_POLL = 0.5
KEPT_LINES = 50
ERROR_LINES = 5
_LEVELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "notice": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
    "alert": "CRITICAL",
    "emergency": "CRITICAL",
}


class DirectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, description="director_job.id")


class NetstringReader:
    """Splits ``len:payload,`` frames; anything that is not a frame (a PHP fatal error printed
    to stdout) ends framing and is kept as plain text. Pure."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.raw = bytearray()
        self.broken = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.broken:
            self.raw += chunk
            return []
        self.buffer += chunk
        frames = []
        while self.buffer:
            colon = self.buffer.find(b":")
            head = bytes(self.buffer[: colon if colon >= 0 else len(self.buffer)])
            if colon < 0:
                if head.isdigit() and len(head) < 10:
                    break  # the length is still arriving
                self._break()
                break
            if not head.isdigit():
                self._break()
                break
            size = int(head)
            end = colon + 1 + size
            if len(self.buffer) < end + 1:
                break
            if self.buffer[end : end + 1] != b",":
                self._break()
                break
            frames.append(bytes(self.buffer[colon + 1 : end]))
            del self.buffer[: end + 1]
        return frames

    def _break(self) -> None:
        self.broken = True
        self.raw += self.buffer
        self.buffer.clear()


def log_notification(frame: bytes) -> tuple[str, str] | None:
    """(severity, message) of a ``logger.log`` notification, None for anything else."""
    try:
        msg = json.loads(frame)
    except ValueError:
        return None
    if not isinstance(msg, dict) or msg.get("method") != "logger.log":
        return None
    params = msg.get("params")
    if isinstance(params, dict):
        params = [params.get("level"), params.get("message")]
    if not isinstance(params, list) or len(params) < 2:
        return None
    return str(params[0]).lower(), str(params[1])


def fatal_lines(text: str) -> list[str]:
    """PHP's own error lines (``PHP Fatal error:  Uncaught Error: ...``) from plain output."""
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("PHP Fatal error", "Fatal error", "PHP Parse error"))
    ]


class Director(Job):
    kind = "director"
    description = "Run one Icinga Director job (icingacli director job run --id N)"
    Settings = DirectorSettings
    suggested_interval = 300.0
    secret_settings: ClassVar[frozenset[str]] = frozenset()

    async def run(self, ctx: JobContext) -> JobResult:
        cfg = ctx.config.director
        if cfg is None:
            raise JobFailed("no director: block in the config")
        job_id: int = ctx.settings.id
        started = time.time()
        try:
            db = await db_mod.connect(cfg, ctx.config.base_dir)
        except db_mod.DirectorDbError as exc:
            raise JobFailed(f"Director database: {exc}") from exc
        async with db:
            job = await reader.read_job(db, job_id)
            if job is None:
                raise JobFailed(f"Director job {job_id} does not exist (any more)")
            before = dict(job.settings)
            try:
                code, lines, errors = await self._child(ctx, cfg, job_id, db, before)
            except asyncio.CancelledError:
                finished = time.time()
                reason = "cancelled (timeout or shutdown)"
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        asyncio.wait_for(
                            state.write_outcome(db, job_id, started, finished, reason), 10
                        )
                    )
                raise
            finished = time.time()
            after = await reader.job_settings(db, job_id)
            restore = state.reverted_edits(before, self._seen, after)
            if restore:
                await state.restore_settings(db, job_id, restore)
                ctx.log.bind(action="director_settings_restored", keys=sorted(restore)).warning(
                    "put back settings edited during the run that Director's job stored over: {}",
                    ", ".join(sorted(restore)),
                )
            failures = [] if code != 0 else await state.pipeline_failures(db, job, after, started)
            duration = finished - started
            ctx.details.update(
                {
                    "director_id": job_id,
                    "director_job": job.name,
                    "job_class": job.job_class,
                    "exit_code": code,
                    "duration": duration,
                    "log": lines[-KEPT_LINES:],
                    "errors": (errors + failures)[-ERROR_LINES:],
                }
            )
            error: str | None = None
            if code != 0:
                last = errors[-1] if errors else f"exit code {code}"
                error = last if code == 1 else f"{last} (exit code {code})"
            elif failures:
                error = "; ".join(failures)
            await state.write_outcome(db, job_id, started, finished, error)
        counters: dict[str, Any] = {"exit_code": code, "duration": round(duration, 3)}
        if error is not None:
            return JobResult.failed(error[:500], **counters)
        return JobResult.ok(f"{job.short_class} {job.name!r} in {duration:.1f}s", **counters)

    async def _child(
        self,
        ctx: JobContext,
        cfg: Any,
        job_id: int,
        db: db_mod.Database,
        before: dict[str, str | None],
    ) -> tuple[int, list[list[str]], list[str]]:
        argv = [cfg.icingacli, "director", "job", "run", "--id", str(job_id), "--debug", "--rpc"]
        self._seen = dict(before)
        proc = await children.start(
            ctx,
            argv,
            {**os.environ, **cfg.env},
            stdin=asyncio.subprocess.PIPE,
            action="director_child_started",
            label=" ".join(argv),
        )
        lines: list[list[str]] = []
        errors: list[str] = []
        frames = NetstringReader()
        err_tail = command._Tail()

        async def read_stdout() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                for frame in frames.feed(chunk):
                    note = log_notification(frame)
                    if note is None:
                        continue
                    severity, message = note
                    lines.append([severity, message])
                    del lines[:-KEPT_LINES]
                    if severity in ("error", "critical", "alert", "emergency"):
                        errors.append(message)
                        del errors[:-ERROR_LINES]
                    ctx.log.bind(action="director_log", severity=severity).log(
                        _LEVELS.get(severity, "INFO"), "{}", message
                    )

        async def watch_settings() -> None:
            # What the settings were just before the child exits: edits made during the run.
            while True:
                await asyncio.sleep(SETTINGS_POLL)
                with contextlib.suppress(db_mod.DirectorDbError):
                    snapshot = await reader.job_settings(db, job_id)
                    self._seen = state.edits_seen(before, self._seen, snapshot)

        pumps = asyncio.gather(read_stdout(), command._pump(proc.stderr, err_tail))
        watcher = asyncio.create_task(watch_settings())
        try:
            code = await command._exited(proc)
            watcher.cancel()  # what it last stored is not an edit made during the run
            # Children that outlived it are not ours to leave (they may hold its output open).
            await asyncio.wait([pumps], timeout=command.DRAIN)
            await ctx.processes.end_leftovers(KILL_GRACE)
            await asyncio.wait([pumps], timeout=command.DRAIN)
        except asyncio.CancelledError:
            await _stop(proc)
            raise
        finally:
            pumps.cancel()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if proc.returncode is None:
                command._kill_group(proc.pid, signal.SIGKILL)
            if proc.stdin is not None:
                proc.stdin.close()
        plain = frames.raw.decode("utf-8", "replace") + "\n" + err_tail.text()
        fatal = fatal_lines(plain)
        for line in fatal[-1:]:
            ctx.log.bind(action="director_log", severity="error").error("{}", line)
            lines.append(["error", line])
            errors.append(line)
        ctx.details["stderr_tail"] = err_tail.text()
        return code, lines, errors

    _seen: dict[str, str | None]


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Timeout or shutdown: the whole process group goes, politely first."""
    command._kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.shield(asyncio.wait_for(proc.wait(), KILL_GRACE))
    except (TimeoutError, asyncio.CancelledError):
        command._kill_group(proc.pid, signal.SIGKILL)
        await asyncio.shield(command._exited(proc))
    # A TERM-resistant grandchild in the group would survive the leader's exit.
    command._kill_group(proc.pid, signal.SIGKILL)
