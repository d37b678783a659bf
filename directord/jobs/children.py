"""Starting a run's child process: the one way the kinds that spawn (``command``, ``director``)
do it, so every child gets the run's marks and group, its pid in the run's details and a start
line, and a program that cannot start is a failed run that says why."""

from __future__ import annotations

import asyncio
from typing import Any

from directord.jobs.base import JobContext, JobFailed


async def start(
    ctx: JobContext,
    argv: list[str],
    env: dict[str, str],
    *,
    cwd: str | None = None,
    stdin: int = asyncio.subprocess.DEVNULL,
    action: str = "command_started",
    label: str | None = None,
) -> asyncio.subprocess.Process:
    """Start ``argv`` as a child of the run, its output on pipes; ``label`` names it in the
    start line (default: the program)."""
    spawn_argv, options = ctx.processes.spawn_args(argv, env, cwd)
    extra: dict[str, Any] = dict(options)
    if cwd is not None:
        extra["cwd"] = cwd
    try:
        proc = await asyncio.create_subprocess_exec(
            *spawn_argv,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **extra,
        )
    except OSError as exc:
        raise JobFailed(f"cannot start {argv[0]!r}: {exc.strerror}") from exc
    ctx.processes.spawned(proc.pid)
    ctx.details["pid"] = proc.pid
    ctx.log.bind(action=action, pid=proc.pid).info(
        "started {} (pid {})", label or argv[0], proc.pid
    )
    return proc
