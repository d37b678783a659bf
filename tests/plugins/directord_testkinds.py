"""Job kinds for the test suite, registered like any third-party plugin (see the .dist-info)."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr

from directord.jobs.base import Job, JobContext, JobFailed, JobResult

# What Allocate keeps alive, so the memory really stays with the process.
HOARD: list[bytearray] = []


class Noop(Job):
    kind = "noop"
    description = "Does nothing, successfully"

    async def run(self, ctx: JobContext) -> JobResult:
        return JobResult.ok("nothing to do", changed=False)


class FailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = "it failed on purpose"


class Fail(Job):
    kind = "fail"
    description = "Fails with the configured message"
    Settings = FailSettings

    async def run(self, ctx: JobContext) -> JobResult:
        raise JobFailed(ctx.settings.message, tried=1)


class Crash(Job):
    kind = "crash"
    description = "Raises an unexpected exception"

    async def run(self, ctx: JobContext) -> JobResult:
        raise RuntimeError("unexpected trouble")


class SleepSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 1.0


class Sleep(Job):
    kind = "sleep"
    description = "Sleeps on the event loop (cooperatively)"
    Settings = SleepSettings

    async def run(self, ctx: JobContext) -> JobResult:
        await asyncio.sleep(ctx.settings.seconds)
        return JobResult.ok(f"slept {ctx.settings.seconds}s")


class AllocateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mib: int = 64


class Allocate(Job):
    kind = "allocate"
    description = "Allocates memory and keeps it (to trip the memory rule)"
    Settings = AllocateSettings

    async def run(self, ctx: JobContext) -> JobResult:
        block = bytearray(ctx.settings.mib << 20)
        for i in range(0, len(block), 4096):  # touch every page so it counts in RSS
            block[i] = 1
        HOARD.append(block)
        return JobResult.ok(f"holding {len(HOARD) * ctx.settings.mib} MiB")


class Block(Job):
    kind = "block"
    description = "Blocks the event loop with time.sleep (a badly written kind)"
    Settings = SleepSettings

    async def run(self, ctx: JobContext) -> JobResult:
        time.sleep(ctx.settings.seconds)
        return JobResult.ok("blocked the loop")


class ThreadSleep(Job):
    kind = "thread-sleep"
    description = "Blocking work done right: time.sleep in a worker thread"
    Settings = SleepSettings

    async def run(self, ctx: JobContext) -> JobResult:
        await ctx.to_thread(time.sleep, ctx.settings.seconds)
        return JobResult.ok("slept in a thread")


class SecretSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = "monitor"
    password: SecretStr


class Secret(Job):
    kind = "secret"
    description = "Has a secret setting that must never be shown"
    Settings = SecretSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"password"})

    async def run(self, ctx: JobContext) -> JobResult:
        ctx.log.info(f"connecting as {ctx.settings.user}")
        return JobResult.ok(f"logged in as {ctx.settings.user}")


class NotAJob:
    kind = "broken"
