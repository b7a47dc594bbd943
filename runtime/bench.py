"""`ergoedge bench --source CLIP --out DIR`: what the configured models cost on this machine, written as a report
(bench.json and bench.md in DIR).

Two measurements, both with the run's own components and the run config's models, backends and precision:

- end to end: `ergoedge run` over the clip (decode, pose, scoring with the activity model, alerts; no outputs),
  frames per second by the wall clock and milliseconds per stage from the run's own stage clock;
- per stage, for 1 to N people: on each of the clip's frames the person detector once, then per person the
  landmark model (on the ROI the detector found; for BlazePose) and the activity step, and for each person count n
  the scoring of n people together (`score_people`, as the run scores a frame; stage `score_n`). N people cost
  `detect + N x (landmarks + activity) + score_N` from the per-call medians; `fps` is 1000 over that sum. It is an
  upper bound on the pose cost (the run re-detects only when tracking is lost) and leaves out decoding and outputs,
  which the end-to-end figure has.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.paths import atomic_write, output_dir

MAX_PEOPLE = 16


@dataclass(frozen=True)
class BenchSpec:
    """people: the person counts to report; frames: how many of the clip's frames each measurement uses."""

    people: tuple[int, ...] = (1, 2, 4)
    frames: int = 150

    def __post_init__(self) -> None:
        if not self.people:
            raise InputError("--people: give at least one count, e.g. 1,2,4")
        for n in self.people:
            check_number(n, "--people", integer=True, minimum=1, maximum=MAX_PEOPLE)
        check_number(self.frames, "--frames", integer=True, minimum=10, maximum=100_000)


def _median_p90(values: list[float]) -> dict:
    if not values:
        return {"calls": 0}
    return {"calls": len(values), "median_ms": round(float(np.median(values)), 3),
            "p90_ms": round(float(np.percentile(values, 90)), 3)}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - start) * 1000.0


def _activity_step(activity, placed, pid: int, t: float, person, shape: tuple, joints, up, metrics: dict) -> None:
    """The activity stage's work for one person and frame, placing them in the camera's space first where the
    model reads the pelvis's path (`placed`: an `edge.pose.placement.FramePlacement`, as `runtime.views.SingleView`
    has; None otherwise)."""
    offset = None if placed is None or person.world is None else placed(person, shape)
    activity.update(pid, t, joints, up, metrics, offset)


def stage_costs(config, source: Path, spec: BenchSpec) -> dict:
    """Per-call milliseconds of each stage over the clip's first `spec.frames` frames, with max(people) copies of
    the clip's person for the per-person stages."""
    from edge.artifacts import models_dir
    from edge.pose.estimator import open_estimator
    from edge.pose.frames import video_frames
    from edge.pose.lifting import scoring_joints
    from edge.pose.placement import FramePlacement
    from edge.pose.scene import load_calibration
    from edge.scoring.stream import PersonStream, l5s1_phase, score_people
    from edge.skeletons import get_layout
    from runtime.activity import ActivityStage
    from runtime.config import pose_spec

    estimator = open_estimator(pose_spec(config))  # as the run opens it (silhouettes keep the segmentation)
    layout = get_layout(estimator.layout)
    up = load_calibration(config.camera or "bench", config.scene_dir).up
    activity = ActivityStage(config.activity, models_dir(config.pose.models_dir), layout.name, (), log=lambda m: None)
    placed = None if activity.placement is None else FramePlacement(activity.placement)
    pipeline = estimator.model
    split = callable(getattr(pipeline, "detect", None)) and callable(getattr(pipeline, "landmarks_in", None))
    copies = max(spec.people)
    crowds: dict[int, list[PersonStream]] = {}  # person count -> its streams (each count keeps its own state)
    times = {"detect": [], "landmarks": [], "pose": [], **{f"score_{n}": [] for n in spec.people}, "activity": []}
    frames_with_person = 0
    for index, t, frame, _fps in video_frames(source):
        if index >= spec.frames:
            break
        people, ms = _timed(estimator, frame, t)
        times["pose"].append(ms)
        if split:
            found, ms = _timed(pipeline.detect, frame)
            times["detect"].append(ms)
            for _ in range(copies if found else 0):
                times["landmarks"].append(_timed(pipeline.landmarks_in, frame, found[0][0])[1])
        if not people:
            continue
        frames_with_person += 1
        joints, person_up = scoring_joints(people[0], up)
        scored = {}
        for n in spec.people:
            crowd = crowds.setdefault(n, [PersonStream(layout, person_up, config.scoring, l5s1_phase=l5s1_phase(i))
                                          for i in range(n)])
            scored[n], ms = _timed(score_people, crowd, t, [joints] * n)
            times[f"score_{n}"].append(ms)
        for pid, metrics in enumerate(scored[copies]):
            if activity.enabled:
                times["activity"].append(_timed(_activity_step, activity, placed, pid, t, people[0], frame.shape,
                                                joints, person_up, metrics)[1])
    if not times["pose"]:
        raise InputError(f"{source}: no frames to measure")
    if not frames_with_person:
        raise InputError(f"{source}: the pose model found nobody in {len(times['pose'])} frames; bench needs a clip "
                         "with a person in view")
    return {"split_pose": split, "frames": len(times["pose"]), "frames_with_person": frames_with_person,
            "runtime": estimator.runtime, "pose_precision": config.pose.precision,
            "activity_model": str(activity.model.path) if activity.enabled else None,
            "stages": {k: _median_p90(v) for k, v in times.items()}}


