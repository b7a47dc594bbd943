"""What the pose adapters share: the image-input and output-shape checks, letterbox, NMS and the decode to people.

Kept in one place so that every adapter refuses a mismatched model with the same wording and maps input pixels
back to the frame the same way (the conventions are in `edge/pose/adapters/__init__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.pose.types import Person
from edge.skeletons import get_layout

# Candidates kept for NMS after thresholding: a bound on the O(K^2) cost when a threshold is set very low.
_MAX_NMS_CANDIDATES = 1000


# ----------------------------------------------------------------------------------------------- config checks

def check_adapter_config(config, fractions: dict[str, float | None]) -> None:
    """The checks every adapter config shares: max_people >= 1, the `fractions` (thresholds) in [0, 1] (None:
    unused), pad_value 0..255 where the config has one, input_size in positive whole pixels, a known layout."""
    what = type(config).__name__
    check_number(config.max_people, f"{what}: max_people", integer=True, positive=True)
    for key, value in fractions.items():
        if value is not None:
            check_number(value, f"{what}: {key}", minimum=0.0, maximum=1.0)
    pad_value = getattr(config, "pad_value", None)
    if pad_value is not None:
        check_number(pad_value, f"{what}: pad_value", integer=True, minimum=0, maximum=255)
    size = config.input_size
    if size is not None:
        if len(size) != 2:
            raise InputError(f"{what}: input_size must be (height, width) in positive pixels, got {size!r}")
        for value in size:
            check_number(value, f"{what}: each input_size value (height, width)", integer=True, positive=True)
    num_joints(config.layout)


def num_joints(layout: str) -> int:
    """Keypoints per person in `layout`; an unknown layout is an InputError naming the choices."""
    return get_layout(layout).num_joints


# ----------------------------------------------------------------------------------------------- model checks

def format_shape(shape: tuple | None) -> str:
    """A declared shape for error messages: dynamic dimensions as "?", an unknown shape as "unknown"."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]" if shape is not None else "unknown"


def image_input(backend: InferenceBackend, name: str, label: str) -> tuple[tuple[int | None, ...], np.dtype]:
    """The (shape, dtype) of the model's single NCHW image input, checked."""
    specs = backend.input_specs
    if name not in specs:
        raise InputError(f"{label} model: no input named {name!r}; the model has {sorted(specs)} "
                         "(set input_name in the config if the export renamed it)")
    if len(specs) != 1:
        raise InputError(f"{label} model: expected one input {name!r}, the model has {sorted(specs)}")
    shape, dtype = specs[name]
    if len(shape) != 4 or shape[1] not in (None, 3):
        raise InputError(f"{label} model: input {name!r} has shape {format_shape(shape)}, expected [N, 3, H, W]")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise InputError(f"{label} model: input {name!r} has dtype {np.dtype(dtype)}, expected float32 or float16")
    return tuple(shape), np.dtype(dtype)


def input_hw(shape: tuple, wanted: tuple[int, int], name: str, label: str, hint: str) -> tuple[int, int]:
    """Check that the model's fixed H, W equal `wanted`; dynamic dimensions accept it."""
    for axis, want in zip((2, 3), wanted):
        if shape[axis] is not None and shape[axis] != want:
            raise InputError(f"{label} model: input {name!r} has shape {format_shape(shape)}, expected "
                             f"[{format_shape(shape[:1])[1:-1]}, 3, {wanted[0]}, {wanted[1]}]{hint}")
    return int(wanted[0]), int(wanted[1])


def require_batch_one(shape: tuple, name: str, label: str) -> None:
    """Refuse a model whose fixed batch is not 1 (one frame per call)."""
    if shape[0] not in (None, 1):
        raise InputError(f"{label} model: input {name!r} has batch {shape[0]}, expected 1 (or dynamic)")


