"""Ultralytics YOLO-pose exports (multi-person, one pass per frame) read as people.

Contract (`YoloPoseAdapter`; the conventions all adapters share are in `edge/pose/adapters/__init__.py`):
    input  ``images``  [1, 3, H, W] float32, RGB, 0..1, letterboxed: resized keeping aspect, centred, padded with
           114/255. H, W come from the model; a dynamic model uses `input_size` or 640x640.
    output ``output0`` [1, 5 + 3J, N] (or the transposed [1, N, 5 + 3J]); per candidate: cx, cy, w, h, person
           score (already sigmoid), then J x (x, y, conf), all in input pixels. J = 17 for COCO (56 channels).
    decode: score >= score_threshold, class-agnostic NMS (IoU iou_threshold), keep max_people, undo the
           letterbox, clip boxes and keypoints to the frame. Exports with NMS built in ([1, 300, 57], "end2end")
           do not match this contract and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.pose.adapters.common import (
    ImageAdapter, Letterbox, check_adapter_config, check_frame, dims_ok, format_shape, input_hw, letterbox,
    output_shapes, people_in_frame, select_people,
)
from edge.pose.types import Person


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
        check_adapter_config(self, {"score_threshold": self.score_threshold, "iou_threshold": self.iou_threshold})


class YoloPoseAdapter(ImageAdapter):
    """Ultralytics YOLO-pose (multi-person, COCO-17) on any backend; contract in the module docstring."""

    label = "YOLO-pose"
    config_type = YoloPoseConfig

    def __init__(self, backend: InferenceBackend, config: YoloPoseConfig | None = None) -> None:
        super().__init__(backend, config)
        config, label, shape = self.config, self.label, self.input_shape
        self.channels = 5 + 3 * self.num_joints
        if config.input_size is not None:
            wanted = config.input_size
        else:
            wanted = (shape[2] or 640, shape[3] or 640)
        self.input_hw = input_hw(shape, wanted, config.input_name, label, " (input_size must match the model)")
        (out_shape,) = output_shapes(backend, (config.output_name,), label)
        if out_shape is not None and not (dims_ok(out_shape, (1, self.channels, None))
                                          or dims_ok(out_shape, (1, None, self.channels))):
            raise InputError(f"{label} model: output {config.output_name!r} has shape {format_shape(out_shape)}, "
                             f"expected [1, {self.channels}, N] or [1, N, {self.channels}] for {self.num_joints} "
                             "keypoints")

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model's input tensor for a frame (RGB, 0..1, letterboxed) and where the frame went in it."""
        image, lb = letterbox(frame_bgr, self.input_hw, self.config.pad_value, center=True)
        # Channel-first while still uint8 (a quarter of the bytes to move strided), then scaled in one float32
        # pass: the same values to the bit as scaling first, 7.1 -> 0.9 ms a 640x640 frame.
        planes = np.ascontiguousarray(image.transpose(2, 0, 1)[None, ::-1])  # RGB
        tensor = np.multiply(planes, np.float32(1.0 / 255.0), dtype=np.float32)
        return tensor.astype(self.input_dtype, copy=False), lb

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
        frame = check_frame(frame_bgr)
        tensor, lb = self.preprocess(frame)
        out = self.backend.infer({self.config.input_name: tensor})[self.config.output_name]
        pred = self._candidates(out)
        cx, cy, bw, bh, score = pred[:, :5].T
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        cfg = self.config
        keep = select_people(boxes, score, cfg.score_threshold, cfg.iou_threshold, cfg.max_people)
        kpts = pred[keep, 5:].reshape(len(keep), self.num_joints, 3)
        return people_in_frame(boxes[keep], score[keep], kpts, lb, frame.shape[:2], cfg.layout)
