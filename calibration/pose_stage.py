"""`ergoedge calibrate-pose --footage DIR --out DIR`: BlazePose's detector and landmark model in FP16 and INT8,
calibrated on real frames as the run makes them (`calibration.frames`), with a report of what each precision does
to the answers on held-out frames.

Written per model (`pose_detection`, `pose_landmark_full`), each with a manifest `<stem>.json` beside it:
`<model>_int8.onnx` (the CPU form: uint8 activations, what ONNX Runtime and OpenVINO run fastest),
`<model>_int8_trt.onnx` (the TensorRT form: QDQ with symmetric int8 activations, what TensorRT's parser takes) and
`<model>_fp16.onnx`; and `pose_calibration_report.json`: landmark shift against FP32 in the 256-px crop and in the
frame (median, p90, per clip), detector agreement (same presence, box IoU), on frames never used for calibration.
The run uses them with `[pose] precision = "int8"` or `"fp16"` (edge.pose.estimator) from the models directory
they were written to. Accuracy is measured through ONNX Runtime with its graph optimisations off, which computes
what a QDQ graph says (TensorRT's semantics; OpenVINO agrees with it, ONNX Runtime's optimised CPU path computes some
partly quantized graphs differently).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration.frames import FrameSpec, read_pose_frames
from calibration.pose_recipe import MODELS, RECIPES, prepare_fp32, quantize_pose_model
from edge.errors import InputError
from edge.paths import atomic_write, output_dir

# The file each precision is written to, per model (the names `[pose] precision` looks for).
VARIANTS = {"int8": ("_int8", "cpu"), "int8_trt": ("_int8_trt", "tensorrt"), "fp16": ("_fp16", None)}
_RECIPE_KEY = {"pose_landmark_full": "landmarks", "pose_detection": "detector"}
REPORT = "pose_calibration_report.json"


@dataclass(frozen=True)
class PoseCalibrateSpec:
    """footage: the folder the clips are in; calibration / held_out: which frames of which clips (None: the defaults
    of `calibration.frames.FrameSpec`); models_dir: the FP32 BlazePose models; allow_small: accept fewer
    calibration samples than the quantizer's minimum (tests and plumbing only)."""

    footage: str
    models_dir: str | None = None
    calibration: tuple | None = None
    held_out: tuple | None = None
    allow_small: bool = False

    def frames(self) -> FrameSpec:
        chosen = {k: v for k, v in (("calibration", self.calibration), ("held_out", self.held_out)) if v is not None}
        return FrameSpec(footage=self.footage, models_dir=self.models_dir, **chosen)


