"""MMPose RTMO exports (one-stage, multi-person) read as people.

Contract (`RTMOAdapter`; the conventions all adapters share are in `edge/pose/adapters/__init__.py`):
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

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.pose.adapters.common import (
    ImageAdapter, Letterbox, check_adapter_config, check_frame, dims_ok, format_shape, input_hw, letterbox,
    output_shapes, people_in_frame, select_people, to_tensor,
)
from edge.pose.types import Person


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
        check_adapter_config(self, {"score_threshold": self.score_threshold, "nms_iou": self.nms_iou})
        if self.pad_mode not in ("center", "top_left"):
            raise InputError(f"{what}: pad_mode must be 'center' or 'top_left', got {self.pad_mode!r}")
        if self.channel_order not in ("bgr", "rgb"):
            raise InputError(f"{what}: channel_order must be 'bgr' or 'rgb', got {self.channel_order!r}")


class RTMOAdapter(ImageAdapter):
    """RTMO one-stage multi-person pose on any backend; contract in the module docstring."""

    label = "RTMO"
    config_type = RTMOConfig

    def __init__(self, backend: InferenceBackend, config: RTMOConfig | None = None) -> None:
        super().__init__(backend, config)
        names, label = tuple(self.config.output_names), self.label
        self.input_hw = input_hw(self.input_shape, tuple(self.config.input_size), self.config.input_name, label,
                                 " (set input_size=(H, W) in the config for another size)")
        dets_shape, kpts_shape = output_shapes(backend, names, label)
        if not dims_ok(dets_shape, (1, None, 5)):
            raise InputError(f"{label} model: output {names[0]!r} has shape {format_shape(dets_shape)}, "
                             "expected [1, N, 5]")
        if not dims_ok(kpts_shape, (1, None, self.num_joints, 3)):
            raise InputError(f"{label} model: output {names[1]!r} has shape {format_shape(kpts_shape)}, "
                             f"expected [1, N, {self.num_joints}, 3]")

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model's input tensor for a frame (raw 0..255, letterboxed) and where the frame went in it."""
        cfg = self.config
        image, lb = letterbox(frame_bgr, self.input_hw, cfg.pad_value, center=cfg.pad_mode == "center")
        if cfg.channel_order == "rgb":
            image = image[:, :, ::-1]
        return to_tensor(image[None], self.input_dtype), lb  # cast in to_tensor's one copy

    def __call__(self, frame_bgr: np.ndarray) -> list[Person]:
        frame = check_frame(frame_bgr)
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
        keep = select_people(boxes, scores, cfg.score_threshold, cfg.nms_iou, cfg.max_people)
        return people_in_frame(boxes[keep], scores[keep], kpts[keep], lb, frame.shape[:2], cfg.layout)
