"""Weeks of running: what a run keeps in memory stays bounded while its totals stay right, and a run killed and
restarted by systemd continues its shift (real SQLite, real GStreamer, and `ergoedge run` killed with SIGKILL)."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.config import with_overrides
from edge.errors import InputError
from runtime.alerts.engine import AlertRule
from runtime.alerts.exposure import ExposureTracker
from runtime.alerts.store import EventStore
from runtime.config import load_config
from runtime.telemetry import RiskTimeline

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)
HIGH = (AlertRule("high", "reba_total", 8, direction="at_least"),)


class StreamClock:
    """Wall time = T0 + the stream time the test has reached (a fast clock: days pass as fast as frames are fed)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return T0 + timedelta(seconds=self.t)


def _level_seconds(totals: dict) -> float:
    return sum(totals["reba_s"].values())


# ------------------------------------------------------------------------------------------------ memory bounds


def test_exposure_keeps_the_last_shifts_and_folds_people_past_the_cap():
    clock = StreamClock()
    tracker = ExposureTracker(HIGH, tz="UTC", clock=clock)
    fed: dict[str, float] = {}
    person = 0
    for frame in range(10 * 8 * 360):  # ten 8-hour shifts at one frame every 10 s
        clock.t = frame * 10.0
        if frame % 18 == 0:  # a new track every 3 minutes: 160 tracks per shift
            person += 1
        tracker.update(clock.t, person, {"reba_total": 9 if frame % 2 else 3}, dt=10.0)
        key = tracker.shift_key(clock())
        fed[key] = fed.get(key, 0.0) + 10.0
    shifts = tracker.totals()["shifts"]
    assert len(fed) == 10 and list(shifts) == sorted(fed)[-3:]  # the current shift and the two before it
    for key, shift in shifts.items():
        assert len(shift["persons"]) == 64  # 160 tracks: the 96 least recent are folded together
        assert shift["all"]["tracked_s"] == pytest.approx(fed[key]) == pytest.approx(8 * 3600)
        assert shift["all"]["reba_s"]["high"] == pytest.approx(4 * 3600)
        assert shift["others"]["tracked_s"] + sum(p["tracked_s"] for p in shift["persons"].values()) == \
            pytest.approx(fed[key])