def output_shapes(backend: InferenceBackend, names: tuple[str, ...], label: str) -> list[tuple | None]:
    """The declared shapes of the named outputs (None where the backend does not say); a missing name is an error."""
    missing = [n for n in names if n not in backend.output_names]
    if missing:
        raise InputError(f"{label} model: missing output(s) {missing}; the model has {list(backend.output_names)} "
                         "(set the output names in the config if the export renamed them)")
    specs = getattr(backend, "output_specs", {}) or {}
    return [tuple(specs[n][0]) if n in specs else None for n in names]


def dims_ok(shape: tuple | None, expected: tuple) -> bool:
    """True when `shape` (None entries: unknown) can equal `expected` (None entries: anything)."""
    if shape is None:
        return True
    return len(shape) == len(expected) and all(
        d is None or e is None or d == e for d, e in zip(shape, expected))


class ImageAdapter:
    """The start every adapter shares: keep the backend and config, check the layout and the image input.

    Subclasses set `label` (the model family, as error messages name it), `config_type` (their config class, built
    with its defaults when no config is given) and `one_frame_per_call` (False when the model may take a batch).
    """

    label = "pose"
    config_type: type
    one_frame_per_call = True

    def __init__(self, backend: InferenceBackend, config=None) -> None:
        config = config or self.config_type()
        self.backend, self.config = backend, config
        self.num_joints = num_joints(config.layout)
        self.input_shape, self.input_dtype = image_input(backend, config.input_name, self.label)
        if self.one_frame_per_call:
            require_batch_one(self.input_shape, config.input_name, self.label)


# ----------------------------------------------------------------------------------------------- frames and tensors

def check_frame(frame: np.ndarray) -> np.ndarray:
    """The frame itself when it is an HxWx3 uint8 image, else an InputError saying what came."""
    if (not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8
            or frame.shape[0] < 1 or frame.shape[1] < 1):
        got = f"shape {getattr(frame, 'shape', None)}, dtype {getattr(frame, 'dtype', type(frame).__name__)}"
        raise InputError(f"expected an HxWx3 uint8 BGR frame, got {got}")
    return frame


def to_tensor(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(B, H, W, 3) uint8 or float32 -> (B, 3, H, W) contiguous in the model's dtype (cast in the one copy)."""
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


# ----------------------------------------------------------------------------------------------- decoding

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


def select_people(boxes: np.ndarray, scores: np.ndarray, threshold: float, iou: float | None,
                  max_people: int) -> np.ndarray:
    """Indices that pass the score threshold, survive NMS (None: no NMS) and fit in max_people, best first."""
    idx = np.flatnonzero(np.isfinite(scores) & (scores >= threshold) & np.isfinite(boxes).all(axis=1))
    if idx.size > _MAX_NMS_CANDIDATES:
        idx = idx[np.argsort(-scores[idx], kind="stable")[:_MAX_NMS_CANDIDATES]]
    if iou is None:
        chosen = idx[np.argsort(-scores[idx], kind="stable")]
    else:
        chosen = idx[nms(boxes[idx], scores[idx], iou)]
    return chosen[:max_people]


def people_in_frame(boxes: np.ndarray, scores: np.ndarray, kpts: np.ndarray, lb: Letterbox,
                    frame_hw: tuple[int, int], layout: str) -> list[Person]:
    """Input-pixel boxes (P, 4) and keypoints (P, J, 3) -> Person list in the original frame, clipped."""
    h, w = frame_hw
    lim = np.float32([w, h])
    box_xy = np.clip(lb.to_original(boxes.reshape(-1, 2, 2)), 0, lim).reshape(-1, 4)
    kxy = np.clip(lb.to_original(kpts[..., :2]), 0, lim)
    ksc = np.clip(np.nan_to_num(kpts[..., 2], nan=0.0), 0.0, 1.0)
    return [Person(keypoints=kxy[i], scores=ksc[i], layout=layout, box=box_xy[i], score=float(scores[i]))
            for i in range(len(scores))]
