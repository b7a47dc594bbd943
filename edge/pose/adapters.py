"""Adapters for pose models users bring as ONNX (or TensorRT) files: frame -> list[Person].

Each adapter is ``Adapter(backend, config)`` and ``adapter(frame_bgr) -> list[Person]``; the frame is an HxWx3
uint8 BGR image, people come back in the original frame's pixels, highest score first, with `layout` set from the
config (COCO-17 by default). The backend is anything with the `InferenceBackend` interface (`open_backend(path)`).
At construction the adapter checks the model's input/output names and the shapes the model declares against the
contract below and raises `InputError` naming the mismatch; shapes the model leaves dynamic are checked on the
first frames instead. A model with float16 inputs gets float16 tensors; outputs are read as float32.

Coordinates follow the continuous convention of Ultralytics and MMPose: a point at x in the resized image is
x / scale in the original (pixel i covers [i, i + 1)). Keypoint scores are clipped to [0, 1].

Contracts
---------
YOLO-pose (Ultralytics export, multi-person), `YoloPoseAdapter`:
    input  ``images``  [1, 3, H, W] float32, RGB, 0..1, letterboxed: resized keeping aspect, centred, padded with
           114/255. H, W come from the model; a dynamic model uses `input_size` or 640x640.
    output ``output0`` [1, 5 + 3J, N] (or the transposed [1, N, 5 + 3J]); per candidate: cx, cy, w, h, person
           score (already sigmoid), then J x (x, y, conf), all in input pixels. J = 17 for COCO (56 channels).
    decode: score >= score_threshold, class-agnostic NMS (IoU iou_threshold), keep max_people, undo the
           letterbox, clip boxes and keypoints to the frame. Exports with NMS built in ([1, 300, 57], "end2end")
           do not match this contract and are refused.
RTMPose (MMPose top-down export, SimCC), `RTMPoseAdapter`:
    input  ``input``   [B, 3, H, W] float32 with (H, W) = input_size, default (256, 192); RGB normalised with
           mean (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375). B is 1, fixed, or dynamic (then up to
           max_batch people go in one call; a fixed B > 1 is filled with zero crops).
    outputs ``simcc_x`` [B, J, W * split_ratio], ``simcc_y`` [B, J, H * split_ratio], split_ratio 2.0.
    person boxes: from the optional `detector` (any callable frame -> (M, 4) x1, y1, x2, y2 or (M, 5) with a
           score column), else the whole frame. Box -> centre and scale (box size x padding 1.25, widened or
           heightened to the input's aspect W/H), affine warp of that region to W x H (no rotation, zero border).
    decode: keypoint = argmax / split_ratio in input pixels, mapped back with the inverse affine. Keypoint score
           = the smaller of the x and y maxima (`score_mode="min"`, what MMPose's `get_simcc_maximum` computes
           although its comment says "maximum"); "mean" and "max" are available. Raw SimCC maxima can exceed 1
           (no softmax in the export), hence the clip. Person box and score are the detector's (1.0 without one).
RTMO (MMPose one-stage export), `RTMOAdapter`:
    input  ``input``   [1, 3, 640, 640] float32, BGR, 0..255, no normalisation (the config's data preprocessor
           has mean 0, std 1 and no BGR->RGB), letterboxed with pad 114. ASSUMPTION: MMPose's BottomupResize
           centres the image (its warp maps the image centre to the input centre), while rtmlib-style runners put it
           in the top-left corner; `pad_mode` ("center" | "top_left"), `pad_value` and `channel_order`
           ("bgr" | "rgb") are configurable for exports that differ.
    outputs ``dets`` [1, N, 5] (x1, y1, x2, y2, score) and ``keypoints`` [1, N, J, 3] (x, y, score), input pixels.
    decode: score >= score_threshold, optional box NMS (nms_iou 0.65, MMPose's test-time value; a no-op when the
           export already ran NMS), keep max_people, undo the letterbox, clip to the frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.pose.types import Person
from edge.skeletons import get_layout

__all__ = [
    "ADAPTERS", "Letterbox", "RTMOAdapter", "RTMOConfig", "RTMPoseAdapter", "RTMPoseConfig", "YoloPoseAdapter",
    "YoloPoseConfig", "letterbox", "nms",
]

Detector = Callable[[np.ndarray], Any]

# Candidates kept for NMS after thresholding: a bound on the O(K^2) cost when a threshold is set very low.
_MAX_NMS_CANDIDATES = 1000


# ----------------------------------------------------------------------------------------------- shared helpers

def _fmt(shape: tuple | None) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]" if shape is not None else "unknown"


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if (not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8
            or frame.shape[0] < 1 or frame.shape[1] < 1):
        got = f"shape {getattr(frame, 'shape', None)}, dtype {getattr(frame, 'dtype', type(frame).__name__)}"
        raise InputError(f"expected an HxWx3 uint8 BGR frame, got {got}")
    return frame


def _check_size(size: tuple[int, int] | None, what: str) -> None:
    if size is None:
        return
    if len(size) != 2 or any(int(v) != v or v < 1 for v in size):
        raise InputError(f"{what}: input_size must be (height, width) in positive pixels, got {size!r}")


def _num_joints(layout: str) -> int:
    return get_layout(layout).num_joints  # unknown layout -> InputError naming the choices


def _image_input(backend: InferenceBackend, name: str, label: str) -> tuple[tuple[int | None, ...], np.dtype]:
    """The (shape, dtype) of the model's single NCHW image input, checked."""
    specs = backend.input_specs
    if name not in specs:
        raise InputError(f"{label} model: no input named {name!r}; the model has {sorted(specs)} "
                         "(set input_name in the config if the export renamed it)")
    if len(specs) != 1:
        raise InputError(f"{label} model: expected one input {name!r}, the model has {sorted(specs)}")
    shape, dtype = specs[name]
    if len(shape) != 4 or shape[1] not in (None, 3):
        raise InputError(f"{label} model: input {name!r} has shape {_fmt(shape)}, expected [N, 3, H, W]")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise InputError(f"{label} model: input {name!r} has dtype {np.dtype(dtype)}, expected float32 or float16")
    return tuple(shape), np.dtype(dtype)


