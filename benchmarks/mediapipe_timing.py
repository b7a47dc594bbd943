"""MediaPipe 0.10.21's own Pose timed on the pose2sim clips, one pass, for benchmarks/bench_pose.py to run side by side.

Runs in the mediapipe environment (see benchmarks/mediapipe_reference.py for how to make it), never in the project's:

    /tmp/mpvenv/bin/python benchmarks/mediapipe_timing.py --footage build/footage

Protocol (the same as bench_pose.py's for ergo-edge): per clip, a fresh video-mode Pose (model_complexity=1, no
smoothing, no segmentation) over every frame, where "tracked" frames are those after the first (the detector does not
run while the person stays found); then a static-mode Pose (detector + landmarks on every call) on every
`--static-stride`th frame. Only `Pose.process()` is timed, not decoding or colour conversion. Prints one JSON object:
{"tracked_ms": [...], "detect_and_landmarks_ms": [...], "mediapipe": version}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SETTINGS = {"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": False,
            "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5}


def _frames(path: Path) -> list:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise SystemExit(f"mediapipe_timing: no frames in {path}")
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", required=True)
    parser.add_argument("--static-stride", type=int, default=10)
    args = parser.parse_args()

    import mediapipe as mp

    Pose = mp.solutions.pose.Pose
    clips = [_frames(Path(args.footage) / "pose2sim" / f"cam0{i}.mp4") for i in range(1, 5)]
    tracked, full = [], []
    with Pose(static_image_mode=True, **SETTINGS) as pose:
        pose.process(clips[0][0])  # warm-up: graph start and first inference are not what is measured
    for frames in clips:
        with Pose(static_image_mode=False, **SETTINGS) as pose:
            for i, frame in enumerate(frames):
                start = time.perf_counter()
                result = pose.process(frame)
                ms = (time.perf_counter() - start) * 1000
                if i > 0 and result.pose_landmarks is not None:
                    tracked.append(ms)
        with Pose(static_image_mode=True, **SETTINGS) as pose:
            pose.process(frames[0])
            for frame in frames[::args.static_stride]:
                start = time.perf_counter()
                pose.process(frame)
                full.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"tracked_ms": tracked, "detect_and_landmarks_ms": full, "mediapipe": mp.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
