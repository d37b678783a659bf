"""aiomonitor for live inspection, with two commands of ours: ``jobs`` and ``run NAME``.

aiomonitor serves its terminal UI from a thread with a loop of its own; our commands hop to the
daemon's loop with run_coroutine_threadsafe and never touch its state from the wrong thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click
from aiomonitor import Monitor, start_monitor
from aiomonitor.termui.commands import (
    auto_async_command_done,
    custom_help_option,
    monitor_cli,
    print_fail,
    print_ok,
)

from directord import tables

if TYPE_CHECKING:
    from directord.config import MonitorConfig
    from directord.supervisor import Supervisor


class DirectordMonitor(Monitor):  # type: ignore[misc]
    supervisor: Supervisor | None = None


def _on_daemon_loop(monitor: DirectordMonitor, fn: Any) -> asyncio.Future[Any]:
    async def call() -> Any:
        return fn()

    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), monitor._monitored_loop))


def _with_supervisor(
    ctx: click.Context, body: Callable[[DirectordMonitor, Supervisor], Awaitable[None]]
) -> None:
    """Run ``body(monitor, supervisor)`` as a task of the terminal UI (which says when the
    supervisor is not up yet)."""
    monitor: DirectordMonitor = ctx.obj

    @auto_async_command_done
    async def run(ctx: click.Context) -> None:
        sup = monitor.supervisor
        if sup is None:
            print_fail("the supervisor is not up yet")
            return
        await body(monitor, sup)

    monitor._termui_tasks.add(monitor._ui_loop.create_task(run(ctx)))


@monitor_cli.command(name="jobs")
@custom_help_option
def do_jobs(ctx: click.Context) -> None:
    """The jobs, as ``directord jobs list`` shows them"""

    async def show(monitor: DirectordMonitor, sup: Supervisor) -> None:
        views = await _on_daemon_loop(monitor, lambda: sup.job_views(sup.clock()))
        click.echo(tables.jobs(views))

    _with_supervisor(ctx, show)


@monitor_cli.command(name="run")
@click.argument("name")
@custom_help_option
def do_run(ctx: click.Context, name: str) -> None:
    """Run job NAME now, outside its schedule"""

    async def trigger(monitor: DirectordMonitor, sup: Supervisor) -> None:
        try:
            await _on_daemon_loop(monitor, lambda: sup.trigger(name))
        except KeyError:
            print_fail(f"unknown job {name!r}")
        else:
            print_ok(f"queued a run of {name}")

    _with_supervisor(ctx, trigger)


def start(supervisor: Supervisor, settings: MonitorConfig) -> DirectordMonitor:
    monitor: DirectordMonitor = start_monitor(
        asyncio.get_running_loop(),
        monitor_cls=DirectordMonitor,
        host=settings.host,
        port=settings.port,
        webui_port=settings.port + 1,
        console_port=settings.port + 2,
        console_enabled=False,
    )
    monitor.supervisor = supervisor
    return monitor