def _input_hw(shape: tuple, wanted: tuple[int, int], name: str, label: str, hint: str) -> tuple[int, int]:
    """Check that the model's fixed H, W equal `wanted`; dynamic dimensions accept it."""
    for axis, want in zip((2, 3), wanted):
        if shape[axis] is not None and shape[axis] != want:
            raise InputError(f"{label} model: input {name!r} has shape {_fmt(shape)}, expected "
                             f"[{_fmt(shape[:1])[1:-1]}, 3, {wanted[0]}, {wanted[1]}]{hint}")
    return int(wanted[0]), int(wanted[1])


def _require_batch_one(shape: tuple, name: str, label: str) -> None:
    if shape[0] not in (None, 1):
        raise InputError(f"{label} model: input {name!r} has batch {shape[0]}, expected 1 (or dynamic)")


def _output_shapes(backend: InferenceBackend, names: tuple[str, ...], label: str) -> list[tuple | None]:
    missing = [n for n in names if n not in backend.output_names]
    if missing:
        raise InputError(f"{label} model: missing output(s) {missing}; the model has {list(backend.output_names)} "
                         "(set the output names in the config if the export renamed them)")
    specs = getattr(backend, "output_specs", {}) or {}
    return [tuple(specs[n][0]) if n in specs else None for n in names]


def _dims_ok(shape: tuple | None, expected: tuple) -> bool:
    """True when `shape` (None entries: unknown) can equal `expected` (None entries: anything)."""
    if shape is None:
        return True
    return len(shape) == len(expected) and all(
        d is None or e is None or d == e for d, e in zip(shape, expected))


