"""Benchmark: `ergoedge run` end to end with three people in a 640x480, 30 fps clip (issue 14: >= 30 fps on 2 cores).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_people.py [--seconds 20] [--record | --no-record]
        [--activity none|STEP.onnx] [--clip FILE.mp4] [--profile] [--max-people 3]

The clip is benchmarks/multi_person_compose.py's scenario (default `three_two_masked`: three people from the
pose2sim clips at different scales, two faces covered), written by that script's own clip writer; `--clip FILE`
reuses a clip written before (made there when it does not exist yet). The run is `runtime.session.run` with the
default config (face blur, the activity model where the models directory has it, no recording unless --record),
as benchmarks/bench_run.py runs it. Printed (JSON): frames per second (wall clock), per-stage milliseconds from
the run's report (median, p90), the CPU time per frame of this process from its first frame to its last
(`time.process_time`: every thread, decoding and encoding included; it moves less than the wall clock when other
work shares the cores), BlazePose's detector and landmark runs a frame, and the load average before and after.
With --profile, the run is made under cProfile and the functions taking the most time (own and cumulative) follow.
Timings move with whatever else the machine runs: give the load with every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_clip(path: Path, scenario: str, seconds: float, footage: Path) -> None:
    """The composed scenario as a 640x480, 30 fps clip, by multi_person_compose's own writer."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import multi_person_compose as mpc
    finally:
        sys.path.pop(0)
    from edge.artifacts import model_path
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import BlazePose, BlazePoseConfig

    def backend(name):
        return OrtBackend(model_path(name), intra_op_threads=1, allow_spinning=False)

    # Ground truth regions as multi_person_compose.main makes them: the single-person pipeline on each source clip.
    truth = BlazePose(backend("pose_detection"), backend("pose_landmark_full"),
                      BlazePoseConfig(max_people=1, detector_tiles=0, reacquire_frames=0))
    sources = [mpc.make_source(truth, mpc.clip_frames(footage, c)) for c in range(4)]
    mpc._write_clip(path, sources, mpc.SCENARIOS[scenario], seconds)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_once(clip: Path, tmp: Path, args) -> tuple[dict, dict]:
    """The run's report, and what was measured around it (CPU time, pose model runs)."""
    from edge.config import with_overrides
    from runtime.config import load_config
    from runtime.session import Session, run

    changes = {"source.uri": str(clip), "sinks.sqlite": str(tmp / "events.db"), "sinks.stdout": False,
               "pose.max_people": args.max_people}
    if args.activity:
        changes["activity.model"] = args.activity
    if args.record:
        changes["output.record"] = str(tmp / "annotated.mp4")
    config = with_overrides(load_config(None), camera="bench", scene_dir=str(tmp), **changes)

    # The session the run makes is wrapped, not changed: its estimator's counters, and the CPU time from the end
    # of its set-up (models compiled) to the start of its close (the frames alone).
    made: list = []
    marks: dict[str, float] = {}
    original_init, original_close = Session.__init__, Session.close

    def init(self, *a, **kw):
        original_init(self, *a, **kw)
        made.append(self)
        marks["cpu0"], marks["wall0"] = time.process_time(), time.perf_counter()

    def close(self):
        marks["cpu1"], marks["wall1"] = time.process_time(), time.perf_counter()
        original_close(self)

    Session.__init__, Session.close = init, close
    profiler = cProfile.Profile() if args.profile else None
    try:
        if profiler is not None:
            profiler.enable()
        report = run(config, tmp / "out", status=None)
    finally:
        if profiler is not None:
            profiler.disable()
        Session.__init__, Session.close = original_init, original_close
    frames = max(report["frames"], 1)
    extra = {"cpu_ms_per_frame": round(1000 * (marks["cpu1"] - marks["cpu0"]) / frames, 2),
             "wall_ms_per_frame": round(1000 * (marks["wall1"] - marks["wall0"]) / frames, 2)}
    model = made[0].view.estimator.model if made else None
    stats = getattr(model, "stats", None)
    if stats is not None and stats.frames:
        extra["detector_runs_per_frame"] = round(stats.detector_runs / stats.frames, 3)
        extra["landmark_runs_per_frame"] = round(stats.landmark_runs / stats.frames, 3)
    if profiler is not None:
        extra["profile"] = _profile_text(profiler, args.profile_top)
    return report, extra


def _profile_text(profiler: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (when the clip is made here)")
    parser.add_argument("--scenario", default="three_two_masked")
    parser.add_argument("--clip", help="a clip written before (written there first when missing)")
    parser.add_argument("--max-people", type=int, default=3)
    record = parser.add_mutually_exclusive_group()
    record.add_argument("--record", action="store_true", help="also encode the annotated video")
    record.add_argument("--no-record", dest="record", action="store_false", help="no recording (default)")
    parser.add_argument("--activity", help='the activity model (an exported step, .onnx); "none" for none')
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top functions")
    parser.add_argument("--profile-top", type=int, default=35)
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = Path(args.clip) if args.clip else tmp / "three_people_640x480_30fps.mp4"
        if not clip.is_file():
            write_clip(clip, args.scenario, args.seconds, Path(args.footage))
        load_before = _load()
        report, extra = run_once(clip, tmp, args)
        profile = extra.pop("profile", None)
        result = {
            "clip": f"640x480, 30 fps, {args.scenario} (benchmarks/multi_person_compose.py)",
            "max_people": args.max_people, "recorded": args.record,
            "activity": report["activity"].get("enabled", False),
            "frames": report["frames"], "wall_seconds": report["wall_seconds"], "fps": report["fps"],
            "stages_ms": report["stages"], **extra, "dropped": report["source_stats"].get("dropped"),
            "load_before": load_before, "load_after": _load(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        }
        print(json.dumps(result, indent=2))
        if profile:
            print(profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
