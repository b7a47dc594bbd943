"""The pose estimator: a frame in, the people in it out (2D keypoints, 3D world keypoints where the model has them,
track ids), with keypoint smoothing per track.

`open_estimator(spec)` is the one entry point: the offline BlazePose default from the models directory, or a
model of your own (ONNX or TensorRT) read through one of the adapters (`edge.pose.adapters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.pose.types import Person

# People tracked in one frame, at most: a workstation camera sees a few; every one costs a pose inference per frame.
MAX_PEOPLE = 32
# BlazePose's precisions: fp32 is what set-up converts; fp16 and int8 are what `ergoedge calibrate-pose` writes
# beside it (`<model>_fp16.onnx`, `<model>_int8.onnx`, and `<model>_int8_trt.onnx`, the form TensorRT takes).
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class EstimatorSpec:
    """Which estimator to build. `model` None means the offline BlazePose default from the models directory."""

    model: str | None = None
    adapter: str | None = None  # for a user model: yolo-pose, rtmpose or rtmo
    backend: str = "auto"  # auto, onnxruntime, openvino or tensorrt
    models_dir: str | None = None
    max_people: int = 1  # 1..MAX_PEOPLE
    smoothing: bool = True
    precision: str = "fp32"  # of the BlazePose default: fp32, fp16 or int8 (PRECISIONS)
    # Person masks (`Person.mask`) from BlazePose's segmentation output; costs landmark time. Adapters give none.
    segmentation: bool = False

    def __post_init__(self) -> None:
        check_number(self.max_people, "max_people", integer=True, minimum=1, maximum=MAX_PEOPLE)
        if self.precision not in PRECISIONS:
            raise InputError(f"pose.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


class Estimator:
    """frame (BGR uint8) -> people, with optional keypoint smoothing per track.

    layout: the skeleton layout of every person it returns. keypoints_3d: whether the model gives metric world
    keypoints (`Person.world`); without them, scoring works on image-plane keypoints (`edge.pose.lifting`).
    """

    def __init__(self, detect, layout: str, smoothing: bool, runtime: str = "", keypoints_3d: bool = False):
        self._detect = detect
        self.model = detect  # what finds people: the BlazePose pipeline itself for the default (its stages timed
        # apart by `ergoedge bench`), or an adapter with its tracker
        self.layout = layout
        self.keypoints_3d = keypoints_3d
        self.smoothing = smoothing
        self.runtime = runtime  # what runs the model, e.g. "OpenVINO:CPU" or "CPUExecutionProvider"
        self._filters: dict[int, object] = {}

    def reset(self) -> None:
        if hasattr(self._detect, "reset"):
            self._detect.reset()
        self._filters.clear()

    def __call__(self, frame_bgr: np.ndarray, time_s: float) -> list[Person]:
        people = self._detect(frame_bgr)
        if not self.smoothing:
            return people
        from edge.pose.filters import KeypointFilter

        smoothed = []
        for person in people:
            filt = self._filters.setdefault(person.track_id, KeypointFilter())
            smoothed.append(filt(person, time_s))
        seen = {p.track_id for p in people}
        for track_id in list(self._filters):
            if track_id not in seen:
                del self._filters[track_id]
        return smoothed


def blazepose_file(name: str, spec: EstimatorSpec) -> Path:
    """The BlazePose model file `name` at `spec.precision`: the checked FP32 file of the models directory, or the
    FP16/INT8 one `ergoedge calibrate-pose` wrote beside it, checked against the sha256 of its manifest. INT8 where
    TensorRT will run it is the TensorRT form (symmetric activations); the CPU form with int8 weights is refused on
    a CPU where they saturate (edge.device.int8_weights_saturate)."""
    from edge.artifacts import model_path, models_dir, read_sidecar, sha256_file
    from edge.device import cpu_facts, int8_weights_saturate

    if spec.precision == "fp32":
        return model_path(name, spec.models_dir)
    suffix = spec.precision
    if spec.precision == "int8" and _tensorrt_runs(spec.backend):
        suffix = "int8_trt"
    path = models_dir(spec.models_dir) / f"{name}_{suffix}.onnx"
    hint = f"ergoedge calibrate-pose --footage DIR --out {path.parent} makes it"
    manifest = read_sidecar(path, hint)
    if not path.is_file() or manifest.get("onnx_sha256") != sha256_file(path):
        raise InputError(f"{path} does not match its manifest ({hint} again)")
    # Manifests written before the weight type was recorded had int8 weights.
    if suffix == "int8" and manifest.get("weight_type", "int8") == "int8" and int8_weights_saturate(*cpu_facts()):
        raise InputError(f"{path} has int8 weights, which this CPU (x86 without VNNI) sums with saturation: its "
                         f"landmarks would be wrong; {hint} on this machine (uint8 weights here), or use precision "
                         f"fp32")
    return path


def _tensorrt_runs(backend: str) -> bool:
    if backend == "tensorrt":
        return True
    if backend != "auto":
        return False
    from edge.inference.engine_cache import tensorrt_unusable

    return tensorrt_unusable() is None


def open_estimator(spec: EstimatorSpec = EstimatorSpec()) -> Estimator:
    from edge.inference.backends import open_backend

    if spec.model is None:
        from edge.pose.blazepose import BlazePose, BlazePoseConfig

        detector = open_backend(blazepose_file("pose_detection", spec), spec.backend)
        landmarks = open_backend(blazepose_file("pose_landmark_full", spec), spec.backend)
        pose = BlazePose(detector, landmarks, BlazePoseConfig(max_people=spec.max_people,
                                                                   segmentation=spec.segmentation))
        return Estimator(pose, "blazepose33", spec.smoothing, runtime=landmarks.provider, keypoints_3d=True)
    from edge.pose.adapters.registry import ADAPTERS
    from edge.pose.tracking import IouTracker

    if not Path(spec.model).is_file():
        raise InputError(f"no such model file: {spec.model}")
    if spec.adapter not in ADAPTERS:
        raise InputError(f"a model file needs --adapter, one of: {', '.join(ADAPTERS)}")
    backend = open_backend(spec.model, spec.backend)
    adapter, tracker = ADAPTERS[spec.adapter].build(backend, spec.max_people), IouTracker()

    def detect(frame):
        return tracker(adapter(frame))

    detect.reset = tracker.reset
    return Estimator(detect, "coco17", spec.smoothing, runtime=backend.provider)
