"""How fast is the time-period core? is_active, next_change and parse, calls per second, one core.

A realistic period: weekdays 08:00-18:00 in Europe/Berlin, excluding a holiday period with 10
dates and "monday -1 may". Prints JSON, then a one-line summary.
Targets (issue 2): >= 300,000 is_active/s, >= 30,000 next_change/s.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

from directord import timeperiods

HOLIDAYS = {
    "2026-01-01": "00:00-24:00",
    "2026-04-03": "00:00-24:00",
    "2026-04-06": "00:00-24:00",
    "2026-05-01": "00:00-24:00",
    "2026-05-14": "00:00-24:00",
    "2026-05-25": "00:00-24:00",
    "2026-10-03": "00:00-24:00",
    "2026-12-24": "00:00-24:00",
    "2026-12-25": "00:00-24:00",
    "2026-12-26": "00:00-24:00",
    "monday -1 may": "00:00-24:00",
}


def build() -> timeperiods.TimePeriod:
    registry = timeperiods.Registry(
        [
            timeperiods.TimePeriod(
                "workhours",
                {"monday - friday": "08:00-18:00"},
                excludes=["holidays"],
                timezone="Europe/Berlin",
            ),
            timeperiods.TimePeriod("holidays", HOLIDAYS, timezone="Europe/Berlin"),
        ]
    )
    return registry.get("workhours")


def rate(fn: Callable[[], object], seconds: float = 1.5) -> float:
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(1000):
            fn()
        calls += 1000
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def main() -> None:
    period = build()
    rng = random.Random(42)
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    # Instants spread over one year: the compiled blocks stay cached, as in a running daemon.
    instants = [datetime.fromtimestamp(base + rng.random() * 365 * 86400, UTC) for _ in range(4096)]
    stamps = [t.timestamp() for t in instants]
    period.is_active(instants[0])
    period.next_change(instants[0])

    it = iter(range(1 << 62))

    def is_active() -> bool:
        return period.is_active(instants[next(it) & 4095])

    def is_active_ts() -> bool:
        return period.is_active_ts(stamps[next(it) & 4095])

    def next_change() -> object:
        return period.next_change(instants[next(it) & 4095])

    def parse() -> object:
        return build()

    def first_query() -> object:
        # Parse plus compiling the year the query falls in: what a config reload costs a period.
        fresh = build()
        return fresh.is_active(instants[next(it) & 4095])

    result = {
        "benchmark": "timeperiods",
        "period": "weekdays 08:00-18:00 Europe/Berlin minus 10 holidays and 'monday -1 may'",
        "is_active_per_s": round(rate(is_active)),
        "is_active_ts_per_s": round(rate(is_active_ts)),
        "next_change_per_s": round(rate(next_change)),
        "parse_per_s": round(rate(parse)),
        "parse_and_first_query_per_s": round(rate(first_query, 1.0)),
        "targets": {"is_active_per_s": 300_000, "next_change_per_s": 30_000},
    }
    result["meets_targets"] = (
        result["is_active_per_s"] >= 300_000 and result["next_change_per_s"] >= 30_000
    )
    print(json.dumps(result, indent=2))
    print(
        f"timeperiods: is_active {result['is_active_per_s']:,}/s, "
        f"next_change {result['next_change_per_s']:,}/s, parse {result['parse_per_s']:,}/s, "
        f"parse+first query {result['parse_and_first_query_per_s']:,}/s "
        f"({'meets' if result['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
