"""MMPose RTMPose exports (top-down, SimCC) read as people: one crop per person box, one keypoint set per crop.

Contract (`RTMPoseAdapter`; the conventions all adapters share are in `edge/pose/adapters/__init__.py`):
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.pose.adapters.common import (
    ImageAdapter, check_adapter_config, check_frame, dims_ok, format_shape, input_hw, output_shapes, to_tensor,
)
from edge.pose.types import Person

Detector = Callable[[np.ndarray], Any]

SCORE_MODES = ("min", "mean", "max")


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
        check_adapter_config(self, {})
        check_number(self.padding, f"{what}: padding", positive=True)
        check_number(self.split_ratio, f"{what}: split_ratio", positive=True)
        if self.score_mode not in SCORE_MODES:
            raise InputError(f"{what}: score_mode must be one of {SCORE_MODES}, got {self.score_mode!r}")
        check_number(self.max_batch, f"{what}: max_batch", integer=True, positive=True)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise InputError(f"{what}: mean and std need 3 values each")
        for value in self.std:
            check_number(value, f"{what}: each std value", positive=True)


def boxes_from(detections: Any) -> tuple[np.ndarray, np.ndarray]:
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


class RTMPoseAdapter(ImageAdapter):
    """RTMPose top-down: person boxes (detector or whole frame) -> affine crops -> SimCC -> keypoints.

    `detector`: optional callable frame_bgr -> (M, 4) or (M, 5) array of x1, y1, x2, y2[, score] in frame pixels.
    """

    label = "RTMPose"
    config_type = RTMPoseConfig
    one_frame_per_call = False      # person crops go in batches

    def __init__(self, backend: InferenceBackend, config: RTMPoseConfig | None = None,
                 detector: Detector | None = None) -> None:
        super().__init__(backend, config)
        config, label, shape = self.config, self.label, self.input_shape
        self.detector = detector
        self.input_hw = input_hw(shape, tuple(config.input_size), config.input_name, label,
                                 " (set input_size=(H, W) in the config for another size)")
        height, width = self.input_hw
        self.simcc_len = (round(width * config.split_ratio), round(height * config.split_ratio))
        # Batch: a fixed size is filled (zero crops pad the last call); a dynamic one takes up to max_batch.
        self.fixed_batch = shape[0]
        self.batch = shape[0] if shape[0] is not None else config.max_batch
        shapes = output_shapes(backend, tuple(config.output_names), label)
        for name, out_shape, length in zip(config.output_names, shapes, self.simcc_len):
            if not dims_ok(out_shape, (shape[0], self.num_joints, length)):
                raise InputError(f"{label} model: output {name!r} has shape {format_shape(out_shape)}, expected "
                                 f"[{format_shape(shape[:1])[1:-1]}, {self.num_joints}, {length}]")
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
            # Into the batch in one float32 pass each (the values of a cast, a difference, a product).
            np.multiply(np.subtract(crop[:, :, ::-1], self._mean, dtype=np.float32), self._inv_std, out=crops[i])
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
        frame = check_frame(frame_bgr)
        h, w = frame.shape[:2]
        if self.detector is None:
            boxes, box_scores = np.float32([[0, 0, w, h]]), np.float32([1.0])
        else:
            boxes, box_scores = boxes_from(self.detector(frame))
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
            sx, sy = self._run(to_tensor(crops, self.input_dtype))
            locs[start:start + n], vals[start:start + n] = self.decode(sx[:n], sy[:n])
        people = []
        centre = np.float32([width / 2, height / 2])
        for i, (box, (_, k)) in enumerate(zip(boxes, transforms)):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            xy = (locs[i] - centre) / np.float32(k) + np.float32([cx, cy])   # inverse of crop_transform
            people.append(Person(keypoints=xy, scores=np.clip(np.nan_to_num(vals[i], nan=0.0), 0.0, 1.0),
                                 layout=self.config.layout, box=box, score=float(box_scores[i])))
        return people
