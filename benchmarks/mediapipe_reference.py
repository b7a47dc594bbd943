"""Reference keypoints and timings from MediaPipe's own Pose solution, on real footage.

This script is a standalone tool: it is not part of the ergo-edge package, the package never imports it, and it runs
in its own virtual environment, because mediapipe needs Python <= 3.12 and pins its own numpy/protobuf:

    python3 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.21 opencv-python-headless
    scripts/fetch_footage.sh build/footage
    /tmp/mpvenv/bin/python benchmarks/mediapipe_reference.py --footage build/footage \\
        --out build/reference/mediapipe_reference_full.npz --fixture tests/data/mediapipe_reference.npz

mediapipe 0.10.21 is the last release that still ships the BlazePose "full" weights; later releases download models at
run time, which these machines cannot do. The footage comes from scripts/fetch_footage.sh.

What runs (all with model_complexity=1, i.e. pose_landmark_full.tflite, and no segmentation):
- the photos opencv/messi5.jpg and opencv/basketball1.png: static_image_mode=True (person detector + landmarks);
- every frame of pose2sim/cam01..cam04.mp4 in video mode: static_image_mode=False, smooth_landmarks=False (the
  detector runs only until a person is found, then the landmarks of frame t give the region of interest of frame t+1);
- every frame of the same videos again in static mode (detector + landmarks on every frame): the detector+landmarks
  timing, and results stored as the clips camNN_static of the full file.

Output (--out, a compressed .npz, all floats float32) holds, for each clip name C in `clips`:
    C/frame_index      int32 [F]          frame numbers in the source (0 for a photo)
    C/found            bool [F]           mediapipe returned a pose for that frame
    C/image_landmarks  float32 [F, 33, 5] x, y in PIXELS of the decoded frame (x*W, y*H); z as mediapipe returns it
                                          (same scale as the normalised x, i.e. z*W is pixels; smaller = nearer);
                                          visibility; presence (NaN: mediapipe's Pose solution does not report it)
    C/world_landmarks  float32 [F, 33, 3] metres, hip-centred, camera-aligned axes (mediapipe's world landmarks)
    C/image_size       int32 [2]          width, height of the decoded frames
    C/process_ms       float32 [F]        wall time of Pose.process() for that frame (RGB conversion not included)
    C/frame_sha1       str [F]            first 16 hex digits of sha1 of the decoded BGR frame (decoder check)
NaN everywhere in a frame where no person was found. `metadata` is a JSON string: versions, settings per clip, source
sha256s, the sha256 of mediapipe's .tflite models, column names and the timing summary. The timing summary is also
written beside --out as <out>.json.

--fixture writes the small committed test fixture: both photos and every 5th frame (--fixture-stride) of cam01 and
cam03 from the video-mode run, with the same layout and metadata.

Timing: single process on this machine (2 cores), time.perf_counter around Pose.process() only. Static photos: one
warm-up call, then --repeats calls per photo. Static video frames: one warm-up frame, then every frame of the 4 videos.
Video mode: a fresh Pose object per video; "tracked" frames are those whose previous frame had a pose (the detector
does not run), the first frame of each video (graph start + detector) is reported apart.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

N_LANDMARKS = 33
IMAGE_COLUMNS = ["x_px", "y_px", "z", "visibility", "presence"]
WORLD_COLUMNS = ["x_m", "y_m", "z_m"]

# Every constructor argument of mp.solutions.pose.Pose, spelled out so the record does not depend on its defaults.
STATIC_SETTINGS = {"static_image_mode": True, "model_complexity": 1, "smooth_landmarks": True,
                   "enable_segmentation": False, "smooth_segmentation": True, "min_detection_confidence": 0.5,
                   "min_tracking_confidence": 0.5}
VIDEO_SETTINGS = {"static_image_mode": False, "model_complexity": 1, "smooth_landmarks": False,
                  "enable_segmentation": False, "smooth_segmentation": True, "min_detection_confidence": 0.5,
                  "min_tracking_confidence": 0.5}

PHOTOS = {"messi5": "opencv/messi5.jpg", "basketball1": "opencv/basketball1.png"}
VIDEOS = {f"cam0{i}": f"pose2sim/cam0{i}.mp4" for i in range(1, 5)}
FIXTURE_PHOTOS = ["messi5", "basketball1"]
FIXTURE_VIDEOS = ["cam01", "cam03"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _frame_sha1(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()[:16]


def _landmarks(result, width: int, height: int) -> tuple[bool, np.ndarray, np.ndarray]:
    image = np.full((N_LANDMARKS, len(IMAGE_COLUMNS)), np.nan, np.float32)
    world = np.full((N_LANDMARKS, len(WORLD_COLUMNS)), np.nan, np.float32)
    if result.pose_landmarks is None:
        return False, image, world
    for i, lm in enumerate(result.pose_landmarks.landmark):
        presence = lm.presence if lm.HasField("presence") else np.nan
        image[i] = (lm.x * width, lm.y * height, lm.z, lm.visibility, presence)
    if result.pose_world_landmarks is not None:
        for i, lm in enumerate(result.pose_world_landmarks.landmark):
            world[i] = (lm.x, lm.y, lm.z)
    return True, image, world


class _Clip:
    """Per-frame results of one source run in one mode."""

    def __init__(self, width: int, height: int):
        self.image_size = np.array([width, height], np.int32)
        self.frame_index: list[int] = []
        self.found: list[bool] = []
        self.image: list[np.ndarray] = []
        self.world: list[np.ndarray] = []
        self.ms: list[float] = []
        self.sha1: list[str] = []

    def add(self, index: int, frame_bgr: np.ndarray, result, ms: float) -> None:
        found, image, world = _landmarks(result, int(self.image_size[0]), int(self.image_size[1]))
        self.frame_index.append(index)
        self.found.append(found)
        self.image.append(image)
        self.world.append(world)
        self.ms.append(ms)
        self.sha1.append(_frame_sha1(frame_bgr))

    def arrays(self, name: str, keep: slice | None = None) -> dict[str, np.ndarray]:
        keep = keep or slice(None)
        return {
            f"{name}/frame_index": np.asarray(self.frame_index, np.int32)[keep],
            f"{name}/found": np.asarray(self.found, bool)[keep],
            f"{name}/image_landmarks": np.stack(self.image).astype(np.float32)[keep],
            f"{name}/world_landmarks": np.stack(self.world).astype(np.float32)[keep],
            f"{name}/image_size": self.image_size,
            f"{name}/process_ms": np.asarray(self.ms, np.float32)[keep],
            f"{name}/frame_sha1": np.asarray(self.sha1, dtype="<U16")[keep],
        }


def _read_video(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open video {path}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if not frames:
        raise RuntimeError(f"no frames decoded from {path}")
    return frames, fps


def _process(pose, frame_bgr: np.ndarray):
    import cv2

    rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    rgb.flags.writeable = False
    start = time.perf_counter()
    result = pose.process(rgb)
    return result, (time.perf_counter() - start) * 1e3


def _summary(ms: list[float]) -> dict:
    if not ms:
        return {"frames": 0}
    q = np.percentile(ms, [10, 90])
    return {"frames": len(ms), "median_ms": round(statistics.median(ms), 2), "p10_ms": round(float(q[0]), 2),
            "p90_ms": round(float(q[1]), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)}


def _model_hashes(mp) -> dict[str, str]:
    root = Path(mp.__file__).parent / "modules"
    files = ["pose_detection/pose_detection.tflite", "pose_landmark/pose_landmark_full.tflite"]
    return {f: _sha256(root / f) for f in files if (root / f).is_file()}


def _run_photos(pose_class, footage: Path, repeats: int, clips: dict, info: dict, timing: dict) -> None:
    """Photos, static mode. The stored result is the first (post warm-up) call; repeats only time it."""
    import cv2

    photo_ms: list[float] = []
    with pose_class(**STATIC_SETTINGS) as pose:
        for name, rel in PHOTOS.items():
            frame = cv2.imread(str(footage / rel), cv2.IMREAD_COLOR)
            if frame is None:
                raise RuntimeError(f"cannot read image {footage / rel}")
            _process(pose, frame)  # warm-up (graph start, first inference)
            clip = clips[name] = _Clip(frame.shape[1], frame.shape[0])
            result, ms = _process(pose, frame)
            clip.add(0, frame, result, ms)
            times = [ms] + [_process(pose, frame)[1] for _ in range(repeats - 1)]
            photo_ms += times
            timing[f"static_photo_{name}"] = _summary(times)
            info[name] = {"source": rel, "sha256": _sha256(footage / rel), "mode": "static_image",
                          "settings": STATIC_SETTINGS, "frames_total": 1, "stride": 1}
    timing["static_photos"] = _summary(photo_ms)


def _run_videos_static(pose_class, footage: Path, videos: dict, clips: dict, info: dict, timing: dict) -> None:
    """Videos, static mode: detector + landmarks on every frame."""
    static_ms: list[float] = []
    with pose_class(**STATIC_SETTINGS) as pose:
        _process(pose, videos["cam01"][0][0])  # warm-up
        for name, (frames, fps) in videos.items():
            clip = clips[f"{name}_static"] = _Clip(frames[0].shape[1], frames[0].shape[0])
            for i, frame in enumerate(frames):
                result, ms = _process(pose, frame)
                clip.add(i, frame, result, ms)
            static_ms += clip.ms
            info[f"{name}_static"] = {"source": VIDEOS[name], "sha256": _sha256(footage / VIDEOS[name]),
                                      "mode": "static_image", "settings": STATIC_SETTINGS, "fps": fps,
                                      "frames_total": len(frames), "stride": 1}
    timing["static_video_frames"] = _summary(static_ms)


def _run_videos_tracking(pose_class, footage: Path, videos: dict, clips: dict, info: dict, timing: dict) -> None:
    """Videos, video mode (tracking), a fresh graph per video as a camera stream would have."""
    tracked_ms: list[float] = []
    redetect_ms: list[float] = []
    first_ms: list[float] = []
    for name, (frames, fps) in videos.items():
        clip = clips[name] = _Clip(frames[0].shape[1], frames[0].shape[0])
        with pose_class(**VIDEO_SETTINGS) as pose:
            for i, frame in enumerate(frames):
                result, ms = _process(pose, frame)
                clip.add(i, frame, result, ms)
        first_ms.append(clip.ms[0])
        for i in range(1, len(frames)):
            (tracked_ms if clip.found[i - 1] else redetect_ms).append(clip.ms[i])
        info[name] = {"source": VIDEOS[name], "sha256": _sha256(footage / VIDEOS[name]), "mode": "video",
                      "settings": VIDEO_SETTINGS, "fps": fps, "frames_total": len(frames), "stride": 1}
    timing["video_tracked_frames"] = _summary(tracked_ms)
    timing["video_redetect_frames"] = _summary(redetect_ms)
    timing["video_first_frame"] = _summary(first_ms)


def _metadata(mp, cv2, clips: dict[str, _Clip], info: dict, timing: dict, repeats: int) -> dict:
    """Versions, machine, model hashes, column names, timing method and summary, and the per-clip records."""
    return {
        "generator": "benchmarks/mediapipe_reference.py",
        "generated_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "mediapipe_version": mp.__version__,
        "opencv_version": cv2.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "mediapipe_models_sha256": _model_hashes(mp),
        "solution": "mediapipe.solutions.pose.Pose (BlazePose GHUM full, model_complexity=1)",
        "image_landmark_columns": IMAGE_COLUMNS,
        "world_landmark_columns": WORLD_COLUMNS,
        "presence_reported": any(not np.isnan(c.image[0][:, 4]).all() for c in clips.values() if c.found[0]),
        "z_note": "z as returned by mediapipe: same scale as x normalised by image width (z*W = pixels)",
        "decoder": f"cv2.VideoCapture / cv2.imread (opencv {cv2.__version__}), BGR converted to RGB for mediapipe",
        "timing_method": ("time.perf_counter around Pose.process() in one process, RGB conversion excluded; "
                          f"{os.cpu_count()} CPU cores; photos: 1 warm-up + {repeats} calls each; static video "
                          "frames: 1 warm-up then every frame; video mode: fresh Pose per video, tracked = previous "
                          "frame had a pose"),
        "timing": timing,
        "clips": info,
    }


def run(footage: Path, repeats: int) -> tuple[dict[str, _Clip], dict]:
    """Run mediapipe on all footage; return the clips and the metadata (with the timing summary)."""
    import cv2
    import mediapipe as mp

    missing = [p for p in [*PHOTOS.values(), *VIDEOS.values()] if not (footage / p).is_file()]
    if missing:
        raise FileNotFoundError(f"missing in {footage}: {', '.join(missing)} (run scripts/fetch_footage.sh first)")

    Pose = mp.solutions.pose.Pose
    clips: dict[str, _Clip] = {}
    info: dict[str, dict] = {}
    timing: dict[str, dict] = {}
    _run_photos(Pose, footage, repeats, clips, info, timing)
    videos = {name: _read_video(footage / rel) for name, rel in VIDEOS.items()}
    _run_videos_static(Pose, footage, videos, clips, info, timing)
    _run_videos_tracking(Pose, footage, videos, clips, info, timing)

    for name, clip in clips.items():
        info[name]["frames_without_pose"] = [i for i, f in zip(clip.frame_index, clip.found) if not f]
    return clips, _metadata(mp, cv2, clips, info, timing, repeats)


def _save(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, clips=np.asarray(sorted(meta["clips"])),
                        metadata=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
    os.replace(tmp, path)


def write_full(path: Path, clips: dict[str, _Clip], meta: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, clip in clips.items():
        arrays.update(clip.arrays(name))
    _save(path, arrays, meta)
    timing_path = path.with_suffix(".json")
    summary = {k: meta[k] for k in ("mediapipe_version", "opencv_version", "python_version", "platform", "cpu_count",
                                    "timing_method", "timing", "generated_utc")}
    summary["settings"] = {"static": STATIC_SETTINGS, "video": VIDEO_SETTINGS}
    timing_path.write_text(json.dumps(summary, indent=2) + "\n")


def write_fixture(path: Path, clips: dict[str, _Clip], meta: dict, stride: int) -> None:
    arrays: dict[str, np.ndarray] = {}
    info = {}
    for name in FIXTURE_PHOTOS:
        arrays.update(clips[name].arrays(name))
        info[name] = meta["clips"][name]
    for name in FIXTURE_VIDEOS:
        arrays.update(clips[name].arrays(name, slice(None, None, stride)))
        info[name] = dict(meta["clips"][name], stride=stride)
    _save(path, arrays, dict(meta, clips=info, fixture_of="video-mode run of every frame, every "
                             f"{stride}th frame kept; photos in static mode"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, default=Path("build/footage"),
                        help="directory written by scripts/fetch_footage.sh (default: build/footage)")
    parser.add_argument("--out", type=Path, required=True, help="full reference .npz (timing JSON written beside)")
    parser.add_argument("--fixture", type=Path, help="also write the small test fixture here")
    parser.add_argument("--fixture-stride", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per photo in static mode")
    args = parser.parse_args()
    if args.repeats < 1 or args.fixture_stride < 1:
        parser.error("--repeats and --fixture-stride must be >= 1")

    clips, meta = run(args.footage, args.repeats)
    write_full(args.out, clips, meta)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) and {args.out.with_suffix('.json')}")
    if args.fixture:
        write_fixture(args.fixture, clips, meta, args.fixture_stride)
        print(f"wrote {args.fixture} ({args.fixture.stat().st_size} bytes)")
    print(json.dumps(meta["timing"], indent=2))
    for name, c in meta["clips"].items():
        if c["frames_without_pose"]:
            print(f"{name}: no pose in frames {c['frames_without_pose']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
