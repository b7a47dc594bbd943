"""Calibration data for the BlazePose models from real video: the detector's and the landmark model's inputs exactly
as `ergoedge run` makes them.

The FP32 pipeline (`edge.pose.blazepose.BlazePose` on ONNX Runtime) runs over every frame of each clip, as the run
does, so that each landmark crop comes from the ROI the run would have tracked there (detector ROI on the first
frame, then the smoothed alignment points of the previous frame). The models' backends are wrapped by a recorder
that keeps a copy of what BlazePose itself feeds them: the letterbox/normalisation and the rotated ROI warp are not
re-implemented here, so they cannot drift from the run. The detector's input is recorded by calling the pipeline's
own `detect` on the sampled frames (during tracking the run skips the detector, and a detector calibrated only on
first frames would see 4 images).

    pose = read_pose_frames(FrameSpec())          # -> PoseFrames
    pose.landmarks, pose.detector                 # CalibrationSet each
    pose.held_out                                 # HeldOut: other clips/frames, with each crop's ROI and affine

Default split: pose2sim cam01-cam03 and the first 60% of vtest.avi calibrate; pose2sim cam04 (a view never seen in
calibration) and the last 40% of vtest.avi are held out for accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calibration.readers import CalibrationSet, calibration_set
from edge.errors import InputError


def _default_footage() -> str:
    return str(Path(__file__).resolve().parents[1] / "build" / "footage")


@dataclass(frozen=True)
class ClipRange:
    """Frames [start, stop) of one clip, as fractions of its length, sampled every `every` frames."""

    path: str  # relative to FrameSpec.footage, or absolute
    start: float = 0.0
    stop: float = 1.0
    every: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.start < self.stop <= 1.0:
            raise InputError(f"{self.path}: frame range {self.start}..{self.stop} is not within 0..1")
        if self.every < 1:
            raise InputError(f"{self.path}: every must be at least 1, got {self.every}")


_CALIBRATION = (
    ClipRange("pose2sim/cam01.mp4"), ClipRange("pose2sim/cam02.mp4"), ClipRange("pose2sim/cam03.mp4"),
    ClipRange("opencv/vtest.avi", 0.0, 0.6, every=4),
)
_HELD_OUT = (ClipRange("pose2sim/cam04.mp4"), ClipRange("opencv/vtest.avi", 0.6, 1.0, every=4))


@dataclass(frozen=True)
class FrameSpec:
    """What to read. Calibration and held-out ranges must not overlap (checked)."""

    footage: str = field(default_factory=_default_footage)
    calibration: tuple[ClipRange, ...] = _CALIBRATION
    held_out: tuple[ClipRange, ...] = _HELD_OUT
    models_dir: str | None = None
    max_people: int = 1  # the run's default; more gives more crops from crowded clips
    threads: int = 2

    def __post_init__(self) -> None:
        for a in self.calibration:
            for b in self.held_out:
                if a.path == b.path and a.start < b.stop and b.start < a.stop:
                    raise InputError(f"{a.path}: calibration frames {a.start}..{a.stop} overlap the held-out "
                                     f"frames {b.start}..{b.stop}")


@dataclass(frozen=True)
class HeldOut:
    """Held-out inputs for accuracy: landmark crops with where they came from, and detector inputs."""

    landmark_feeds: list  # [{input name: (1, 256, 256, 3) float32}]
    to_frame: np.ndarray  # (N, 2, 3) crop pixels -> frame pixels, one per landmark feed
    landmark_origin: list  # [(clip, frame index)] per landmark feed
    detector_feeds: list  # [{input name: (1, 224, 224, 3) float32}]
    detector_origin: list


@dataclass(frozen=True)
class PoseFrames:
    detector: CalibrationSet
    landmarks: CalibrationSet
    held_out: HeldOut


class _Recorder:
    """An inference backend that keeps a copy of each input it is given, then runs the real one."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.input_specs, self.output_specs = backend.input_specs, backend.output_specs
        self.output_names = backend.output_names
        self.provider = getattr(backend, "provider", "")
        self.recording: list[dict[str, np.ndarray]] | None = None

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.recording is not None:
            self.recording.append({k: np.array(v, copy=True) for k, v in inputs.items()})
        return self.backend.infer(inputs)

    def use_outputs(self, names) -> None:
        if hasattr(self.backend, "use_outputs"):
            self.backend.use_outputs(names)
        self.output_names = self.backend.output_names


