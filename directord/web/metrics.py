"""Prometheus metrics, fed by supervisor events and read from its state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from directord import __version__, scheduler

if TYPE_CHECKING:
    from directord.supervisor import Supervisor

# *_created series only double the output; nothing here needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, float("inf"))
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, float("inf"))


class _StateCollector(Collector):
    """Gauges computed from the supervisor when Prometheus scrapes."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        sup = self.supervisor
        now = sup.clock()
        info = GaugeMetricFamily(
            "directord_info", "directord build and node", labels=["version", "node"]
        )
        info.add_metric([__version__, sup.node], 1)
        yield info
        running = GaugeMetricFamily("directord_running_jobs", "Runs in progress")
        running.add_metric([], len(sup.running))
        yield running
        pending = GaugeMetricFamily(
            "directord_jobs_pending", "Jobs due now that have not started (waiting for a slot)"
        )
        plans = [s.plan for s in sup.specs.values()]
        pending.add_metric([], len(scheduler.pending(plans, sup.timings, now, sup.running)))
        yield pending
        success = GaugeMetricFamily(
            "directord_last_success_timestamp_seconds",
            "When each job last succeeded",
            labels=["job"],
        )
        for name in sorted(sup.specs):
            state = sup.states.get(name)
            if state is not None and state.last_success is not None:
                success.add_metric([name], state.last_success)
        yield success
        jobs = GaugeMetricFamily("directord_jobs", "Configured jobs", labels=["enabled"])
        enabled = sum(1 for s in sup.specs.values() if not s.config.disabled)
        jobs.add_metric(["true"], enabled)
        jobs.add_metric(["false"], len(sup.specs) - enabled)
        yield jobs


class Metrics:
    def __init__(self, supervisor: Supervisor) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "directord_runs",
            "Finished runs by job and final state",
            ["job", "state"],
            registry=self.registry,
        )
        # Histograms by kind, not by job: their cardinality stays small with thousands of jobs.
        self.duration = Histogram(
            "directord_run_duration_seconds",
            "How long runs took",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.lateness = Histogram(
            "directord_start_lateness_seconds",
            "How long after being due runs started",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(supervisor))
        supervisor.listeners.append(self.on_event)

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "run_started":
            self.lateness.labels(data["kind"]).observe(data["lateness"])
        elif event == "run_finished":
            self.runs.labels(data["job"], data["state"]).inc()
            self.duration.labels(data["kind"]).observe(data["duration"])

    def render(self) -> bytes:
        return generate_latest(self.registry)
