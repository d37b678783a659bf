"""``directord health``: a check for monitoring plugins (Nagios/Icinga exit codes 0/1/2/3)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
FAILING = ("failed", "timed_out", "interrupted")
SILENT_WINDOW = 3600.0  # a peer that went silent longer ago is history, not news


@dataclass(frozen=True)
class Verdict:
    code: int
    text: str

    def __str__(self) -> str:
        return self.text


def _get(url: str, timeout: float) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:  # /health answers 503 with a JSON body
        return exc.code, json.loads(exc.read() or b"{}")


def evaluate(health: tuple[int, Any], status: dict[str, Any]) -> Verdict:
    """The verdict from /health and /status. Pure, so it is tested without a daemon."""
    jobs = [j for j in status.get("jobs", []) if j.get("enabled", True)]
    failing = [j["name"] for j in jobs if j.get("last_result") in FAILING]
    overdue = [j["name"] for j in jobs if j.get("overdue")]
    running = len(status.get("running", []))
    perf = (
        f"jobs={len(jobs)} failing={(failing and len(failing)) or 0} "
        f"overdue={len(overdue)} running={running}"
    )
    summary = f"{len(jobs)} jobs, {len(failing)} failing, {len(overdue)} overdue"
    code, body = health
    lines = []
    silent = [
        f"{n['node']} (silent {n['silent_for']:.0f}s)"
        for n in status.get("nodes", [])
        if not n.get("alive") and not n.get("stopped") and n.get("silent_for", 0) < SILENT_WINDOW
    ]
    differing = status.get("warnings", [])
    if code != 200:
        verdict = CRITICAL
        problems = "; ".join(body.get("problems", [])) or f"/health answered {code}"
        summary = f"{problems}; {summary}"
    elif overdue:
        verdict = CRITICAL
    elif failing or silent or differing:
        verdict = WARNING
    else:
        verdict = OK
    if failing:
        lines.append("failing: " + ", ".join(failing))
    if overdue:
        lines.append("overdue: " + ", ".join(overdue))
    if silent:
        summary += f", peer silent: {', '.join(silent)}"
    lines.extend(differing)
    text = f"{NAMES[verdict]} - {summary} | {perf}"
    return Verdict(verdict, "\n".join([text, *lines]))


def check(url: str, timeout: float = 10.0) -> Verdict:
    base = url.rstrip("/")
    try:
        health = _get(f"{base}/health", timeout)
        code, status = _get(f"{base}/status", timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Verdict(UNKNOWN, f"UNKNOWN - cannot reach directord at {base}: {reason}")
    if code != 200 or not isinstance(status, dict):
        return Verdict(UNKNOWN, f"UNKNOWN - {base}/status answered {code}")
    return evaluate(health, status)
