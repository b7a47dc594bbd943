"""Benchmark: the device's activity stage, the exported `edge_stream` step one frame at a time per stream.

Run: `.venv/bin/python benchmarks/bench_activity.py [--model STEP.onnx] [--seconds 3]`.
Without --model, an `edge_stream` of the default config (UW-IOM's 15 joints, 5 classes, the REBA partials) with
random weights is saved as a checkpoint and exported by the product's exporter (`export/onnx_stream.py`); speed does
not depend on the weights. Prints, as JSON:
- the step through each backend (`edge.inference`; ONNX Runtime CPU with 1 and 2 intra-op threads, OpenVINO CPU),
  state fed back from the previous step's outputs as the device does: microseconds a step and frames per second
  per stream (the acceptance target: 3000 through ONNX Runtime on 2 CPU cores);
- the step as the device runs it (`device_stream`: `edge.streaming.model.Stream` on the backend the run picks, on
  ONNX Runtime the state kept in its buffers between steps);
- the whole per-person path of `ergoedge run` (`edge.streaming.activity.PersonActivity.update`: BlazePose-33
  joints -> the model's layout, 30 fps -> the model's 10 fps by interpolation, normalisation, the step on the
  backend the run picks): microseconds per camera frame and per model step.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def per_call_s(fn, seconds: float) -> float:
    for _ in range(50):  # warm-up
        fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def export_default(tmp: Path) -> Path:
    import torch

    from edge.models.base import DataSpec
    from edge.models.edge_stream import EdgeStreamConfig, build
    from edge.train.checkpoint import save_checkpoint
    from edge.train.config import NormConfig
    from export.onnx_stream import export_streaming

    torch.manual_seed(0)
    config = EdgeStreamConfig(data=DataSpec(classes=("walk", "stand", "bend", "reach_high", "handle_mid")))
    ckpt = save_checkpoint(tmp / "random.pt", "edge_stream", config, build(config).eval(), NormConfig(), 0, {})
    return export_streaming(ckpt, tmp).onnx


def bench_backend(path: Path, backend: str, options: dict, seconds: float) -> dict:
    from edge.inference.backends import open_backend
    from edge.streaming.model import read_manifest

    manifest = read_manifest(path)
    runtime = open_backend(path, backend, **options)
    pairs = [(s["input"], s["output"]) for s in manifest["state"]]
    feed = {s["input"]: np.zeros([1, *s["shape"]], np.float32) for s in manifest["state"]}
    feed[manifest["joints_input"]] = np.random.default_rng(0).standard_normal((1, 15, 3)).astype(np.float32)

    def step():
        out = runtime.infer(feed)
        for name_in, name_out in pairs:
            feed[name_in] = out[name_out]

    sec = per_call_s(step, seconds)
    return {"backend": backend, **options, "step_us": round(sec * 1e6, 1), "frames_per_s_per_stream": round(1 / sec)}


def bench_stream(path: Path, seconds: float) -> dict:
    from edge.streaming.model import open_stream_model

    model = open_stream_model(path)
    stream = model.new_stream()
    joints = np.random.default_rng(0).standard_normal((15, 3)).astype(np.float32)
    sec = per_call_s(lambda: stream.step(joints), seconds)
    return {"backend": model.backend_name, "bound": stream._bound is not None, "step_us": round(sec * 1e6, 1),
            "frames_per_s_per_stream": round(1 / sec)}


def bench_person(path: Path, seconds: float) -> dict:
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.streaming.model import open_stream_model
    from edge.streaming.activity import LayoutMap, PersonActivity

    model = open_stream_model(path)
    joints = example_lift_sequence(seconds=20.0, fps=30, layout="blazepose33", up="z")
    person = PersonActivity(model, LayoutMap("blazepose33", model.layout))
    up = np.array([0.0, 0.0, 1.0])
    frame = [0]

    def update():
        i = frame[0]
        person.update(i / 30.0, joints[i % len(joints)], up)
        frame[0] += 1

    sec = per_call_s(update, seconds)
    return {"backend": model.backend_name, "camera_fps": 30, "model_fps": model.fps,
            "per_camera_frame_us": round(sec * 1e6, 1), "per_model_step_us": round(sec * 1e6 * 30 / model.fps, 1),
            "steps": model.steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an exported step (.onnx with its manifest); default: a random default one")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.model) if args.model else export_default(Path(tmp))
        result = {"model": str(path) if args.model else "edge_stream default config, random weights",
                  "onnx_bytes": path.stat().st_size, "backends": []}
        for backend, options in (("onnxruntime", {"intra_op_threads": 1}), ("onnxruntime", {"intra_op_threads": 2}),
                                 ("openvino", {})):
            try:
                result["backends"].append(bench_backend(path, backend, options, args.seconds))
            except Exception as exc:  # a runtime missing here is reported, the others still measured
                result["backends"].append({"backend": backend, "error": str(exc).splitlines()[0]})
        result["device_stream"] = bench_stream(path, args.seconds)
        result["person_stream"] = bench_person(path, args.seconds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
