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

from directord import __version__, events

if TYPE_CHECKING:
    from directord.supervisor import Supervisor
    from directord.views import JobView

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
        views = sup.job_views(now)
        # Due now, not running: waiting for a slot (or for a job it follows).
        waiting = [v for v in views if v.enabled and v.running is None and _due_now(v, now)]
        pending.add_metric([], len(waiting))
        yield pending
        success = GaugeMetricFamily(
            "directord_last_success_timestamp_seconds",
            "When each job last succeeded",
            labels=["job"],
        )
        for view in views:
            if view.last_success is not None:
                success.add_metric([view.name], view.last_success)
        yield success
        jobs = GaugeMetricFamily("directord_jobs", "Configured jobs", labels=["enabled"])
        enabled = sum(1 for v in views if v.enabled)
        jobs.add_metric(["true"], enabled)
        jobs.add_metric(["false"], len(views) - enabled)
        yield jobs


def _due_now(view: JobView, now: float) -> bool:
    return view.next_due is not None and view.next_due <= now


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
        self._children: dict[tuple[object, ...], Any] = {}
        supervisor.events.subscribe(self.on_event, {events.RunStarted, events.RunFinished})

    def on_event(self, event: events.Event) -> None:
        # The labelled children are looked up once each (labels() locks and validates).
        if isinstance(event, events.RunStarted):
            self._child(self.lateness, event.kind).observe(event.lateness)
        elif isinstance(event, events.RunFinished):
            self._child(self.runs, event.job, event.state).inc()
            self._child(self.duration, event.kind).observe(event.duration)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
