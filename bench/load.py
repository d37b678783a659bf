"""HTTP load for the benchmarks: wrk (Debian's package) as a separate process pinned to the
second core when installed, else an aiohttp client; loopback only. Both report the same figures:
requests/s, p50 and p99 latency in milliseconds, and how many answers were not 2xx/3xx."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

PLUGINS = Path(__file__).resolve().parent.parent / "tests" / "plugins"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """``cmd`` on one core (taskset) where that is possible: the daemon and the load generator
    then do not take turns on the same core. ``core`` None: wherever the kernel puts it."""
    if core is None or not shutil.which("taskset"):
        return cmd
    return ["taskset", "-c", str(core), *cmd]


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * UNITS[match.group(2)]


def _figure(pattern: str, out: str) -> str:
    match = re.search(pattern, out)
    if match is None:
        raise RuntimeError(f"wrk's output has no {pattern!r}:\n{out}")
    return match.group(1)


def run(
    url: str,
    seconds: float,
    connections: int,
    headers: tuple[str, ...] = (),
    core: int | None = 1,
) -> dict[str, Any]:
    """``connections`` clients asking for ``url`` for ``seconds``, each again as soon as it has
    its answer: wrk on ``core``, else the aiohttp client in this process."""
    if not shutil.which("wrk"):
        return with_aiohttp(url, seconds, connections, headers)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run(
        pinned([*cmd, url], core), capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "tool": "wrk",
        "req_per_s": round(float(_figure(r"Requests/sec:\s+([\d.]+)", out))),
        "p50_ms": round(_ms(_figure(r"\s50%\s+(\S+)", out)), 2),
        "p99_ms": round(_ms(_figure(r"\s99%\s+(\S+)", out)), 2),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def with_aiohttp(
    url: str, seconds: float, connections: int, headers: tuple[str, ...] = ()
) -> dict[str, Any]:
    import aiohttp

    sent = dict(h.split(": ", 1) for h in headers)
    latencies: list[float] = []
    bad = 0

    async def worker(session: aiohttp.ClientSession, until: float) -> None:
        nonlocal bad
        while time.monotonic() < until:
            started = time.perf_counter()
            async with session.get(url, headers=sent, allow_redirects=False) as response:
                await response.read()
                bad += response.status >= 400
            latencies.append(time.perf_counter() - started)

    async def main() -> float:
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            began = time.monotonic()
            until = began + seconds
            await asyncio.gather(*(worker(session, until) for _ in range(connections)))
            return time.monotonic() - began

    elapsed = asyncio.run(main())
    q = statistics.quantiles(latencies, n=100)
    return {
        "tool": "aiohttp client",
        "req_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "non_2xx": bad,
    }