class QdqReference:
    """ONNX Runtime with every graph optimisation off: the graph's own arithmetic (module doc)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 2
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._names = [o.name for o in self._session.get_outputs()]

    def outputs(self, feeds: list[dict]) -> list[dict]:
        return [dict(zip(self._names, self._session.run(None, feed))) for feed in feeds]


def _by_shape(outputs: dict, shape: tuple) -> np.ndarray:
    return next(np.asarray(v) for v in outputs.values() if tuple(np.shape(v)[1:]) == shape)


def _points(outputs: dict) -> np.ndarray:
    """33 landmarks in crop pixels, decoded as edge/pose/blazepose.py decodes them (heatmap refinement)."""
    from edge.pose.blazepose import refine_with_heatmap

    raw = _by_shape(outputs, (195,)).reshape(39, 5)
    heatmap = _by_shape(outputs, (64, 64, 39)).reshape(64, 64, 39)
    return refine_with_heatmap(raw[:, :2] / 256.0, heatmap)[:33] * 256.0


def landmark_shift(ref: list, got: list, to_frame: np.ndarray, origin: list) -> dict:
    """How far `got`'s landmarks lie from `ref`'s, per landmark: in crop pixels and, through each crop's affine, in
    frame pixels; median and p90 overall and the medians per clip."""
    crop, frame, clips = [], [], []
    for a, b, affine, (clip, _) in zip(ref, got, to_frame, origin):
        pa, pb = _points(a), _points(b)
        crop.append(np.linalg.norm(pa - pb, axis=1))
        frame.append(np.linalg.norm((pa - pb) @ affine[:, :2].T, axis=1))
        clips += [clip] * len(pa)
    crop, frame, clips = np.concatenate(crop), np.concatenate(frame), np.array(clips)
    result = {"crop_median_px": float(np.median(crop)), "crop_p90_px": float(np.percentile(crop, 90)),
              "frame_median_px": float(np.median(frame)), "frame_p90_px": float(np.percentile(frame, 90)),
              "per_clip": {}}
    for clip in sorted(set(clips)):
        result["per_clip"][clip] = {"crop_median_px": float(np.median(crop[clips == clip])),
                                    "frame_median_px": float(np.median(frame[clips == clip]))}
    return result


def _detections(outputs: dict):
    from edge.pose.blazepose import decode_detections, weighted_nms

    boxes, kps, scores = decode_detections(_by_shape(outputs, (2254, 12)), _by_shape(outputs, (2254, 1)), 0.5)
    return weighted_nms(boxes, kps, scores, 0.3)


def detector_agreement(ref: list, got: list) -> dict:
    """Best detection per frame: found by both or neither; box IoU, score and keypoint shift (224-px input)."""
    from edge.pose.blazepose import box_iou_cxcywh

    same, ious, dscore, dkp, found = 0, [], [], [], 0
    for a, b in zip(ref, got):
        (ba, ka, sa), (bb, kb, sb) = _detections(a), _detections(b)
        same += (len(sa) > 0) == (len(sb) > 0)
        found += len(sa) > 0
        if len(sa) and len(sb):
            ious.append(float(box_iou_cxcywh(ba[0], bb[:1])[0]))
            dscore.append(abs(float(sa[0] - sb[0])))
            dkp.append(float(np.linalg.norm((ka[0] - kb[0]) * 224, axis=1).max()))

    def median(values):
        return float(np.median(values)) if values else None

    return {"frames": len(ref), "fp32_found": found, "same_presence": same / max(len(ref), 1),
            "box_iou_median": median(ious), "box_iou_min": min(ious) if ious else None,
            "score_diff_median": median(dscore), "keypoint_shift_median_px": median(dkp)}


def _fp16(source: Path, feed: dict, out: Path, calib_source: str) -> Path:
    from calibration.quantize import convert_fp16
    from edge.artifacts import sha256_file

    convert_fp16(source, out, feed)
    manifest = {"precision": "fp16", "onnx": out.name, "onnx_sha256": sha256_file(out),
                "converter": "onnxruntime.transformers.float16 (float32 inputs and outputs kept)",
                "source_sha256": sha256_file(source), "checked_on": calib_source}
    atomic_write(out.with_suffix(".json"), json.dumps(manifest, indent=2) + "\n")
    return out


def calibrate_pose(spec: PoseCalibrateSpec, out_dir: str | Path) -> dict:
    """Write the FP16 and INT8 BlazePose models and the report (module doc) into `out_dir`; returns the report."""
    import tempfile

    from edge.artifacts import model_path

    out = output_dir(out_dir)
    if not Path(spec.footage).is_dir():
        raise InputError(f"no footage folder: {spec.footage} (scripts/fetch_footage.sh fetches the default clips)")
    frames = read_pose_frames(spec.frames())
    out.mkdir(parents=True, exist_ok=True)
    held = frames.held_out
    report = {"calibration": {"pose_landmark_full": frames.landmarks.source, "pose_detection": frames.detector.source},
              "held_out": {"landmark_crops": len(held.landmark_feeds), "detector_frames": len(held.detector_feeds)},
              "reference": "ONNX Runtime, graph optimisations off", "models": {}}
    with tempfile.TemporaryDirectory(prefix="ergoedge-pose-") as tmp:
        for model in MODELS:
            source = model_path(model, spec.models_dir)
            fp32 = prepare_fp32(source, RECIPES[f"{_RECIPE_KEY[model]}_cpu"], Path(tmp) / f"{model}.onnx")
            calib = frames.landmarks if model == "pose_landmark_full" else frames.detector
            feeds = held.landmark_feeds if model == "pose_landmark_full" else held.detector_feeds
            want = QdqReference(fp32).outputs(feeds)
            rows = {}
            for variant, (suffix, form) in VARIANTS.items():
                path = out / f"{model}{suffix}.onnx"
                if form is None:
                    _fp16(fp32, calib.feeds[0], path, calib.source)
                else:
                    quantize_pose_model(source, calib, RECIPES[f"{_RECIPE_KEY[model]}_{form}"], path,
                                        allow_small=spec.allow_small)
                got = QdqReference(path).outputs(feeds)
                rows[variant] = {"file": path.name, **(
                    landmark_shift(want, got, held.to_frame, held.landmark_origin) if model == "pose_landmark_full"
                    else detector_agreement(want, got))}
            report["models"][model] = rows
    atomic_write(out / REPORT, json.dumps(report, indent=1) + "\n")
    return report