def per_people(costs: dict, people: tuple[int, ...]) -> list[dict]:
    """Milliseconds per frame and fps for each person count, from the per-call medians (module doc)."""
    stages = costs["stages"]

    def median(name: str) -> float:
        return stages[name].get("median_ms", 0.0)

    rows = []
    for n in people:
        if costs["split_pose"]:
            pose = median("detect") + n * median("landmarks")
        else:  # one call finds everyone (bottom-up adapters): the same cost for any count
            pose = median("pose")
        total = pose + median(f"score_{n}") + n * median("activity")
        rows.append({"people": n, "pose_ms": round(pose, 3), "score_ms": round(median(f"score_{n}"), 3),
                     "activity_ms": round(n * median("activity"), 3), "frame_ms": round(total, 3),
                     "fps": round(1000.0 / total, 1) if total > 0 else None})
    return rows


def end_to_end(config, source: Path, spec: BenchSpec, out: Path) -> dict:
    """`ergoedge run` over the clip's first frames, outputs off; its fps and stage medians."""
    from dataclasses import replace

    from edge.pose.frames import video_frames
    from runtime.session import run

    fps = next(iter(video_frames(source)))[3]
    # Outputs and outside sinks off (they are not what is measured, and a bench must not alert anyone); events to
    # a store in the bench's own directory.
    config = replace(config, max_seconds=(spec.frames - 0.5) / fps, report_every_s=3600.0,
                     source=replace(config.source, uri=str(source)), output=type(config.output)(),
                     sinks=replace(config.sinks, sqlite=str(out / "events.db"), mqtt=None, gpio=None, stdout=False))
    with open(out / "run.log", "w", encoding="utf-8") as status:
        report = run(config, out, status=status)
    if report["interrupted"]:  # the run takes Ctrl-C and SIGTERM as "stop": a bench stops with it
        raise KeyboardInterrupt
    return {"frames": report["frames"], "wall_seconds": report["wall_seconds"], "fps": report["fps"],
            "stages": report["stages"], "report": str(out / "report.json")}


def _machine() -> dict:
    import os

    from edge.device import is_jetson

    return {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "jetson": is_jetson()}


def _markdown(result: dict) -> str:
    lines = [f"# ergo-edge bench: {result['source']}", "",
             f"Machine: {result['machine']['platform']}, {result['machine']['cpus']} CPUs; pose runtime: "
             f"{result['stages']['runtime']} ({result['stages']['pose_precision']}); activity model: "
             f"{result['stages']['activity_model'] or 'none'}", "",
             f"End to end (`ergoedge run`, outputs off): {result['end_to_end']['frames']} frames, "
             f"{result['end_to_end']['fps']:.1f} fps; ms per stage (median/p90): " + ", ".join(
                 f"{k} {v['median_ms']}/{v['p90_ms']}" for k, v in result["end_to_end"]["stages"].items()), "",
             "Per call, on the clip's frames:", "",
             "| stage | calls | median ms | p90 ms |", "|---|---|---|---|"]
    for name, row in result["stages"]["stages"].items():
        if row["calls"]:
            lines.append(f"| {name} | {row['calls']} | {row['median_ms']} | {row['p90_ms']} |")
    lines += ["", "Per frame for N people (detect + N x (landmarks + activity) + score_N, per-call medians):", "",
              "| people | pose ms | score ms | activity ms | frame ms | fps |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['people']} | {r['pose_ms']} | {r['score_ms']} | {r['activity_ms']} | {r['frame_ms']} | "
              f"{r['fps']} |" for r in result["per_people"]]
    return "\n".join(lines) + "\n"


def bench(config, source: str | Path, out_dir: str | Path, spec: BenchSpec = BenchSpec()) -> dict:
    """Measure (module doc) and write bench.json and bench.md into `out_dir`; returns the JSON's content."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise InputError(f"no such clip: {source} (bench reads a video file)")
    out = output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    costs = stage_costs(config, source, spec)
    run_dir = out / "run"
    run_dir.mkdir(exist_ok=True)
    result = {"source": str(source), "machine": _machine(), "spec": {"people": list(spec.people),
                                                                        "frames": spec.frames},
              "end_to_end": end_to_end(config, source, spec, run_dir), "stages": costs,
              "per_people": per_people(costs, spec.people)}
    atomic_write(out / "bench.json", json.dumps(result, indent=1) + "\n")
    atomic_write(out / "bench.md", _markdown(result))
    return result
