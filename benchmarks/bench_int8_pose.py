"""Benchmark: BlazePose INT8 against FP32 on CPU, side by side in one process: ms per call (median, p90), speed-up,
and what INT8 does to the answers on held-out real frames (landmark shift in the 256-px crop and in the frame;
detector box IoU and score against FP32).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_int8_pose.py [--out DIR] [--rounds 30] [--block 10] \\
        [--recipes landmarks_cpu,landmarks_tensorrt,...] [--sensitivity]

Calibration and held-out inputs come from `calibration.frames.read_pose_frames` (real footage, the run's own
preprocessing); INT8 models from `calibration.pose_recipe.quantize_pose_model` (RECIPES). Runtimes: ONNX Runtime as
edge/inference/ort_backend.py makes sessions (2 threads, spinning off), OpenVINO as openvino_backend.py (latency
hint, f32), and for the TensorRT form also "qdq-ref": ONNX Runtime with graph optimisations off, which computes
exactly what the QDQ graph says (the semantics TensorRT implements); ONNX Runtime's optimised CPU path computes
some partially-quantized graphs differently (see the report). Speed: every model of one runtime is called
`--block` times in turn, for `--rounds` rounds, so FP32 and INT8 see the same machine load; the spread is the range
of the per-round speed-ups. `--sensitivity` adds a per-layer pass (each Conv/Add/Resize alone in int8, CPU form,
landmark shift on a subset of the calibration crops).

Writes `<out>/bench_int8_pose.json` (default out: a new temporary directory) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from calibration.pose_stage import QdqReference, detector_agreement, landmark_shift

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_RECIPES = "landmarks_cpu,landmarks_tensorrt,detector_cpu,detector_tensorrt"


class _QdqBackend(QdqReference):
    """The pose stage's reference runner behind the backends' `infer` interface."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.input_specs = {i.name: None for i in self._session.get_inputs()}

    def infer(self, feed):
        return self.outputs([feed])[0]


def _open(path: Path, runtime: str):
    from edge.inference.openvino_backend import OpenVinoBackend
    from edge.inference.ort_backend import OrtBackend

    if runtime == "onnxruntime":
        return OrtBackend(path, intra_op_threads=2, allow_spinning=False)
    if runtime == "qdq-ref":
        return _QdqBackend(path)
    return OpenVinoBackend(path)


def _run(backend, feeds: list[dict]) -> list[dict]:
    name = next(iter(backend.input_specs))
    return [backend.infer({name: next(iter(f.values()))}) for f in feeds]


def speed(backends: dict, feed: np.ndarray, rounds: int, block: int) -> dict:
    """Round-robin timing; ms per call by key, and per-round medians for the spread."""
    names = {k: next(iter(b.input_specs)) for k, b in backends.items()}
    for key, backend in backends.items():
        for _ in range(5):
            backend.infer({names[key]: feed})
    times = {k: [] for k in backends}
    per_round = {k: [] for k in backends}
    for _ in range(rounds):
        for key, backend in backends.items():
            this = []
            for _ in range(block):
                start = time.perf_counter()
                backend.infer({names[key]: feed})
                this.append((time.perf_counter() - start) * 1000)
            times[key] += this
            per_round[key].append(statistics.median(this))
    return {k: {"median_ms": statistics.median(v), "p90_ms": float(np.percentile(v, 90)),
                "round_medians": per_round[k]} for k, v in times.items()}


def _runtimes(path: Path, recipe) -> list[str]:
    return ["onnxruntime", "openvino"] + (["qdq-ref"] if recipe.form == "tensorrt" else [])


def _measure_model(model: str, fp32: Path, int8: dict, frames, args) -> list[dict]:
    """Rows for one model: FP32 and each INT8 recipe on each runtime."""
    from calibration.pose_recipe import RECIPES

    held = frames.held_out
    is_lm = model == "pose_landmark_full"
    feeds = held.landmark_feeds if is_lm else held.detector_feeds
    ref = _run(_open(fp32, "onnxruntime"), feeds)
    rows = []
    for runtime in ("onnxruntime", "openvino"):
        backends = {"fp32": _open(fp32, runtime)}
        for name, path in int8.items():
            if runtime in _runtimes(path, RECIPES[name]):
                backends[name] = _open(path, runtime)
        timing = speed(backends, next(iter(feeds[0].values())), args.rounds, args.block)
        base = timing["fp32"]
        for key, t in timing.items():
            ratios = [f / i for f, i in zip(base["round_medians"], t["round_medians"])]
            row = {"model": model, "runtime": runtime, "variant": key, "median_ms": round(t["median_ms"], 3),
                   "p90_ms": round(t["p90_ms"], 3), "speedup": round(base["median_ms"] / t["median_ms"], 3),
                   "speedup_round_range": [round(min(ratios), 3), round(max(ratios), 3)]}
            if key != "fp32":
                got = _run(backends[key], feeds)
                row["accuracy"] = (landmark_shift(ref, got, held.to_frame, held.landmark_origin) if is_lm
                                   else detector_agreement(ref, got))
            rows.append(row)
    for name, path in int8.items():  # accuracy only: the TensorRT form's exact QDQ arithmetic
        if "qdq-ref" in _runtimes(path, RECIPES[name]):
            got = _run(_open(path, "qdq-ref"), feeds)
            rows.append({"model": model, "runtime": "qdq-ref", "variant": name,
                         "accuracy": (landmark_shift(ref, got, held.to_frame, held.landmark_origin) if is_lm
                                      else detector_agreement(ref, got))})
    return rows


