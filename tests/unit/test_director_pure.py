"""The pure parts of the Director job source: netstring frames, period conversion and Director's
own weekday-only evaluation, the check report, the lost-update guard."""

from __future__ import annotations

from datetime import UTC, datetime

from directord import config as config_mod
from directord import jobstate, jobtable, supervisor
from directord import specs as specs_mod
from directord.director import check, model, periods, refresh, state
from directord.director import config as director_config
from directord.jobs import director as director_kind
from directord.jobs import registry as kinds_registry

CFG = director_config.DirectorConfig(dsn="postgresql://d@127.0.0.1:1/director", timezone="UTC")
# Monday 2026-11-30 00:00 UTC
MONDAY = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _period(pid: int, name: str, ranges: dict[str, str], **kw: object) -> model.Period:
    rs = tuple(model.Range(k, v, "include") for k, v in ranges.items())
    return model.Period(pid, name, "object", None, rs, **kw)  # type: ignore[arg-type]


def _snapshot(*ps: model.Period, jobs: tuple[model.DirectorJob, ...] = ()) -> model.Snapshot:
    return model.Snapshot(182, jobs, {p.id: p for p in ps}, False)


def _disagreement(p: model.Period, *others: model.Period) -> periods.Disagreement | None:
    all_periods = {x.id: x for x in (p, *others)}
    _, defs, errors = periods.convert(all_periods, {p.id}, "d:", "UTC")
    assert errors == {}
    reg = periods.registry(defs)
    return periods.first_disagreement(reg.get(f"d:{p.name}"), all_periods, p.id, MONDAY, 7)


def test_netstrings_split_frames_and_keep_a_php_fatal_as_text() -> None:
    reader = director_kind.NetstringReader()
    note = b'{"jsonrpc":"2.0","method":"logger.log","params":["error","boom"]}'
    frame = str(len(note)).encode() + b":" + note + b","
    assert reader.feed(frame[:7]) == []
    assert reader.feed(frame[7:] + frame) == [note, note]
    assert director_kind.log_notification(note) == ("error", "boom")
    assert reader.feed(b"\nPHP Fatal error:  Uncaught Error: x\n") == []
    assert reader.broken
    assert director_kind.fatal_lines(reader.raw.decode()) == ["PHP Fatal error:  Uncaught Error: x"]


def test_weekday_ranges_within_a_day_agree_boundaries_do_not_count() -> None:
    assert _disagreement(_period(1, "office", dict.fromkeys(WEEK, "09:00-17:00"))) is None


def test_a_weekday_range_key_is_never_active_for_director() -> None:
    found = _disagreement(_period(1, "weekdays", {"monday - friday": "09:00-17:00"}))
    assert found == periods.Disagreement(MONDAY + 9 * 3600, True, False)


def test_midnight_crossing_and_day_keys_disagree() -> None:
    night = _disagreement(_period(1, "night", dict.fromkeys(WEEK, "22:00-06:00")))
    assert night is not None
    assert night.at == MONDAY  # Sunday's 22:00-06:00 runs into Monday for Icinga 2
    assert (night.directord_active, night.director_active) == (True, False)
    first = _disagreement(_period(1, "first", {"day 1": "00:00-24:00"}))
    assert first is not None
    assert first.at == datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def test_nested_includes_count_for_icinga_but_not_for_director() -> None:
    inner = _period(3, "inner", {"tuesday": "10:00-11:00"})
    middle = _period(2, "middle", {}, includes=(3,))
    outer = _period(1, "outer", {}, includes=(2,))
    found = _disagreement(outer, middle, inner)
    assert found == periods.Disagreement(MONDAY + 86400 + 10 * 3600, True, False)


def test_imports_and_exclude_ranges_shape_the_icinga_view() -> None:
    template = model.Period(
        2, "tpl", "template", None, (model.Range("monday", "08:00-18:00", "include"),)
    )
    child = model.Period(
        1,
        "child",
        "object",
        None,
        (model.Range("monday", "12:00-13:00", "exclude"),),
        imports=(2,),
    )
    all_periods = {1: child, 2: template}
    _, defs, _ = periods.convert(all_periods, {1}, "d:", "UTC")
    reg = periods.registry(defs)
    p = reg.get("d:child")
    assert p.is_active_ts(MONDAY + 9 * 3600)
    assert not p.is_active_ts(MONDAY + 12.5 * 3600)


def test_refresh_builds_director_jobs_and_names_changes() -> None:
    job = model.DirectorJob(7, "hk", model.HOUSEKEEPING, False, 10, None)
    jobs, _, _ = refresh.job_configs(CFG, _snapshot(jobs=(job,)))
    assert [(j.name, j.kind, j.interval, j.settings, j.timeout) for j in jobs] == [
        ("director:hk", "director", 10.0, {"id": 7}, 3600.0)
    ]
    paused, _, _ = refresh.job_configs(CFG, model.Snapshot(182, (job,), {}, disable_all_jobs=True))
    lines = refresh.changes({j.name: j for j in jobs}, {j.name: j for j in paused})
    assert lines == ["job 'director:hk' changed: disabled False -> True"]
    only = director_config.DirectorConfig(dsn=CFG.dsn, jobs="other*")
    assert refresh.job_configs(only, _snapshot(jobs=(job,)))[0] == []