@dataclass
class _Taken:
    det: list = field(default_factory=list)
    det_origin: list = field(default_factory=list)
    lm: list = field(default_factory=list)
    lm_origin: list = field(default_factory=list)
    affines: list = field(default_factory=list)


def _pipeline(spec: FrameSpec):
    from edge.artifacts import model_path
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import BlazePose, BlazePoseConfig

    det = _Recorder(OrtBackend(model_path("pose_detection", spec.models_dir), intra_op_threads=spec.threads))
    lm = _Recorder(OrtBackend(model_path("pose_landmark_full", spec.models_dir), intra_op_threads=spec.threads))
    return BlazePose(det, lm, BlazePoseConfig(max_people=spec.max_people)), det, lm


def _frame_count(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def _read_clip(pose, det, lm, spec: FrameSpec, clip: ClipRange, taken: _Taken) -> None:
    """Run the tracked FP32 pipeline over the whole clip (ROIs depend on every earlier frame); keep the inputs of
    the sampled frames in the range."""
    from edge.pose.blazepose import crop_roi
    from edge.pose.frames import video_frames

    path = Path(clip.path) if Path(clip.path).is_absolute() else Path(spec.footage) / clip.path
    if not path.is_file():
        raise InputError(f"calibration footage not found: {path} (scripts/fetch_footage.sh fetches it)")
    total = _frame_count(path)
    first, last = round(clip.start * total), round(clip.stop * total)
    pose.reset()
    original = pose.landmarks_in
    rois: list = []

    def landmarks_in(frame, roi):  # the ROI of each landmark call, to map crops back to the frame
        rois.append(roi)
        return original(frame, roi)

    pose.landmarks_in = landmarks_in
    try:
        for index, time_s, frame, _fps in video_frames(path):
            if index >= last:
                break
            sampled = index >= first and (index - first) % clip.every == 0
            lm.recording, rois[:] = ([] if sampled else None), []
            pose(frame, time_s)
            if not sampled:
                continue
            for feed, roi in zip(lm.recording, rois):
                taken.lm.append(feed)
                taken.lm_origin.append((clip.path, index))
                taken.affines.append(crop_roi(frame[:2, :2], roi, 256)[1])  # the affine needs no pixels
            det.recording = []
            pose.detect(frame)
            taken.det.extend(det.recording)
            taken.det_origin.append((clip.path, index))
            det.recording = None
    finally:
        lm.recording = det.recording = None
        del pose.landmarks_in


def _calibration_set(feeds: list, ranges: tuple[ClipRange, ...], what: str) -> CalibrationSet:
    clips = ", ".join(f"{r.path}[{r.start:g}:{r.stop:g}:{r.every}]" for r in ranges)
    # The skeleton reader's digest (sha256 over each feed's names, dtypes, shapes and bytes, in order).
    return calibration_set(feeds, f"BlazePose {what} inputs from the FP32 run over {clips}: {len(feeds)} samples")


def read_pose_frames(spec: FrameSpec = FrameSpec()) -> PoseFrames:
    """Calibration sets for the detector and the landmark model, and the held-out inputs (see the module doc)."""
    pose, det, lm = _pipeline(spec)
    calib, held = _Taken(), _Taken()
    for clip in spec.calibration:
        _read_clip(pose, det, lm, spec, clip, calib)
    for clip in spec.held_out:
        _read_clip(pose, det, lm, spec, clip, held)
    if not calib.lm or not held.lm:
        raise InputError("no person was found in the calibration or held-out footage: no landmark crops to use")
    return PoseFrames(
        detector=_calibration_set(calib.det, spec.calibration, "detector"),
        landmarks=_calibration_set(calib.lm, spec.calibration, "landmark model"),
        held_out=HeldOut(landmark_feeds=held.lm, to_frame=np.array(held.affines), landmark_origin=held.lm_origin,
                         detector_feeds=held.det, detector_origin=held.det_origin),
    )


__all__ = ["ClipRange", "FrameSpec", "HeldOut", "PoseFrames", "read_pose_frames"]
