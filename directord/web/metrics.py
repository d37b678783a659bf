"""Prometheus metrics, fed by supervisor events and read from its state at scrape time."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from directord import __version__, events

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric

    from directord.supervisor import Supervisor
    from directord.views import JobView

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, float("inf"))
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, float("inf"))


def _due_now(view: JobView, now: float) -> bool:
    return view.next_due is not None and view.next_due <= now


class _StateCollector:
    """Gauges computed from the supervisor when Prometheus scrapes."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415

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


class _Histogram:
    """One kind's observations as Prometheus keeps them: a count per bucket, and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.counts = [0] * len(buckets)
        self.total = 0.0


class _RunCollector:
    """The run counters and histograms, from the tallies of ``Metrics``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (  # noqa: PLC0415
            CounterMetricFamily,
            HistogramMetricFamily,
        )

        m = self.metrics
        runs = CounterMetricFamily(
            "directord_runs", "Finished runs by job and final state", labels=["job", "state"]
        )
        for (job, state), count in m.runs.items():
            runs.add_metric([job, state], float(count))
        yield runs
        yield _histogram(
            HistogramMetricFamily(
                "directord_run_duration_seconds", "How long runs took", labels=["kind"]
            ),
            m.duration,
            DURATION_BUCKETS,
        )
        yield _histogram(
            HistogramMetricFamily(
                "directord_start_lateness_seconds",
                "How long after being due runs started",
                labels=["kind"],
            ),
            m.lateness,
            LATENESS_BUCKETS,
        )


def _histogram(family: Any, by_kind: dict[str, _Histogram], bounds: tuple[float, ...]) -> Any:
    from prometheus_client.utils import floatToGoString  # noqa: PLC0415

    for kind, hist in by_kind.items():
        cumulative, buckets = 0, []
        for bound, count in zip(bounds, hist.counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), float(cumulative)))  # type: ignore[no-untyped-call]
        family.add_metric([kind], buckets, hist.total)
    return family


def _observe(
    by_kind: dict[str, _Histogram], kind: str, value: float, bounds: tuple[float, ...]
) -> None:
    hist = by_kind.get(kind)
    if hist is None:
        hist = by_kind[kind] = _Histogram(bounds)
    # Prometheus' buckets are upper bounds, inclusive (le): the first bound >= value.
    hist.counts[bisect_left(bounds, value)] += 1
    hist.total += value


class Metrics:
    """Run counts and histograms as plain tallies per event; prometheus_client loads at the first
    scrape, only to write them out (issue 14.2: a daemon nobody scrapes never imports it)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.runs: dict[tuple[str, str], int] = {}
        # Histograms by kind, not by job: their cardinality stays small with thousands of jobs.
        self.duration: dict[str, _Histogram] = {}
        self.lateness: dict[str, _Histogram] = {}
        self._registry: CollectorRegistry | None = None
        supervisor.events.subscribe(self.on_event, {events.RunStarted, events.RunFinished})

    def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.RunStarted):
            _observe(self.lateness, event.kind, event.lateness, LATENESS_BUCKETS)
        elif isinstance(event, events.RunFinished):
            key = (event.job, event.state)
            self.runs[key] = self.runs.get(key, 0) + 1
            _observe(self.duration, event.kind, event.duration, DURATION_BUCKETS)

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest  # noqa: PLC0415

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_RunCollector(self))
            self._registry.register(_StateCollector(self.supervisor))
        return generate_latest(self._registry)
