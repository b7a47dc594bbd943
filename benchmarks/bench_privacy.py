"""Benchmark: what `--privacy silhouette` costs, side by side with face-blur and none, in one process.

Run: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_privacy.py [--seconds 10] [--repeats 3] [--calls 200]`
after set-up. Three parts, each repeated (the machine is shared: the figures are the median of the repeats with
their min-max spread):

1. The landmark model per call, with the segmentation output kept and with it cut away (`use_outputs`), on each
   CPU runtime here (ONNX Runtime, OpenVINO where installed), on a real 256x256 person crop, calls interleaved in
   blocks so load from other processes falls on both alike.
2. Per frame, on the 640x480 clip's frame: mapping the mask back into the frame (`Person.mask`), and drawing
   silhouettes against blurring faces.
3. `ergoedge run` end to end (decode, pose, scoring, alerts, overlay, H.264 recording) on the 640x480, 30 fps clip of
   benchmarks/bench_run.py with privacy none, face-blur and silhouette, the three modes interleaved per repeat.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODES = ("none", "face-blur", "silhouette")


def _bench_run_module():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "bench_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spread(values: list[float], digits: int = 2) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "runs": [round(v, digits) for v in values]}


def _first_frame(clip: Path, index: int = 40) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(clip))
    for _ in range(index + 1):
        ok, frame = cap.read()
    cap.release()
    return frame


def landmark_ms(frame: np.ndarray, backend: str, calls: int, repeats: int) -> dict:
    """ms per landmark call with and without the segmentation output, on the person crop of `frame`."""
    from edge.artifacts import model_path
    from edge.inference.backends import open_backend
    from edge.pose.blazepose import BlazePose, BlazePoseConfig, crop_roi

    detector = open_backend(model_path("pose_detection"), backend)
    with_seg = BlazePose(detector, open_backend(model_path("pose_landmark_full"), backend),
                         BlazePoseConfig(segmentation=True))
    without = BlazePose(detector, open_backend(model_path("pose_landmark_full"), backend))
    for _ in range(3):
        with_seg(frame)
    roi = with_seg.track_roi(0)
    crop, _ = crop_roi(frame, roi, 256)
    tensor = {with_seg._lm_input: (crop[..., ::-1].astype(np.float32) / 255.0)[None]}
    results = {"with_segmentation": [], "without_segmentation": []}
    for _ in range(repeats):
        for key, pose in (("without_segmentation", without), ("with_segmentation", with_seg)):
            pose.landmarks.infer(tensor)  # warm after the other session ran
            start = time.perf_counter()
            for _ in range(calls):
                pose.landmarks.infer(tensor)
            results[key].append((time.perf_counter() - start) * 1000 / calls)
    out = {key: _spread(v) for key, v in results.items()}
    out["provider"] = with_seg.landmarks.provider
    out["outputs_with"] = len(with_seg.landmarks.output_names)
    out["outputs_without"] = len(without.landmarks.output_names)
    return out


def drawing_ms(frame: np.ndarray, calls: int, repeats: int) -> dict:
    """ms per frame for mapping the mask into the frame and for each privacy mode's drawing."""
    import dataclasses

    from edge.pose.estimator import EstimatorSpec, open_estimator
    from runtime.video.overlay import apply_privacy

    est = open_estimator(EstimatorSpec(backend="onnxruntime", segmentation=True, smoothing=False))
    for i in range(3):
        people = est(frame, i / 30)
    pose = est.model
    roi = pose.track_roi(people[0].track_id)
    results: dict[str, list[float]] = {"mask_to_frame": [], "no_mask_blurred_box": [],
                                       **{f"draw_{m}": [] for m in MODES}}
    bare = [dataclasses.replace(p, mask=None) for p in people]
    from edge.pose import blazepose as bp

    crop, to_frame = bp.crop_roi(frame, roi, 256)
    out = pose.landmarks.infer({pose._lm_input: (crop[..., ::-1].astype(np.float32) / 255.0)[None]})
    logits = out[pose._lm_outputs["segmentation"]]
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            bp._mask_in_frame(logits, to_frame, roi, frame.shape)
        results["mask_to_frame"].append((time.perf_counter() - start) * 1000 / calls)
        for mode in MODES:
            start = time.perf_counter()
            for _ in range(calls):
                apply_privacy(frame.copy(), people, mode)
            results[f"draw_{mode}"].append((time.perf_counter() - start) * 1000 / calls)
        start = time.perf_counter()
        for _ in range(calls):
            apply_privacy(frame.copy(), bare, "silhouette")
        results["no_mask_blurred_box"].append((time.perf_counter() - start) * 1000 / calls)
    out = {k: _spread(v, 3) for k, v in results.items()}
    out["mask_shape"] = list(people[0].mask.probability.shape)
    return out


def run_fps(clip: Path, tmp: Path, repeats: int) -> dict:
    from edge.config import with_overrides
    from runtime.config import load_config
    from runtime.session import run

    results: dict[str, dict[str, list[float]]] = {m: {"fps": [], "pose_ms": [], "output_ms": []} for m in MODES}
    for r in range(repeats):
        for mode in MODES:
            work = tmp / f"{mode}-{r}"
            work.mkdir()
            changes = {"source.uri": str(clip), "sinks.sqlite": str(work / "events.db"), "sinks.stdout": False,
                       "activity.model": "none", "output.record": str(work / "annotated.mp4"),
                       "output.privacy": mode}
            config = with_overrides(load_config(None), camera="bench", scene_dir=str(work), **changes)
            report = run(config, work / "out", status=None)
            results[mode]["fps"].append(report["fps"])
            results[mode]["pose_ms"].append(report["stages"]["pose"]["median_ms"])
            results[mode]["output_ms"].append(report["stages"]["output"]["median_ms"])
    return {mode: {k: _spread(v) for k, v in figures.items()} for mode, figures in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length for the end-to-end runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200, help="landmark calls per block")
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    parser.add_argument("--skip-run", action="store_true", help="only the landmark and drawing figures")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "one_person_640x480_30fps.mp4"
        _bench_run_module().make_clip(clip, args.seconds, Path(args.footage))
        frame = _first_frame(clip)
        result = {"clip": "640x480, 30 fps, one person (pose2sim cam01 scaled, as bench_run.py)",
                  "landmark_ms_per_call": {}}
        for backend in ("onnxruntime", "openvino"):
            if backend == "openvino" and importlib.util.find_spec("openvino") is None:
                continue
            result["landmark_ms_per_call"][backend] = landmark_ms(frame, backend, args.calls, args.repeats)
        result["per_frame_ms_640x480"] = drawing_ms(frame, args.calls, args.repeats)
        if not args.skip_run:
            result["run_end_to_end"] = run_fps(clip, Path(tmp), args.repeats)
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
