"""Benchmark: `ergoedge run` end to end on a 640x480, 30 fps file with one person, and its memory over time.

Run: `.venv/bin/python benchmarks/bench_run.py [--seconds 60] [--no-record] [--activity STEP.onnx]` after set-up.
The clip is made from the pose2sim demo (cam01, a real person), scaled into 640x480 and looped to --seconds at
30 fps. The run decodes it with GStreamer, runs BlazePose, scores every frame, evaluates alerts, draws the
overlay and encodes the annotated video (unless --no-record): frames per second (wall clock) and per-stage
milliseconds come from the run's own report, and with an activity model (--activity, else the models directory's
default when there) its step count and step times (`activity_speed`). `cpu_ms_per_frame` is the process's CPU time
(`time.process_time`: every thread, GStreamer's decoding and encoding included, start-up too) over the run, per
frame, and `cores_busy` that CPU time over the wall clock: on a shared machine whose speed moves from run to run,
CPU time per frame compares days better than frames per second, and cores_busy near the core count says only less
work per frame raises the rate. With --memory, RSS is sampled every 10 s of
stream time by a thread and the RSS after 2 minutes is compared with the RSS at the end (use --seconds 1800 for the
30-minute check).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_clip(path: Path, seconds: float, footage: Path, camera: str = "cam01") -> None:
    """pose2sim's `camera` view (1080x1920) scaled by 1/4 into the middle of a 640x480 frame, looped."""
    import cv2

    cap = cv2.VideoCapture(str(footage / "pose2sim" / f"{camera}.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        small = cv2.resize(frame, (270, 480), interpolation=cv2.INTER_AREA)
        canvas = np.full((480, 640, 3), 60, np.uint8)
        canvas[:, 185:455] = small
        frames.append(canvas)
    cap.release()
    # Play forward then backward so the loop has no jump.
    cycle = frames + frames[::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    for i in range(int(seconds * 30)):
        writer.write(cycle[i % len(cycle)])
    writer.release()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--memory", action="store_true", help="sample RSS every 10 s of wall time")
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    parser.add_argument("--activity", help="the activity model (an exported step, .onnx); \"none\" for none")
    args = parser.parse_args()

    from edge.config import with_overrides
    from runtime.config import load_config
    from runtime.session import run

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "one_person_640x480_30fps.mp4"
        make_clip(clip, args.seconds, Path(args.footage))
        changes = {"source.uri": str(clip), "sinks.sqlite": str(Path(tmp) / "events.db"), "sinks.stdout": False,
                   "activity.model": args.activity}
        if not args.no_record:
            changes["output.record"] = str(Path(tmp) / "annotated.mp4")
        config = with_overrides(load_config(None), camera="bench", scene_dir=tmp, **changes)
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample():
            start = time.monotonic()
            while not done.wait(10.0):
                samples.append((time.monotonic() - start, _rss_mb()))

        sampler = threading.Thread(target=sample, daemon=True)
        if args.memory:
            sampler.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = run(config, Path(tmp) / "out", status=None)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        done.set()
        result = {
            "clip": "640x480, 30 fps, one person (pose2sim cam01 scaled)",
            "stream_seconds": report["stream_seconds"], "frames": report["frames"],
            "wall_seconds": report["wall_seconds"], "fps": report["fps"], "recorded": not args.no_record,
            "cpu_ms_per_frame": round(1000.0 * cpu / max(report["frames"], 1), 2),
            "cores_busy": round(cpu / wall, 2) if wall > 0 else None,
            "stages_ms": report["stages"], "dropped": report["source_stats"]["dropped"],
            "activity_speed": report["activity"].get("speed", report["activity"].get("reason")),
        }
        if args.memory and samples:
            fps = report["fps"] or 30.0
            two_min = next((rss for t, rss in samples if t * fps / 30.0 >= 120.0), samples[0][1])
            result["rss_mb_samples"] = [(round(t), round(rss, 1)) for t, rss in samples]
            result["rss_mb_after_2_min_of_video"] = round(two_min, 1)
            result["rss_mb_at_end"] = round(samples[-1][1], 1)
            result["rss_change_pct"] = round(100.0 * (samples[-1][1] - two_min) / two_min, 2)
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
