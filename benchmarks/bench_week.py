"""Benchmark: a week of operation compressed. Memory stays flat, and a run killed at random points and restarted
records the same exposure per shift as an uninterrupted one, short by exactly the frames lost at each kill.

Run: `.venv/bin/python benchmarks/bench_week.py [--days 7] [--kills 6] [--seed 1] [--json figures.json]`.

What runs: the device runtime's per-frame path after pose and scoring (`runtime.session.Session.observe`: alert
engine, exposure per shift and person with its saves to the SQLite event store, risk timeline, alert sinks
(alerts.jsonl and the store), the periodic report.json) on a fast wall clock (`Session(wall_clock=...)`): one frame
per second of a synthetic week in which workers come and go at three workstations and a fourth produces short
flickering tracks (a tracker losing and re-finding people). Metrics are synthetic (a work cycle of bending and
straightening per worker, REBA 3-11, trunk flexion, L5/S1 peaks, lift rates), so no camera or pose model runs; the
Session is a real one (its `test://` source is never started), each run a separate process.

Two chains run side by side, each in worker subprocesses:
- the reference: one process through the whole week; it samples its RSS every simulated hour;
- the killed chain: SIGKILLed when it reaches random frames, restarted (like systemd: same --out, same store) at the
  frame where it was killed plus --downtime seconds of lost camera time, track ids from 0 again.
Checks: RSS after the first simulated day (warm-up) vs the end and the maximum after warm-up (flat: within 5 %);
per shift, reference minus killed-chain exposure (tracked seconds and seconds per REBA level) lies between the
exposure of the frames lost at the kills in that shift (from the last save before the kill to the restart) without
and with the frame of the last save (a save lands between two people of one frame); every killed run's report
survives beside the final one.

Compressed: wall time runs as fast as frames are processed (~1 frame per simulated second instead of 30); the
periodic report is written every --report-every simulated seconds (the product's default is 60).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEEK_START = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)  # a Monday, at a shift start
CAMERA = "week"


@dataclass(frozen=True)
class Visit:
    """A person in view from frame `start` to `end` (inclusive), working in cycles of `period` frames of which the
    first `bent` are spent bent over."""

    start: int
    end: int
    period: int
    bent: int
    occluded: bool  # the last frame of each cycle has no REBA (e.g. an arm hidden)


def schedule(frames: int, seed: int) -> list[Visit]:
    """Everyone who appears in the week, by first frame: three workstations with workers staying 1 min to 1.5 h,
    and one spot where the tracker flickers (tracks of 2-30 s)."""
    rng = random.Random(seed)
    visits = []
    for station in range(4):
        flicker = station == 3
        f = rng.randrange(600)
        while f < frames:
            stay = rng.randint(2, 30) if flicker else rng.randint(60, 5400)
            period = rng.randint(10, 120)
            visits.append(Visit(f, min(f + stay, frames) - 1, period, rng.randint(1, period // 2), rng.random() < 0.3))
            f += stay + (rng.randint(10, 300) if flicker else rng.randint(30, 1800))
    return sorted(visits, key=lambda v: v.start)


def metrics(v: Visit, f: int) -> dict:
    phase = (f - v.start) % v.period
    bent = phase < v.bent
    reba = (9 if bent else 3) + phase % 3
    return {"reba_total": None if v.occluded and phase == v.period - 1 else reba,
            "rula_grand": 6 if bent else 3, "trunk_flexion_deg": 70.0 if bent else 10.0,
            "l5s1_compression_n": 3600.0 if bent and phase < 2 else 1800.0, "lifts_per_min": 60.0 / v.period}


class Scene:
    """The people in view at each frame, walked forward from any starting frame."""

    def __init__(self, visits: list[Visit], first: int):
        self.visits = visits
        self.starts = [v.start for v in visits]
        self.next = bisect.bisect_left(self.starts, first)
        self.active = [v for v in visits[:self.next] if v.end >= first]

    def at(self, f: int) -> list[Visit]:
        while self.next < len(self.visits) and self.visits[self.next].start <= f:
            self.active.append(self.visits[self.next])
            self.next += 1
        self.active = [v for v in self.active if v.end >= f]
        return self.active


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(args) -> int:
    """One run of the device: frames args.start .. args.frames-1 of the week, then close and the final report."""
    from edge.config import with_overrides
    from runtime.config import load_config
    from runtime.session import Session

    now = {"f": args.start}
    clock = lambda: WEEK_START + timedelta(seconds=now["f"])  # noqa: E731 - the fast wall clock
    config = with_overrides(load_config(None), camera=CAMERA, scene_dir=str(Path(args.db).parent),
                            report_every_s=args.report_every, **{
                                "source.uri": "test://", "sinks.sqlite": args.db, "sinks.stdout": False,
                                "pose.backend": "onnxruntime"})
    session = Session(config, args.out, status=None, wall_clock=clock)
    scene = Scene(schedule(args.frames, args.seed), args.start)
    ids: dict[Visit, int] = {}  # who is in view -> track id; ids start at 0 in every run, like the tracker's
    next_id = 0
    beat = os.open(args.heartbeat, os.O_WRONLY | os.O_CREAT, 0o644)
    rss = open(args.rss, "a", encoding="utf-8") if args.rss else None
    if rss:
        rss.write(json.dumps({"frame": args.start, "rss_mb": _rss_mb()}) + "\n")
    for f in range(args.start, args.frames):
        now["f"] = f
        here = scene.at(f)
        for v in here:
            if v not in ids:
                ids[v], next_id = next_id, next_id + 1
        ids = {v: ids[v] for v in here}
        people = {ids[v]: metrics(v, f) for v in here}
        session.observe(people, float(f - args.start), 1.0 if f > args.start else 0.0)
        os.pwrite(beat, b"%12d" % f, 0)  # the last frame fully processed, for the parent's kill and restart
        if rss and f % 3600 == 0:
            rss.write(json.dumps({"frame": f, "rss_mb": _rss_mb()}) + "\n")
            rss.flush()
    session.close()
    session.write_report()
    if rss:
        rss.write(json.dumps({"frame": args.frames, "rss_mb": _rss_mb(), "end": True}) + "\n")
        rss.close()
    return 0


def _spawn(base: argparse.Namespace, name: str, start: int, rss: bool) -> subprocess.Popen:
    d = Path(base.dir)
    cmd = [sys.executable, __file__, "--worker", "--start", str(start), "--frames", str(base.frames),
           "--seed", str(base.seed), "--report-every", str(base.report_every), "--db", str(d / f"{name}.db"),
           "--out", str(d / f"{name}_out"), "--heartbeat", str(d / f"{name}.hb")]
    if rss:
        cmd += ["--rss", str(d / f"{name}_rss.jsonl")]
    env = {**os.environ, "TZ": "UTC", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(d / f"{name}.err", "a"))


def _heartbeat(path: Path) -> int:
    try:
        text = path.read_bytes().strip()
        return int(text) if text else -1
    except (FileNotFoundError, ValueError):
        return -1


def killed_chain(args, targets: list[int]) -> list[dict]:
    """Run the week with a SIGKILL at each target frame (as soon as the heartbeat passes it) and a restart
    --downtime frames later; returns each run's start frame and, for killed runs, the last frame it finished."""
    hb = Path(args.dir) / "killed.hb"
    runs, start = [], 0
    while True:
        hb.write_bytes(b"")
        proc = _spawn(args, "killed", start, rss=False)
        target = next((t for t in targets if t > start), None)
        if target is None:
            assert proc.wait() == 0, "the last run failed: see killed.err"
            runs.append({"start": start, "killed_after": None})
            return runs
        while _heartbeat(hb) < target:
            if proc.poll() is not None:
                raise RuntimeError(f"a killed-chain run ended by itself (code {proc.returncode}): see killed.err")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = _heartbeat(hb)
        runs.append({"start": start, "killed_after": done})
        start = done + 1 + args.downtime