def sensitivity(fp32: Path, frames, out: Path, limit: int) -> list[tuple[str, float]]:
    """Each Conv/Add/Resize alone in int8 (CPU form, MinMax), landmark shift (crop px) on every 5th calibration
    crop; most sensitive first."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from calibration.quantize import quiet_quantizer, feed_reader

    feeds = frames.landmarks.feeds
    subset = feeds[::5]
    ref = _run(_open(fp32, "onnxruntime"), subset)
    eye = np.repeat(np.eye(2, 3)[None], len(subset), 0)
    cache = out / "sensitivity_ranges.json"
    nodes = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in ("Conv", "Add", "Resize")]
    result = []
    for node in nodes[:limit]:
        path = out / "sensitivity_tmp.onnx"
        with quiet_quantizer():
            quantize_static(str(fp32), str(path), feed_reader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_quantize=[node],
                            calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(cache),
                            extra_options={"WeightSymmetric": True})
        shift = landmark_shift(ref, _run(_open(path, "qdq-ref"), subset), eye, [("calib", 0)] * len(subset))
        result.append((node, round(shift["crop_median_px"], 3)))
    return sorted(result, key=lambda r: -r[1])


def _table(rows: list[dict]) -> str:
    lines = [(f"{'model':20s} {'runtime':12s} {'variant':20s} {'ms med':>7s} {'ms p90':>7s} {'x':>6s} "
              f"{'x range':>13s}  accuracy vs FP32")]
    for r in rows:
        acc = r.get("accuracy") or {}
        if "crop_median_px" in acc:
            text = (f"crop {acc['crop_median_px']:.2f}/{acc['crop_p90_px']:.2f} px (med/p90), frame "
                    f"{acc['frame_median_px']:.2f}/{acc['frame_p90_px']:.2f} px")
        elif acc:
            text = (f"same presence {acc['same_presence']:.3f}, IoU med {acc['box_iou_median']:.3f} "
                    f"min {acc['box_iou_min']:.3f}, score diff {acc['score_diff_median']:.4f}")
        else:
            text = ""
        if "median_ms" in r:
            rng = f"{r['speedup_round_range'][0]:.2f}-{r['speedup_round_range'][1]:.2f}"
            lines.append(f"{r['model']:20s} {r['runtime']:12s} {r['variant']:20s} {r['median_ms']:7.2f} "
                         f"{r['p90_ms']:7.2f} {r['speedup']:6.2f} {rng:>13s}  {text}")
        else:
            lines.append(f"{r['model']:20s} {r['runtime']:12s} {r['variant']:20s} {'':7s} {'':7s} {'':6s} "
                         f"{'':>13s}  {text}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output directory (default: a new temporary directory)")
    parser.add_argument("--models-dir")
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    parser.add_argument("--recipes", default=_DEFAULT_RECIPES)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--sensitivity", action="store_true")
    parser.add_argument("--sensitivity-limit", type=int, default=1000, help="first N nodes only")
    args = parser.parse_args(argv)

    from calibration.frames import FrameSpec, read_pose_frames
    from calibration.pose_recipe import RECIPES, PoseRecipe, prepare_fp32, quantize_pose_model
    from edge.artifacts import model_path
    from edge.paths import atomic_write, output_dir

    out = output_dir(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_int8_pose_"))
    out.mkdir(parents=True, exist_ok=True)
    frames = read_pose_frames(FrameSpec(footage=args.footage, models_dir=args.models_dir))
    result = {"calibration": {"landmarks": frames.landmarks.source, "detector": frames.detector.source,
                              "landmark_digest": frames.landmarks.digest, "detector_digest": frames.detector.digest},
              "held_out": {"landmark_crops": len(frames.held_out.landmark_feeds),
                           "detector_frames": len(frames.held_out.detector_feeds)},
              "rounds": args.rounds, "block": args.block, "recipes": {}, "rows": []}
    for model in ("pose_landmark_full", "pose_detection"):
        names = [n for n in args.recipes.split(",") if n and RECIPES[n].model == model]
        if not names:
            continue
        source = model_path(model, args.models_dir)
        fp32 = prepare_fp32(source, PoseRecipe(model), out / f"{model}_fp32.onnx")
        calib = frames.landmarks if model == "pose_landmark_full" else frames.detector
        int8 = {}
        for name in names:
            start = time.perf_counter()
            int8[name] = quantize_pose_model(source, calib, RECIPES[name], out / f"{model}_int8_{name}.onnx")
            result["recipes"][name] = {"path": str(int8[name]), "seconds": round(time.perf_counter() - start, 1)}
        result["rows"] += _measure_model(model, fp32, int8, frames, args)
        if args.sensitivity and model == "pose_landmark_full":
            result["sensitivity"] = sensitivity(fp32, frames, out, args.sensitivity_limit)
    print(_table(result["rows"]))
    if "sensitivity" in result:
        print("most sensitive nodes (alone in int8, crop px):", result["sensitivity"][:10])
    path = atomic_write(out / "bench_int8_pose.json", json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