def test_merged_config_validates_director_jobs() -> None:
    base = config_mod.parse({"director": {"dsn": CFG.dsn}}, kinds=kinds_registry.discover())
    r = refresh.Refresher(None, base)
    job = model.DirectorJob(7, "hk", model.HOUSEKEEPING, False, 10, None)
    r.jobs = {j.name: j for j in refresh.job_configs(CFG, _snapshot(jobs=(job,)))[0]}
    merged = r.merge(base)
    specs, _ = supervisor.build_specs(merged, kinds_registry.discover())
    assert specs["director:hk"].settings.id == 7
    assert merged.managed == {"director:hk": "director"}  # read-only in the web and the API


def test_check_report_warns_about_a_running_director_daemon() -> None:
    job = model.DirectorJob(1, "hk", model.HOUSEKEEPING, False, 60, 1, last_succeeded=True)
    snap = model.Snapshot(
        182,
        (job,),
        {1: _period(1, "weekdays", {"monday - friday": "09:00-17:00"})},
        False,
        (model.DaemonInfo("ab", "host", 42, MONDAY - 5, None),),
    )
    report = check.build(CFG, snap, MONDAY, 7)
    assert report.jobs[0]["period_disagreement"] == {
        "at": "2026-11-30T09:00:00+00:00",
        "directord_active": True,
        "director_active": False,
    }
    assert len(report.warnings) == 2
    assert "pid 42" in report.warnings[1]


def test_only_edits_the_child_stored_over_are_put_back() -> None:
    before = {"run_import": "n", "source_id": "1"}
    seen = {"run_import": "y", "source_id": "1"}
    assert state.reverted_edits(before, seen, before) == {"run_import": "y"}
    assert state.reverted_edits(before, seen, seen) == {}
    assert state.reverted_edits(before, before, before) == {}


def test_an_edit_seen_during_the_run_survives_a_poll_after_the_childs_stale_store() -> None:
    before = {"run_import": "n", "source_id": "1"}
    edited = {"run_import": "y", "source_id": "1"}
    seen = state.edits_seen(before, before, edited)
    assert seen == edited
    # The child stored its stale copy, and a poll saw it before the child exited.
    seen = state.edits_seen(before, seen, before)
    assert state.reverted_edits(before, seen, before) == {"run_import": "y"}
    # A key that appears during the run is taken as it is; later edits of an edit win.
    seen = state.edits_seen(before, seen, {**edited, "run_import": "z", "new": "1"})
    assert seen == {"run_import": "z", "source_id": "1", "new": "1"}
    assert state.edits_seen(before, before, before) == before


def test_jobs_joining_the_schedule_count_from_directors_last_attempt() -> None:
    kinds = kinds_registry.discover()
    base = config_mod.parse({"director": {"dsn": CFG.dsn}}, kinds=kinds)
    now = MONDAY + 3600
    jobs = (
        model.DirectorJob(1, "recent", model.HOUSEKEEPING, False, 60, None, last_attempt=now - 5),
        model.DirectorJob(2, "never", model.HOUSEKEEPING, False, 60, None),
        model.DirectorJob(3, "ahead", model.HOUSEKEEPING, False, 60, None, last_attempt=now + 90),
        model.DirectorJob(4, "ours", model.HOUSEKEEPING, False, 60, None, last_attempt=now - 50),
    )
    r = refresh.Refresher(None, base)
    r.jobs = {j.name: j for j in refresh.job_configs(CFG, _snapshot(jobs=jobs))[0]}
    table = jobtable.JobTable(*specs_mod.build_specs(base, kinds))
    # directord ran "ours" itself after Director did (its store, read at start-up); it ran
    # "recent" before Director did, which counts then, from Director's run (not our grid).
    ours = jobstate.JobState("director:ours", last_attempt=now - 20, last_scheduled=now - 21)
    older = jobstate.JobState("director:recent", last_attempt=now - 40, last_scheduled=now - 41)
    table.load({"director:ours": ours, "director:recent": older}, now, True)
    attempts = refresh.director_attempts(CFG, _snapshot(jobs=jobs))
    assert refresh.seed(table, attempts, now) == ["director:recent", "director:ahead"]
    table.replace(*specs_mod.build_specs(r.merge(base), kinds), now)
    due = {n: table.queue.timing(n, now).last_attempt for n in table.specs}
    assert due == {
        "director:recent": now - 5,
        "director:never": None,
        "director:ahead": now,  # a clock ahead of ours: counts as now
        "director:ours": now - 20,
    }
    assert table.queue.next_due() == (now, "director:never")
    assert table.queue.timing("director:recent", now).last_scheduled is None
    assert table.queue.timing("director:ours", now).last_scheduled == now - 21
    # Once scheduled, directord's own runs count: a later refresh seeds nothing.
    assert refresh.seed(table, {"director:recent": now + 1}, now + 1) == []