def _to_tensor(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(B, H, W, 3) float32 -> (B, 3, H, W) contiguous in the model's dtype."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=dtype)


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed into the model input: input = original * scale + pad."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) input-pixel points back to the original frame."""
        xy = np.asarray(xy, dtype=np.float32)
        return (xy - np.float32([self.pad_x, self.pad_y])) / np.float32([self.scale_x, self.scale_y])


def letterbox(frame: np.ndarray, size_hw: tuple[int, int], pad_value: int = 114,
              center: bool = True) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio to fit `size_hw`, pad the rest with `pad_value` (uint8 in, uint8 out).

    centre=True splits the padding between both sides (the smaller half on top/left, as Ultralytics does);
    centre=False puts the image in the top-left corner.
    """
    import cv2

    h, w = frame.shape[:2]
    height, width = int(size_hw[0]), int(size_hw[1])
    ratio = min(height / h, width / w)
    new_w, new_h = min(width, max(1, round(w * ratio))), min(height, max(1, round(h * ratio)))
    if (new_w, new_h) != (w, h):
        frame = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = ((width - new_w) // 2, (height - new_h) // 2) if center else (0, 0)
    out = np.full((height, width, 3), pad_value, dtype=np.uint8)
    out[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = frame
    # Per-axis scales: rounding the resized size makes them differ slightly from `ratio`, and cv2.resize uses these.
    return out, Letterbox(new_w / w, new_h / h, float(pad_x), float(pad_y))


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of kept boxes (x1, y1, x2, y2), highest score first.

    A box is dropped when its IoU with an already kept, higher-scoring box exceeds `iou_threshold`.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.shape[0] != scores.shape[0]:
        raise InputError(f"nms: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iw = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = iw * ih
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def _select(boxes: np.ndarray, scores: np.ndarray, threshold: float, iou: float | None, max_people: int) -> np.ndarray:
    """Indices that pass the score threshold, survive NMS and fit in max_people, best first."""
    idx = np.flatnonzero(np.isfinite(scores) & (scores >= threshold) & np.isfinite(boxes).all(axis=1))
    if idx.size > _MAX_NMS_CANDIDATES:
        idx = idx[np.argsort(-scores[idx], kind="stable")[:_MAX_NMS_CANDIDATES]]
    if iou is None:
        chosen = idx[np.argsort(-scores[idx], kind="stable")]
    else:
        chosen = idx[nms(boxes[idx], scores[idx], iou)]
    return chosen[:max_people]


def _people(boxes: np.ndarray, scores: np.ndarray, kpts: np.ndarray, lb: Letterbox, frame_hw: tuple[int, int],
            layout: str) -> list[Person]:
    """Input-pixel boxes (P, 4) and keypoints (P, J, 3) -> Person list in the original frame, clipped."""
    h, w = frame_hw
    lim = np.float32([w, h])
    box_xy = np.clip(lb.to_original(boxes.reshape(-1, 2, 2)), 0, lim).reshape(-1, 4)
    kxy = np.clip(lb.to_original(kpts[..., :2]), 0, lim)
    ksc = np.clip(np.nan_to_num(kpts[..., 2], nan=0.0), 0.0, 1.0)
    return [Person(keypoints=kxy[i], scores=ksc[i], layout=layout, box=box_xy[i], score=float(scores[i]))
            for i in range(len(scores))]


def _check_common(what: str, max_people: int, thresholds: dict[str, float | None],
                  pad_value: int | None = None) -> None:
    if int(max_people) != max_people or max_people < 1:
        raise InputError(f"{what}: max_people must be a positive integer, got {max_people!r}")
    for key, value in thresholds.items():
        if value is not None and not 0.0 <= value <= 1.0:
            raise InputError(f"{what}: {key} must lie in [0, 1], got {value!r}")
    if pad_value is not None and not (int(pad_value) == pad_value and 0 <= pad_value <= 255):
        raise InputError(f"{what}: pad_value must be an integer in 0..255, got {pad_value!r}")


# ------------------------------------------------------------------------------------------------- YOLO-pose

@dataclass(frozen=True)
class YoloPoseConfig:
    """Ultralytics YOLO-pose decoding. Defaults are Ultralytics' own predict defaults."""

    score_threshold: float = 0.25   # person score
    iou_threshold: float = 0.45     # class-agnostic NMS
    max_people: int = 20
    input_size: tuple[int, int] | None = None   # (H, W); None: the model's, 640x640 if dynamic
    pad_value: int = 114            # letterbox pad, 0..255 (the model sees pad_value / 255)
    layout: str = "coco17"
    input_name: str = "images"
    output_name: str = "output0"

    def __post_init__(self) -> None:
        what = "YoloPoseConfig"
        _check_common(what, self.max_people, {"score_threshold": self.score_threshold,
                                              "iou_threshold": self.iou_threshold}, self.pad_value)
        _check_size(self.input_size, what)
        _num_joints(self.layout)


class YoloPoseAdapter:
    """Ultralytics YOLO-pose (multi-person, COCO-17) on any backend; contract in the module docstring."""

    config_type = YoloPoseConfig

    def __init__(self, backend: InferenceBackend, config: YoloPoseConfig | None = None) -> None:
        config = config or YoloPoseConfig()
        label = "YOLO-pose"
        self.backend, self.config = backend, config
        self.num_joints = _num_joints(config.layout)
        self.channels = 5 + 3 * self.num_joints
        shape, self._dtype = _image_input(backend, config.input_name, label)
        _require_batch_one(shape, config.input_name, label)
        if config.input_size is not None:
            wanted = config.input_size
        else:
            wanted = (shape[2] or 640, shape[3] or 640)
        self.input_hw = _input_hw(shape, wanted, config.input_name, label, " (input_size must match the model)")
        (out_shape,) = _output_shapes(backend, (config.output_name,), label)
        if out_shape is not None and not (_dims_ok(out_shape, (1, self.channels, None))
                                          or _dims_ok(out_shape, (1, None, self.channels))):
            raise InputError(f"{label} model: output {config.output_name!r} has shape {_fmt(out_shape)}, expected "
                             f"[1, {self.channels}, N] or [1, N, {self.channels}] for {self.num_joints} keypoints")

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        image, lb = letterbox(frame_bgr, self.input_hw, self.config.pad_value, center=True)
        rgb = image[None, :, :, ::-1].astype(np.float32) * np.float32(1.0 / 255.0)
        return _to_tensor(rgb, self._dtype), lb

    def _candidates(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)
        c = self.channels
        if out.ndim == 3 and out.shape[0] == 1:
            if out.shape[1] == c:
                return out[0].T
            if out.shape[2] == c:
                return out[0]
        raise InputError(f"YOLO-pose model: output {self.config.output_name!r} has shape {list(out.shape)}, "
                         f"expected [1, {c}, N] or [1, N, {c}]")

    def __call__(self, frame_bgr: np.ndarray) -> list[Person]:
        frame = _check_frame(frame_bgr)
        tensor, lb = self.preprocess(frame)
        out = self.backend.infer({self.config.input_name: tensor})[self.config.output_name]
        pred = self._candidates(out)
        cx, cy, bw, bh, score = pred[:, :5].T
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        cfg = self.config
        keep = _select(boxes, score, cfg.score_threshold, cfg.iou_threshold, cfg.max_people)
        kpts = pred[keep, 5:].reshape(len(keep), self.num_joints, 3)
        return _people(boxes[keep], score[keep], kpts, lb, frame.shape[:2], cfg.layout)


# ------------------------------------------------------------------------------------------------- RTMPose

_SCORE_MODES = ("min", "mean", "max")


@dataclass(frozen=True)
class RTMPoseConfig:
    """RTMPose (top-down, SimCC) decoding; defaults are MMPose's RTMPose-t/s/m 256x192 COCO configs."""

    input_size: tuple[int, int] = (256, 192)    # (H, W); e.g. (384, 288) for the larger variants
    padding: float = 1.25                       # box enlargement before cropping
    split_ratio: float = 2.0                    # SimCC bins per input pixel
    score_mode: str = "min"                     # how the x and y maxima combine: min (MMPose), mean, max
    max_people: int = 20                        # highest-scoring detector boxes kept
    max_batch: int = 8                          # crops per call when the model's batch is dynamic
    mean: tuple[float, float, float] = (123.675, 116.28, 103.53)   # RGB
    std: tuple[float, float, float] = (58.395, 57.12, 57.375)     # RGB
    layout: str = "coco17"
    input_name: str = "input"
    output_names: tuple[str, str] = ("simcc_x", "simcc_y")

    def __post_init__(self) -> None:
        what = "RTMPoseConfig"
        _check_common(what, self.max_people, {})
        _check_size(self.input_size, what)
        _num_joints(self.layout)
        if not self.padding > 0 or not self.split_ratio > 0:
            raise InputError(f"{what}: padding and split_ratio must be positive")
        if self.score_mode not in _SCORE_MODES:
            raise InputError(f"{what}: score_mode must be one of {_SCORE_MODES}, got {self.score_mode!r}")
        if int(self.max_batch) != self.max_batch or self.max_batch < 1:
            raise InputError(f"{what}: max_batch must be a positive integer, got {self.max_batch!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InputError(f"{what}: mean and std need 3 values each, std positive")


def _boxes_from(detections: Any) -> tuple[np.ndarray, np.ndarray]:
    """Detector output -> (M, 4) boxes and (M,) scores; rows that cannot be cropped (non-finite, empty) dropped."""
    arr = np.asarray(detections if detections is not None else np.zeros((0, 4)), dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise InputError(f"person detector must return (M, 4) or (M, 5) boxes x1, y1, x2, y2[, score], got "
                         f"shape {list(arr.shape)}")
    boxes = arr[:, :4]
    scores = arr[:, 4] if arr.shape[1] == 5 else np.ones(len(arr), np.float32)
    ok = np.isfinite(arr).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[ok], scores[ok]


class RTMPoseAdapter:
    """RTMPose top-down: person boxes (detector or whole frame) -> affine crops -> SimCC -> keypoints.

    `detector`: optional callable frame_bgr -> (M, 4) or (M, 5) array of x1, y1, x2, y2[, score] in frame pixels.
    """

    config_type = RTMPoseConfig

    def __init__(self, backend: InferenceBackend, config: RTMPoseConfig | None = None,
                 detector: Detector | None = None) -> None:
        config = config or RTMPoseConfig()
        label = "RTMPose"
        self.backend, self.config, self.detector = backend, config, detector
        self.num_joints = _num_joints(config.layout)
        shape, self._dtype = _image_input(backend, config.input_name, label)
        self.input_hw = _input_hw(shape, tuple(config.input_size), config.input_name, label,
                                  " (set input_size=(H, W) in the config for another size)")
        height, width = self.input_hw
        self.simcc_len = (round(width * config.split_ratio), round(height * config.split_ratio))
        # Batch: a fixed size is filled (zero crops pad the last call); a dynamic one takes up to max_batch.
        self.fixed_batch = shape[0]
        self.batch = shape[0] if shape[0] is not None else config.max_batch
        shapes = _output_shapes(backend, tuple(config.output_names), label)
        for name, out_shape, length in zip(config.output_names, shapes, self.simcc_len):
            if not _dims_ok(out_shape, (shape[0], self.num_joints, length)):
                raise InputError(f"{label} model: output {name!r} has shape {_fmt(out_shape)}, expected "
                                 f"[{_fmt(shape[:1])[1:-1]}, {self.num_joints}, {length}]")
        self._mean = np.float32(config.mean)
        self._inv_std = np.float32(1.0) / np.float32(config.std)

    def crop_transform(self, box: np.ndarray) -> tuple[np.ndarray, float]:
        """Affine (2, 3) matrix frame -> input for a box, and its scale factor (input pixels per frame pixel).

        MMPose's bbox_xyxy2cs + fix_aspect_ratio + get_warp_matrix without rotation: the padded box, widened or
        heightened to the input's aspect, maps onto the whole input with its centre on the input's centre.
        """
        height, width = self.input_hw
        x1, y1, x2, y2 = (float(v) for v in box)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sw, sh = (x2 - x1) * self.config.padding, (y2 - y1) * self.config.padding
        aspect = width / height
        if sw > sh * aspect:
            sh = sw / aspect
        else:
            sw = sh * aspect
        k = width / sw
        return np.array([[k, 0.0, width / 2 - k * cx], [0.0, k, height / 2 - k * cy]], dtype=np.float64), k

    def _crops(self, frame: np.ndarray, mats: list[np.ndarray]) -> np.ndarray:
        import cv2

        height, width = self.input_hw
        crops = np.empty((len(mats), height, width, 3), dtype=np.float32)
        for i, mat in enumerate(mats):
            crop = cv2.warpAffine(frame, mat, (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            crops[i] = (crop[:, :, ::-1].astype(np.float32) - self._mean) * self._inv_std
        return crops

    def decode(self, simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SimCC vectors (B, J, Lx), (B, J, Ly) -> keypoints (B, J, 2) in input pixels and raw scores (B, J)."""
        sx = np.asarray(simcc_x, dtype=np.float32)
        sy = np.asarray(simcc_y, dtype=np.float32)
        locs = np.stack([np.argmax(sx, axis=-1), np.argmax(sy, axis=-1)], axis=-1).astype(np.float32)
        locs /= np.float32(self.config.split_ratio)
        mx, my = sx.max(axis=-1), sy.max(axis=-1)
        mode = self.config.score_mode
        vals = np.minimum(mx, my) if mode == "min" else np.maximum(mx, my) if mode == "max" else (mx + my) / 2
        return locs, vals

    def _run(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        name_x, name_y = self.config.output_names
        out = self.backend.infer({self.config.input_name: tensor})
        sx, sy = np.asarray(out[name_x]), np.asarray(out[name_y])
        n = tensor.shape[0]
        for name, arr, length in ((name_x, sx, self.simcc_len[0]), (name_y, sy, self.simcc_len[1])):
            if arr.shape != (n, self.num_joints, length):
                raise InputError(f"RTMPose model: output {name!r} has shape {list(arr.shape)}, expected "
                                 f"[{n}, {self.num_joints}, {length}]")
        return sx, sy

    def __call__(self, frame_bgr: np.ndarray) -> list[Person]:
        frame = _check_frame(frame_bgr)
        h, w = frame.shape[:2]
        if self.detector is None:
            boxes, box_scores = np.float32([[0, 0, w, h]]), np.float32([1.0])
        else:
            boxes, box_scores = _boxes_from(self.detector(frame))
            order = np.argsort(-box_scores, kind="stable")[: self.config.max_people]
            boxes, box_scores = boxes[order], box_scores[order]
        if len(boxes) == 0:
            return []
        transforms = [self.crop_transform(b) for b in boxes]
        height, width = self.input_hw
        locs = np.empty((len(boxes), self.num_joints, 2), np.float32)
        vals = np.empty((len(boxes), self.num_joints), np.float32)
        for start in range(0, len(boxes), self.batch):
            mats = [m for m, _ in transforms[start:start + self.batch]]
            crops = self._crops(frame, mats)
            n = len(mats)
            if self.fixed_batch is not None and n < self.fixed_batch:
                crops = np.concatenate([crops, np.zeros((self.fixed_batch - n,) + crops.shape[1:], np.float32)])
            sx, sy = self._run(_to_tensor(crops, self._dtype))
            locs[start:start + n], vals[start:start + n] = self.decode(sx[:n], sy[:n])
        people = []
        centre = np.float32([width / 2, height / 2])
        for i, (box, (_, k)) in enumerate(zip(boxes, transforms)):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            xy = (locs[i] - centre) / np.float32(k) + np.float32([cx, cy])   # inverse of crop_transform
            people.append(Person(keypoints=xy, scores=np.clip(np.nan_to_num(vals[i], nan=0.0), 0.0, 1.0),
                                 layout=self.config.layout, box=box, score=float(box_scores[i])))
        return people


# ------------------------------------------------------------------------------------------------- RTMO

@dataclass(frozen=True)
class RTMOConfig:
    """RTMO (one-stage) decoding; defaults follow MMPose's RTMO 640x640 COCO configs."""

    score_threshold: float = 0.3        # person score (rtmlib's default; MMPose tests with 0.1)
    nms_iou: float | None = 0.65        # box NMS; None skips it
    max_people: int = 20
    input_size: tuple[int, int] = (640, 640)   # (H, W)
    pad_value: int = 114
    pad_mode: str = "center"            # "center" (MMPose BottomupResize) or "top_left" (rtmlib)
    channel_order: str = "bgr"          # what the model expects: "bgr" (MMPose default) or "rgb"
    layout: str = "coco17"
    input_name: str = "input"
    output_names: tuple[str, str] = ("dets", "keypoints")

    def __post_init__(self) -> None:
        what = "RTMOConfig"
        _check_common(what, self.max_people, {"score_threshold": self.score_threshold, "nms_iou": self.nms_iou},
                      self.pad_value)
        _check_size(self.input_size, what)
        _num_joints(self.layout)
        if self.pad_mode not in ("center", "top_left"):
            raise InputError(f"{what}: pad_mode must be 'center' or 'top_left', got {self.pad_mode!r}")
        if self.channel_order not in ("bgr", "rgb"):
            raise InputError(f"{what}: channel_order must be 'bgr' or 'rgb', got {self.channel_order!r}")


class RTMOAdapter:
    """RTMO one-stage multi-person pose on any backend; contract in the module docstring."""

    config_type = RTMOConfig

    def __init__(self, backend: InferenceBackend, config: RTMOConfig | None = None) -> None:
        config = config or RTMOConfig()
        label = "RTMO"
        self.backend, self.config = backend, config
        self.num_joints = _num_joints(config.layout)
        shape, self._dtype = _image_input(backend, config.input_name, label)
        _require_batch_one(shape, config.input_name, label)
        self.input_hw = _input_hw(shape, tuple(config.input_size), config.input_name, label,
                                  " (set input_size=(H, W) in the config for another size)")
        dets_shape, kpts_shape = _output_shapes(backend, tuple(config.output_names), label)
        if not _dims_ok(dets_shape, (1, None, 5)):
            raise InputError(f"{label} model: output {config.output_names[0]!r} has shape {_fmt(dets_shape)}, "
                             "expected [1, N, 5]")
        if not _dims_ok(kpts_shape, (1, None, self.num_joints, 3)):
            raise InputError(f"{label} model: output {config.output_names[1]!r} has shape {_fmt(kpts_shape)}, "
                             f"expected [1, N, {self.num_joints}, 3]")

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        cfg = self.config
        image, lb = letterbox(frame_bgr, self.input_hw, cfg.pad_value, center=cfg.pad_mode == "center")
        if cfg.channel_order == "rgb":
            image = image[:, :, ::-1]
        return _to_tensor(image[None].astype(np.float32), self._dtype), lb

    def __call__(self, frame_bgr: np.ndarray) -> list[Person]:
        frame = _check_frame(frame_bgr)
        tensor, lb = self.preprocess(frame)
        name_d, name_k = self.config.output_names
        out = self.backend.infer({self.config.input_name: tensor})
        dets = np.asarray(out[name_d], dtype=np.float32)
        kpts = np.asarray(out[name_k], dtype=np.float32)
        if dets.ndim != 3 or dets.shape[0] != 1 or dets.shape[2] != 5:
            raise InputError(f"RTMO model: output {name_d!r} has shape {list(dets.shape)}, expected [1, N, 5]")
        if kpts.shape != (1, dets.shape[1], self.num_joints, 3):
            raise InputError(f"RTMO model: output {name_k!r} has shape {list(kpts.shape)}, expected "
                             f"[1, {dets.shape[1]}, {self.num_joints}, 3]")
        boxes, scores, kpts = dets[0, :, :4], dets[0, :, 4], kpts[0]
        cfg = self.config
        keep = _select(boxes, scores, cfg.score_threshold, cfg.nms_iou, cfg.max_people)
        return _people(boxes[keep], scores[keep], kpts[keep], lb, frame.shape[:2], cfg.layout)


ADAPTERS: dict[str, type] = {"yolo_pose": YoloPoseAdapter, "rtmpose": RTMPoseAdapter, "rtmo": RTMOAdapter}