def _frame_of(iso: str) -> int:
    return round((datetime.fromisoformat(iso) - WEEK_START).total_seconds())


def _stored(db: Path) -> dict[str, dict]:
    from runtime.alerts.exposure import stored_totals
    from runtime.alerts.store import EventStore

    with EventStore(db, retention_days=None) as store:
        return {shift: stored_totals(store, CAMERA, shift) for _, shift in store.exposure_shifts(CAMERA)}


def _last_saves(db: Path) -> dict[str, int]:
    """Each run's last save: the frame whose clock its newest row carries."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT run_id, MAX(updated) FROM exposure WHERE camera = ? GROUP BY run_id",
                            (CAMERA,)).fetchall()
    finally:
        conn.close()
    return {run_id: _frame_of(updated) for run_id, updated in rows}


def lost_exposure(visits: list[Visit], frames: list[int], first: int) -> dict[str, dict]:
    """Exposure per shift of the given frames, as the runtime credits it (one second per person per frame)."""
    from runtime.alerts.exposure import ExposureTracker

    now = {"f": 0}
    tracker = ExposureTracker(shift_starts=("06:00", "14:00", "22:00"), tz="UTC",
                              clock=lambda: WEEK_START + timedelta(seconds=now["f"]), max_persons=10 ** 6)
    scene = Scene(visits, first)
    for f in frames:
        now["f"] = f
        for v in scene.at(f):
            tracker.update(float(f), v.start, metrics(v, f), dt=1.0)
    return {k: s["all"] for k, s in tracker.totals()["shifts"].items()}


def _figures(args, runs: list[dict]) -> dict:
    d = Path(args.dir)
    visits = schedule(args.frames, args.seed)
    reference, killed = _stored(d / "reference.db"), _stored(d / "killed.db")
    saves = _last_saves(d / "killed.db")
    lost_lo: dict[str, dict] = {}
    lost_hi: dict[str, dict] = {}
    kills = []
    for run, following in zip(runs, runs[1:]):
        prefix = (WEEK_START + timedelta(seconds=run["start"])).strftime("%Y%m%dT%H%M%SZ")
        saved = max((f for r, f in saves.items() if r.startswith(prefix)), default=run["start"] - 1)
        restart = following["start"]  # its first frame has no dt: lost too
        for into, first in ((lost_lo, saved + 1), (lost_hi, saved)):
            for shift, part in lost_exposure(visits, list(range(max(first, run["start"]), restart + 1)),
                                             max(first, run["start"])).items():
                _add(into.setdefault(shift, {}), part)
        kills.append({"killed_after_frame": run["killed_after"], "last_save_frame": saved, "restart_frame": restart,
                      "frames_lost": restart - saved})
    shifts, ok = {}, True
    for shift in sorted(reference):
        ref, got = reference[shift], killed.get(shift, {"tracked_s": 0.0, "reba_s": {}})
        diff = ref["tracked_s"] - got["tracked_s"]
        lo = lost_lo.get(shift, {}).get("tracked_s", 0.0)
        hi = lost_hi.get(shift, {}).get("tracked_s", 0.0)
        levels_ok = all(lost_lo.get(shift, {}).get("reba_s", {}).get(level, 0.0) - 1e-6
                        <= seconds - got["reba_s"].get(level, 0.0)
                        <= lost_hi.get(shift, {}).get("reba_s", {}).get(level, 0.0) + 1e-6
                        for level, seconds in ref["reba_s"].items())
        within = lo - 1e-6 <= diff <= hi + 1e-6 and levels_ok
        ok &= within
        shifts[shift] = {"reference_s": round(ref["tracked_s"], 3), "restarted_s": round(got["tracked_s"], 3),
                         "difference_s": round(diff, 3), "lost_at_kills_s": [round(lo, 3), round(hi, 3)],
                         "within": within}
    return {"kills": kills, "shifts": shifts, "exposure_within_lost_frames": ok}


def _add(total: dict, part: dict) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def _rss_figures(path: Path, warm_frame: int) -> dict:
    samples = [json.loads(line) for line in path.read_text().splitlines()]
    warm = next(s["rss_mb"] for s in samples if s["frame"] >= warm_frame)
    after = [s["rss_mb"] for s in samples if s["frame"] >= warm_frame]
    end = samples[-1]["rss_mb"]
    return {"start_mb": round(samples[0]["rss_mb"], 1), "warm_mb": round(warm, 1), "end_mb": round(end, 1),
            "max_after_warm_mb": round(max(after), 1), "end_vs_warm_pct": round(100 * (end - warm) / warm, 2),
            "max_vs_warm_pct": round(100 * (max(after) - warm) / warm, 2),
            "per_hour_mb": [round(s["rss_mb"], 1) for s in samples]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--downtime", type=int, default=8,
                        help="camera seconds lost per restart (systemd's RestartSec=5 and the start)")
    parser.add_argument("--report-every", type=float, default=600.0, help="simulated seconds between report.json")
    parser.add_argument("--warm-up-days", type=float, default=1.0)
    parser.add_argument("--dir", help="keep the runs' files here (default: a temporary directory)")
    parser.add_argument("--json", help="also write the figures to this file")
    # worker mode (the parent starts these)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--start", "--frames"):
        parser.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    for name in ("--db", "--out", "--heartbeat", "--rss"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    args.frames = int(args.days * 86400)
    with tempfile.TemporaryDirectory() as tmp:
        args.dir = args.dir or tmp
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        rng = random.Random(args.seed + 1)
        targets = sorted(rng.randrange(600, args.frames - 600) for _ in range(args.kills))
        began = time.monotonic()
        reference = _spawn(args, "reference", 0, rss=True)
        runs = killed_chain(args, targets)
        assert reference.wait() == 0, "the reference run failed: see reference.err"
        wall = time.monotonic() - began
        figures = {"days": args.days, "frames": args.frames, "seed": args.seed, "wall_seconds": round(wall, 1),
                   "rss_reference": _rss_figures(Path(args.dir) / "reference_rss.jsonl",
                                                 int(args.warm_up_days * 86400)),
                   **_figures(args, runs)}
        out = Path(args.dir) / "killed_out"
        figures["reports_kept"] = len(list(out.glob("report-*.json")))
        figures["memory_flat"] = max(abs(figures["rss_reference"]["end_vs_warm_pct"]),
                                     figures["rss_reference"]["max_vs_warm_pct"]) <= 5.0
        text = json.dumps(figures, indent=1)
        print(text)
        if args.json:
            Path(args.json).write_text(text + "\n")
    return 0 if figures["memory_flat"] and figures["exposure_within_lost_frames"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