def test_shifts_that_leave_memory_stay_right_in_the_store(tmp_path):
    clock = StreamClock()
    with EventStore(tmp_path / "events.db", retention_days=None) as store:
        tracker = ExposureTracker(HIGH, tz="UTC", clock=clock, store=store, camera="line3", run_id="r1",
                                  max_persons=4)
        fed: dict[str, float] = {}
        for frame in range(7 * 3 * 8 * 60):  # a week at one frame a minute, two people at a time
            clock.t = frame * 60.0
            for person in (frame // 20 * 2, frame // 20 * 2 + 1):  # new people every 20 minutes
                tracker.update(clock.t, person, {"reba_total": 10}, dt=60.0)
            key = tracker.shift_key(clock())
            fed[key] = fed.get(key, 0.0) + 120.0
        tracker.close()
        from runtime.alerts.exposure import stored_totals

        stored = {shift: stored_totals(store, "line3", shift) for _, shift in store.exposure_shifts("line3")}
        rows = store.load_exposure("line3", max(fed))
    assert len(tracker.totals()["shifts"]) == 3 and len(stored) == len(fed) == 21
    for key, total in stored.items():
        assert total["tracked_s"] == pytest.approx(fed[key]) == pytest.approx(_level_seconds(total))
        assert total["over_threshold_s"]["high"] == pytest.approx(fed[key])
    # The store's rows are bounded like memory: the last shift's 48 tracks are the latest 4 and one row of the
    # folded ones (person -1).
    assert sorted(r["person"] for r in rows) == [-1, 1004, 1005, 1006, 1007]


def test_timeline_keeps_the_latest_people_and_folds_the_rest():
    timeline = RiskTimeline(max_rows=2000)
    for person in range(500):  # 500 people, each seen for 20 s at 10 fps, one after the other
        for i in range(200):
            t = person * 20 + i / 10
            timeline.add(person, t, {"reba_total": 2 + person % 12, "trunk_flexion_deg": float(i)})
    assert sorted(timeline.seconds()) == list(range(492, 500))
    report = timeline.to_json()
    assert sorted(map(int, report["people"])) == list(range(492, 500))
    assert report["left"]["people"] == 492
    rows = [r for table in report["people"].values() for r in table] + report["left"]["rows"]
    assert len(rows) <= 2000
    # Nothing is lost by folding: the worst REBA (13) and the highest flexion are still in the timeline.
    assert max(r[1] for r in rows) == 13 and max(r[4] for r in rows) == 199.0
    assert report["bin_s"] >= 0.25 * 8  # 10 000 s of time in at most 2000 rows


def test_source_keeps_the_latest_gaps_and_totals_of_all(gst):
    from runtime.video.source import GstSource, ReconnectPolicy

    source = GstSource("test://?width=64&height=48&fps=30", reconnect=ReconnectPolicy(initial_s=0.0, max_s=0.0))
    # A camera that ends its stream after every frame: each frame is one session, each EOS an outage.
    source.description = source.description.replace("videotestsrc ", "videotestsrc num-buffers=1 ", 1)
    frames = []
    with source:
        while len(frames) < 131:
            frames.append(next(source))
        stats = source.stats()
    gaps = [b.wall_time - a.wall_time for a, b in zip(frames, frames[1:])]
    assert [f.session for f in frames] == list(range(131))
    assert len(stats["gaps"]) <= 101  # the latest 100 ended outages (and the one in progress, if any)
    assert stats["gaps"][:100] == sorted(stats["gaps"][:100], key=lambda g: g["end"])
    assert stats["gaps"][99]["end"] == frames[-1].wall_time
    assert stats["gaps_total"] in (130, 131) and stats["reconnects"] == 130
    assert stats["gap_s_total"] == pytest.approx(sum(gaps), abs=1e-6)


def _session(tmp_path, clock, **changes):
    from runtime.session import Session

    config = with_overrides(load_config(None), camera="line3", scene_dir=str(tmp_path), **{
        "source.uri": "test://", "sinks.sqlite": str(tmp_path / "events.db"), "sinks.stdout": False,
        "alerts.rules": HIGH, "pose.backend": "onnxruntime", **changes})  # the model is opened, never run
    return Session(config, tmp_path / "out", status=None, wall_clock=clock)


def test_report_keeps_the_latest_events_and_counts_them_all(tmp_path, blazepose_models):
    clock = StreamClock()
    session = _session(tmp_path, clock, report_every_s=600.0)
    for frame in range(3000):  # 50 minutes at one frame a second; a new person every 2 minutes
        clock.t = t = float(frame)
        person = frame // 120
        session.observe({person: {"reba_total": 9 if frame % 20 < 10 else 3}}, t, 1.0 if frame else 0.0)
    periodic = json.loads((tmp_path / "out" / "report.json").read_text())
    session.close()
    report = session.write_report()
    logged = [json.loads(line) for line in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()]
    raised = sum(e["kind"] == "raised" for e in logged)
    assert len(logged) == 300 and raised == 150  # every event reached the log
    assert report["alerts"] == logged[-200:]  # the report holds the latest 200 ...
    assert report["alert_counts"] == {"total": 300, "kept": 200, "raised": {"high": 150}, "cleared": {"high": 150}}
    # The periodic report.json of t = 2400 s (every 600 s): the events up to then, raised at 0, 20 ... 2400 s.
    assert periodic["final"] is False and periodic["alert_counts"]["total"] == 121 + 120
    assert len(report["timeline"]["people"]) == 8 and report["timeline"]["left"]["people"] == 17
    assert len(report["exposure"]["shifts"]) == 1
    assert report["exposure"]["shifts"]["2024-05-01T06:00"]["all"]["tracked_s"] == pytest.approx(2999.0)


# ------------------------------------------------------------------------------------------------ restarts


def test_a_restarted_tracker_continues_its_shift(tmp_path):
    from runtime.alerts.exposure import stored_totals

    clock = StreamClock()
    with EventStore(tmp_path / "events.db", retention_days=None) as store:
        first = ExposureTracker(HIGH, tz="UTC", clock=clock, store=store, camera="line3", run_id="a",
                                save_every_s=5.0)
        for i in range(601):  # person 0 for 60 s at REBA 9, then the process dies without closing
            clock.t = i / 10
            first.update(clock.t, 0, {"reba_total": 9}, dt=0.1 if i else 0.0)
        saved = stored_totals(store, "line3", "2024-05-01T06:00")
        assert 55.0 <= saved["tracked_s"] <= 60.0 + 1e-9  # at most save_every_s is lost
        second = ExposureTracker(HIGH, tz="UTC", clock=clock, store=store, camera="line3", run_id="b")
        # Loaded at start: the restarted run's report shows the shift so far before anyone is seen.
        assert second.totals()["shifts"]["2024-05-01T06:00"]["all"]["tracked_s"] == saved["tracked_s"]
        for i in range(301):  # track ids start again at 0: another person, 30 s at REBA 3
            clock.t = 70 + i / 10
            second.update(i / 10, 0, {"reba_total": 3}, dt=0.1 if i else 0.0)
        second.close()
        shift = second.totals()["shifts"]["2024-05-01T06:00"]
        total = stored_totals(store, "line3", "2024-05-01T06:00")
        rows = {(r["run_id"], r["person"]): r["totals"]["tracked_s"]
                for r in store.load_exposure("line3", "2024-05-01T06:00")}
    assert shift["persons"]["0"]["tracked_s"] == pytest.approx(30.0)  # this run's person 0 only
    assert shift["earlier_runs"] == saved
    assert shift["all"]["tracked_s"] == pytest.approx(saved["tracked_s"] + 30.0) == total["tracked_s"]
    assert total["reba_s"]["high"] == saved["tracked_s"] and total["reba_s"]["low"] == pytest.approx(30.0)
    assert rows == {("a", 0): saved["tracked_s"], ("b", 0): pytest.approx(30.0)}


def test_damaged_exposure_totals_are_skipped_by_a_run_and_named_by_the_report(tmp_path, capsys):
    from edge.cli import main
    from runtime.alerts.exposure import stored_totals

    clock, db, shift = StreamClock(), tmp_path / "events.db", "2024-05-01T06:00"
    with EventStore(db, retention_days=None) as store:
        first = ExposureTracker(HIGH, tz="UTC", clock=clock, store=store, camera="line3", run_id="a")
        for i in range(101):
            clock.t = i / 10
            first.update(clock.t, 0, {"reba_total": 9}, dt=0.1 if i else 0.0)
        first.close()
        assert stored_totals(store, "line3", shift)["tracked_s"] == pytest.approx(10.0)
    with sqlite3.connect(db) as conn:  # a row damaged on disk: numbers that are not numbers
        conn.execute("UPDATE exposure SET totals = ?", ('{"tracked_s": "abc"}',))
    logged = []
    with EventStore(db, retention_days=None) as store:
        second = ExposureTracker(HIGH, tz="UTC", clock=clock, store=store, camera="line3", run_id="b",
                                 log=logged.append)
        # the monitor goes on without the damaged row, says so once, and leaves the row as it was
        assert "earlier_runs" not in second.totals()["shifts"][shift] and stored_totals(store, "line3", shift) == {}
        assert logged == ["skipped damaged exposure totals in the event store (camera line3, shift "
                          "2024-05-01T06:00, run a, person 0)"]
        second.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT totals FROM exposure WHERE run_id = 'a'").fetchall() == [('{"tracked_s": "abc"}',)]
    capsys.readouterr()
    assert main(["report", "--events-db", str(db), "--since", "2024-05-01", "--until", "2024-05-02", "--out",
                 str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the totals of a row of exposure (camera line3, shift 2024-05-01T06:00) are " \
        "damaged" in err, err
    assert not (tmp_path / "report").exists()


def test_event_store_schema_version(tmp_path):
    path = tmp_path / "events.db"
    conn = sqlite3.connect(path)  # a store from before exposure was saved: events only, version 0
    conn.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, rule TEXT NOT NULL, "
                 "person INTEGER NOT NULL, severity TEXT NOT NULL, time_s REAL NOT NULL, wall_time TEXT NOT NULL, "
                 "value REAL, threshold REAL, duration_s REAL, camera TEXT NOT NULL DEFAULT '', "
                 "message TEXT NOT NULL DEFAULT '')")
    conn.commit()
    conn.close()
    EventStore(path).close()
    conn = sqlite3.connect(path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    assert version == 2 and tables == {"events", "exposure", "shifts", "episodes", "lifts"}
    with pytest.raises(InputError, match="schema version 7 was written by a newer ergo-edge"):
        EventStore(path)


def test_a_restart_keeps_the_reports_before_it(tmp_path):
    from runtime.report import keep_previous_reports

    out = tmp_path / "out"
    out.mkdir()
    for n in range(35):  # a crash loop: every run leaves its report.json
        (out / "report.json").write_text(json.dumps({"run_id": f"20240501T0600{n:02d}Z-abcdef", "n": n}))
        assert keep_previous_reports(out, keep=30) == f"20240501T0600{n:02d}Z-abcdef"
        assert not (out / "report.json").exists()
    kept = sorted(p.name for p in out.iterdir())
    assert len(kept) == 30 and kept[0] == "report-20240501T060005Z-abcdef.json"
    assert json.loads((out / kept[-1]).read_text())["n"] == 34
    # A damaged report (here nested deeper than the JSON reader goes) is kept under its time, not a crash.
    (out / "report.json").write_text("[" * 100_000 + "]" * 100_000)
    kept_as = keep_previous_reports(out, keep=40)
    assert kept_as.endswith("-unknown") and (out / f"report-{kept_as}.json").stat().st_size == 200_000


def _clip(footage: Path, path: Path, seconds: float) -> None:
    """The pose2sim cam01 person (1.7 s) played forward and back for `seconds` at 30 fps, 360x640."""
    import cv2

    cap = cv2.VideoCapture(str(footage / "pose2sim" / "cam01.mp4"))
    frames = []
    while (got := cap.read())[0]:
        frames.append(cv2.resize(got[1], (360, 640), interpolation=cv2.INTER_AREA))
    cap.release()
    cycle = frames + frames[::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (360, 640))
    for i in range(int(seconds * 30)):
        writer.write(cycle[i % len(cycle)])
    writer.release()


def _ergoedge_run(clip: Path, config: Path, out: Path, db: Path, stderr, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--source", str(clip), "--config", str(config),
                             "--out", str(out), "--events-db", str(db), "--scene-dir", str(out.parent / "scenes"),
                             *extra], stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=REPO)


def _finished_run(tmp_path: Path, name: str, clip: Path, config: Path, *extra: str) -> dict:
    """An uninterrupted run in a store of its own: its exposure, summed."""
    with open(tmp_path / f"{name}.err", "w") as err:
        assert _ergoedge_run(clip, config, tmp_path / name, tmp_path / f"{name}.db", err, *extra).wait(300) == 0
    return _shift_totals(tmp_path / f"{name}.db", "line3")


def _saved_tracked_s(db: Path) -> float:
    if not db.exists():
        return 0.0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT COALESCE(SUM(tracked_s), 0) FROM exposure").fetchone()[0]
    except sqlite3.OperationalError:  # the run has not made its tables yet
        return 0.0
    finally:
        conn.close()


def _shift_totals(db: Path, camera: str) -> dict:
    """Everything the store holds for the camera, summed over its shifts (the test may cross a shift start)."""
    from runtime.alerts.exposure import stored_totals

    with EventStore(db, retention_days=None) as store:
        parts = [stored_totals(store, camera, shift) for _, shift in store.exposure_shifts(camera)]
    return {"tracked_s": sum(p["tracked_s"] for p in parts),
            "reba_s": {k: sum(p["reba_s"][k] for p in parts) for k in parts[0]["reba_s"]}}


def test_run_killed_mid_shift_and_restarted_continues_the_shift(footage, tmp_path, blazepose_models):
    clip = tmp_path / "person.mp4"
    _clip(footage, clip, 16.0)
    config = tmp_path / "run.toml"
    config.write_text('camera = "line3"\nstatus_interval_s = 0.05\nreport_every_s = 0.5\n'
                      '[alerts]\nexposure_save_s = 0.25\n[sinks]\nstdout = false\n')
    whole = _finished_run(tmp_path, "whole", clip, config)
    assert whole["tracked_s"] >= 0.8 * 16  # the person is seen in most frames

    # The same clip, killed (SIGKILL: no handler runs) once saves and a periodic report have happened.
    out, db = tmp_path / "out", tmp_path / "events.db"
    with open(tmp_path / "killed.err", "w") as err:
        proc = _ergoedge_run(clip, config, out, db, err)
        deadline = time.monotonic() + 120
        while not (_saved_tracked_s(db) >= 2.0 and (out / "report.json").exists()):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    statuses = re.findall(r"t=\s*([0-9.]+)s", (tmp_path / "killed.err").read_text())
    reached = float(statuses[-1])  # stream time of the last status line before the kill
    killed_report = json.loads((out / "report.json").read_text())
    saved = _shift_totals(db, "line3")
    assert killed_report["final"] is False and reached < 15.0

    # systemd's restart: the same --out and store, track ids from 0 again, the clip from its start.
    with open(tmp_path / "restart.err", "w") as err:
        assert _ergoedge_run(clip, config, out, db, err).wait(300) == 0
    restarted = json.loads((out / "report.json").read_text())
    total = _shift_totals(db, "line3")

    # The shift continued: the killed run's saved seconds plus a whole run's, level by level; nothing overwritten.
    assert total["tracked_s"] == pytest.approx(saved["tracked_s"] + whole["tracked_s"], abs=1e-6)
    for level, seconds in total["reba_s"].items():
        assert seconds == pytest.approx(saved["reba_s"][level] + whole["reba_s"][level], abs=1e-6)
    shifts = restarted["exposure"]["shifts"]
    assert restarted["final"] is True and restarted["run_id"] != killed_report["run_id"]
    assert sum(s.get("earlier_runs", {}).get("tracked_s", 0.0) for s in shifts.values()) == \
        pytest.approx(saved["tracked_s"])
    # An uninterrupted run over the same frames (the killed run's up to its last status line, then the whole clip)
    # records `seen + whole`: the restarted shift is short of it by the frames lost at the kill, those after the
    # last save, which is at most exposure_save_s (0.25 s of wall time) old. A save may also come after the last
    # status line (status_interval_s, 0.05 s of wall time): then the store holds up to that much more than `seen`.
    seen = _finished_run(tmp_path, "prefix", clip, config, "--max-seconds", str(reached))
    lost_s = seen["tracked_s"] - saved["tracked_s"]
    stream_per_wall = 16.0 / json.loads((tmp_path / "whole" / "report.json").read_text())["wall_seconds"]
    assert -0.05 * stream_per_wall - 0.1 - 1e-6 <= lost_s <= (0.25 + 0.05) * stream_per_wall + 0.1, \
        (reached, seen, saved, stream_per_wall)
    # The killed run's report was kept, not overwritten.
    kept = json.loads((out / f"report-{killed_report['run_id']}.json").read_text())
    assert kept == killed_report
