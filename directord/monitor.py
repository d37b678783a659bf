"""aiomonitor for live inspection, with two commands of ours: ``jobs`` and ``run NAME``.

aiomonitor serves its terminal UI from a thread with a loop of its own; our commands hop to the
daemon's loop with run_coroutine_threadsafe and never touch its state from the wrong thread.
"""

from __future__ import annotations

import asyncio
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


@monitor_cli.command(name="jobs")
@custom_help_option
def do_jobs(ctx: click.Context) -> None:
    """The jobs, as ``directord jobs list`` shows them"""
    monitor: DirectordMonitor = ctx.obj

    @auto_async_command_done
    async def show(ctx: click.Context) -> None:
        sup = monitor.supervisor
        if sup is None:
            print_fail("the supervisor is not up yet")
            return
        views = await _on_daemon_loop(monitor, lambda: sup.job_views(sup.clock()))
        click.echo(tables.jobs(views))

    monitor._termui_tasks.add(monitor._ui_loop.create_task(show(ctx)))


@monitor_cli.command(name="run")
@click.argument("name")
@custom_help_option
def do_run(ctx: click.Context, name: str) -> None:
    """Run job NAME now, outside its schedule"""
    monitor: DirectordMonitor = ctx.obj

    @auto_async_command_done
    async def trigger(ctx: click.Context) -> None:
        sup = monitor.supervisor
        if sup is None:
            print_fail("the supervisor is not up yet")
            return
        try:
            await _on_daemon_loop(monitor, lambda: sup.trigger(name))
        except KeyError:
            print_fail(f"unknown job {name!r}")
        else:
            print_ok(f"queued a run of {name}")

    monitor._termui_tasks.add(monitor._ui_loop.create_task(trigger(ctx)))


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
