"""Benchmark: BlazePose per-frame latency on CPU, tracked (landmarks only) and detector + landmarks.

Run: `.venv/bin/python benchmarks/bench_pose.py [--threads 2] [--repeats 3]` after set-up (models and footage).
Frames: the four pose2sim demo clips (1080x1920, 100 frames each). Each frame's time covers colour conversion,
crops, inference, decoding and refinement (the whole `BlazePose.__call__`), not video decoding.
MediaPipe's own figures for the same frames come from benchmarks/mediapipe_reference.py
(build/reference/mediapipe_reference_full.json), measured the same way around `Pose.process()`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _frames(path: Path) -> list[np.ndarray]:
    from edge.pose.estimate import video_frames

    return [frame for _, _, frame, _ in video_frames(path)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = all cores)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    parser.add_argument("--spinning", action="store_true", help="let ONNX Runtime threads spin-wait (faster when "
                        "nothing else needs the cores; slower on shared cores)")
    args = parser.parse_args()

    from edge.models import model_path
    from edge.pose.backends import OrtBackend
    from edge.pose.blazepose import BlazePose

    kw = dict(intra_op_threads=args.threads, allow_spinning=args.spinning)
    det = OrtBackend(model_path("pose_detection"), **kw)
    lm = OrtBackend(model_path("pose_landmark_full"), **kw)
    pose = BlazePose(det, lm)
    clips = [_frames(Path(args.footage) / "pose2sim" / f"cam0{i}.mp4") for i in range(1, 5)]
    pose(clips[0][0])  # warm-up
    tracked, full = [], []
    for _ in range(args.repeats):
        for frames in clips:
            pose.reset()
            for i, frame in enumerate(frames):
                runs = pose.stats.detector_runs
                start = time.perf_counter()
                pose(frame, i / 60.0)
                elapsed = (time.perf_counter() - start) * 1000
                (full if pose.stats.detector_runs > runs else tracked).append(elapsed)
            for frame in frames[::10]:  # detector + landmarks: a fresh start on every frame
                pose.reset()
                start = time.perf_counter()
                pose(frame)
                full.append((time.perf_counter() - start) * 1000)
    result = {
        "spinning": args.spinning,
        "tracked_median_ms": round(statistics.median(tracked), 2), "tracked_frames": len(tracked),
        "detect_and_landmarks_median_ms": round(statistics.median(full), 2), "detect_frames": len(full),
    }
    ref = REPO / "build" / "reference" / "mediapipe_reference_full.json"
    if ref.exists():
        timing = json.loads(ref.read_text())["timing"]
        mp_tracked = timing["video_tracked_frames"]["median_ms"]
        mp_full = timing["static_video_frames"]["median_ms"]
        result["mediapipe_tracked_median_ms"] = mp_tracked
        result["mediapipe_detect_and_landmarks_median_ms"] = mp_full
        result["ratio_tracked"] = round(result["tracked_median_ms"] / mp_tracked, 3)
        result["ratio_detect_and_landmarks"] = round(result["detect_and_landmarks_median_ms"] / mp_full, 3)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
