"""Benchmark: `ergoedge run` with two calibrated cameras at 640x480, one person (issue 14: >= 25 fps per camera).

Run: `.venv/bin/python benchmarks/bench_rig.py [--seconds 30] [--no-record] [--cameras cam01,cam02]` after set-up.
Each camera's clip is its pose2sim demo view (a real person, 1080x1920 at 60 fps) scaled by 1/4 into the middle of
a 640x480 frame and looped forward and backward at 30 fps (`bench_run.make_clip`); the rig file is the demo's
Qualisys calibration with each camera's intrinsics moved the same way. The run reads both files in sync
(`runtime.video.multi_source`), runs BlazePose per view in two threads, matches and triangulates the person, scores,
evaluates alerts, draws both views side by side and encodes them (unless --no-record). Frames per second per camera
= synchronised sets per second (wall clock), from the run's own report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_run import make_clip  # noqa: E402

SCALE, SIZE = 0.25, (640, 480)


def letterboxed(camera):
    """`camera` for its frames scaled by SCALE and centred in a SIZE frame (what make_clip does)."""
    from edge.pose.cameras import Camera

    x0 = (SIZE[0] - round(camera.size[0] * SCALE)) / 2
    to_small = np.array([[SCALE, 0.0, 0.5 * (SCALE - 1.0) + x0], [0.0, SCALE, 0.5 * (SCALE - 1.0)], [0, 0, 1.0]])
    return Camera(camera.name, SIZE, to_small @ camera.K, camera.dist, camera.R, camera.t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cameras", default="cam01,cam02")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    args = parser.parse_args()

    from edge.config import with_overrides
    from edge.pose.cameras import CameraRig, read_qca, write_rig
    from runtime.config import load_config
    from runtime.session import run

    footage = Path(args.footage)
    names = args.cameras.split(",")
    qca = read_qca(footage / "pose2sim" / "Calib.qca.txt", {"cam01": (1080, 1920), "cam02": (1080, 1920)})
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for name in names:
            sources[name] = str(Path(tmp) / f"{name}_640x480.mp4")
            make_clip(Path(sources[name]), args.seconds, footage, camera=name)
        rig = CameraRig(tuple(letterboxed(qca.camera(n)) for n in names), up=qca.up)
        rig_file = write_rig(rig, Path(tmp) / "rig.toml")
        changes = {"rig.calibration": str(rig_file), "rig.sources": sources, "sinks.stdout": False,
                   "sinks.sqlite": str(Path(tmp) / "events.db")}
        if not args.no_record:
            changes["output.record"] = str(Path(tmp) / "annotated.mp4")
        config = with_overrides(load_config(None), camera="bench", scene_dir=tmp, **changes)
        report = run(config, Path(tmp) / "out", status=None)
        people = report["timeline"].get("people", report["timeline"])
        print(json.dumps({
            "clips": f"{len(names)} x 640x480, 30 fps, one person ({', '.join(names)} of pose2sim, scaled)",
            "frames_per_camera": report["frames"], "wall_seconds": report["wall_seconds"],
            "fps_per_camera": report["fps"], "recorded": not args.no_record, "stages_ms": report["stages"],
            "sync": report["source_stats"].get("sync"), "people_ids": list(people)[:10],
        }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
