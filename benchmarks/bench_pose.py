"""Benchmark: BlazePose per-frame latency on CPU, tracked (landmarks only) and detector + landmarks, side by side
with MediaPipe 0.10.21's own pipeline on the same frames.

Run after set-up (models and footage):

    .venv/bin/python benchmarks/bench_pose.py [--repeats 3] [--backends onnxruntime,openvino] \\
        [--mediapipe /tmp/mpvenv/bin/python]

Frames: the four pose2sim demo clips (1080x1920, 100 frames each). Per clip, a fresh tracker over every frame:
frames after the first are "tracked" (the detector does not run); then every 10th frame from a fresh start is a
"detector + landmarks" frame. Each frame's time covers the crops, inference, decoding and refinement (the whole
`BlazePose.__call__`), not video decoding. The same protocol for MediaPipe is benchmarks/mediapipe_timing.py, timed
around `Pose.process()`; with --mediapipe it runs in that interpreter (an environment with mediapipe==0.10.21, see
benchmarks/mediapipe_reference.py), once per repeat, alternating with ours, so both see the same machine load and the
ratio is fair on a noisy shared machine. Without it, the ratio uses MediaPipe's timing stored by
mediapipe_reference.py, if present, and says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _frames(path: Path) -> list[np.ndarray]:
    from edge.pose.frames import video_frames

    return [frame for _, _, frame, _ in video_frames(path)]


def _ours_pass(pose, clips, tracked: list, full: list) -> None:
    for frames in clips:
        pose.reset()
        for i, frame in enumerate(frames):
            runs = pose.stats.detector_runs
            start = time.perf_counter()
            pose(frame, i / 60.0)
            elapsed = (time.perf_counter() - start) * 1000
            if pose.stats.detector_runs == runs:
                tracked.append(elapsed)
        for frame in frames[::10]:  # detector + landmarks: a fresh start on every frame
            pose.reset()
            start = time.perf_counter()
            pose(frame)
            full.append((time.perf_counter() - start) * 1000)


def _mediapipe_pass(python: str, footage: str, tracked: list, full: list) -> str:
    out = subprocess.run([python, str(REPO / "benchmarks" / "mediapipe_timing.py"), "--footage", footage],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    tracked.extend(data["tracked_ms"])
    full.extend(data["detect_and_landmarks_ms"])
    return data["mediapipe"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="onnxruntime,openvino",
                        help="comma-separated: onnxruntime, openvino (those not installed are skipped)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0 = the runtime chooses)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    parser.add_argument("--mediapipe", metavar="PYTHON", help="a Python with mediapipe==0.10.21: time MediaPipe "
                        "side by side")
    parser.add_argument("--spinning", action="store_true", help="ONNX Runtime threads spin-wait (faster when "
                        "nothing else needs the cores; slower on shared cores)")
    args = parser.parse_args()

    from edge.errors import InputError
    from edge.artifacts import model_path
    from edge.inference.openvino_backend import OpenVinoBackend
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import BlazePose

    makers = {
        "onnxruntime": lambda p: OrtBackend(p, intra_op_threads=args.threads, allow_spinning=args.spinning),
        "openvino": lambda p: OpenVinoBackend(p, threads=args.threads),
    }
    poses = {}
    for name in args.backends.split(","):
        try:
            poses[name] = BlazePose(makers[name](model_path("pose_detection")),
                                    makers[name](model_path("pose_landmark_full")))
        except InputError as exc:
            print(f"skipping {name}: {exc}")
    clips = [_frames(Path(args.footage) / "pose2sim" / f"cam0{i}.mp4") for i in range(1, 5)]
    for pose in poses.values():
        pose(clips[0][0])  # warm-up

    times = {name: ([], []) for name in poses}
    mp_times: tuple[list, list] = ([], [])
    mp_version = None
    for _ in range(args.repeats):
        for name, pose in poses.items():
            _ours_pass(pose, clips, *times[name])
        if args.mediapipe:
            mp_version = _mediapipe_pass(args.mediapipe, args.footage, *mp_times)

    result: dict = {"repeats": args.repeats, "threads": args.threads}
    if args.mediapipe:
        mp_tracked, mp_full = statistics.median(mp_times[0]), statistics.median(mp_times[1])
        result["mediapipe"] = {"version": mp_version, "side_by_side": True, "tracked_median_ms": round(mp_tracked, 2),
                               "detect_and_landmarks_median_ms": round(mp_full, 2),
                               "frames": [len(mp_times[0]), len(mp_times[1])]}
    else:
        ref = REPO / "build" / "reference" / "mediapipe_reference_full.json"
        mp_tracked = mp_full = None
        if ref.exists():
            timing = json.loads(ref.read_text())["timing"]
            mp_tracked = timing["video_tracked_frames"]["median_ms"]
            mp_full = timing["static_video_frames"]["median_ms"]
            result["mediapipe"] = {"side_by_side": False, "source": str(ref.relative_to(REPO)),
                                   "tracked_median_ms": mp_tracked, "detect_and_landmarks_median_ms": mp_full}
    for name, (tracked, full) in times.items():
        entry = {"tracked_median_ms": round(statistics.median(tracked), 2),
                 "detect_and_landmarks_median_ms": round(statistics.median(full), 2),
                 "frames": [len(tracked), len(full)]}
        if mp_tracked:
            entry["ratio_tracked"] = round(entry["tracked_median_ms"] / mp_tracked, 3)
            entry["ratio_detect_and_landmarks"] = round(entry["detect_and_landmarks_median_ms"] / mp_full, 3)
        result[name] = entry
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
