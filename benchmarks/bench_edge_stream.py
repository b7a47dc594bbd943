"""Benchmark: `edge_stream`, one frame at a time per stream, in torch and through ONNX Runtime.

Run: `.venv/bin/python benchmarks/bench_edge_stream.py [--threads 2] [--seconds 3] [--classes 17] [--batch 1]
[--velocity] [--root-lags 1,2,4,8,16] [--layers 7] [--members 3] [--no-onnx]`.
Builds the model with random weights from its default config (UW-IOM's 15 joints, `--classes` classes, the REBA
partials), then prints, as JSON:
- its size (parameters, state floats per stream, receptive field in frames);
- the torch step (`EdgeStream.step`, eval, inference mode) per call and in frames per second per stream;
- the whole-sequence forward over `--frames` frames, frames per second (what training and offline scoring pay);
- the step exported here to ONNX (torch.onnx.export, dynamo=False, state as explicit inputs and outputs; the
  product's exporter is issue 13's, not this script), its graph size, the largest difference from the torch
  step over 200 streamed frames, and ONNX Runtime's time per step (CPU provider, `--threads` intra-op threads,
  state fed back from the previous run's outputs), and as the device steps it (`bound_*`: the state kept in ONNX
  Runtime's buffers between steps, `edge.inference.ort_backend.OrtRecurrence`).
The acceptance target is 3000 frames per second per stream through ONNX Runtime on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def per_call_s(fn, seconds: float) -> float:
    for _ in range(20):  # warm-up
        fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def export_step(model, batch: int, path: Path) -> tuple[list[str], list[str]]:
    """The step as ONNX: inputs joints + state_i, outputs activity_logits, reba, reba_partials + next_state_i."""
    import torch

    state = model.initial_state(batch)

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, joints, *state):
            out, new = self.model.step(state, joints)
            return (out["activity_logits"], out["reba"], out["reba_partials"], *new)

    inputs = ["joints"] + [f"state_{i}" for i in range(len(state))]
    outputs = ["activity_logits", "reba", "reba_partials"] + [f"next_state_{i}" for i in range(len(state))]
    joints = torch.zeros(batch, model.num_joints, 3)
    torch.onnx.export(Step().eval(), (joints, *state), str(path), input_names=inputs, output_names=outputs,
                      opset_version=17, dynamo=False)
    return inputs, outputs


def bench_onnx(model, args, out: dict) -> None:
    import numpy as np
    import onnx
    import torch

    from edge.inference.ort_backend import OrtBackend

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edge_stream_step.onnx"
        inputs, outputs = export_step(model, args.batch, path)
        graph = onnx.load(str(path)).graph
        out["onnx"] = {"nodes": len(graph.node), "bytes": path.stat().st_size}
        # One session for both ways of stepping it, so they differ only in how the state travels.
        backend = OrtBackend(path, ("CPUExecutionProvider",), intra_op_threads=args.threads)
        sess = backend.session
    # a state tensor the step never reads (the previous frame without velocities) is no input of the graph
    graph_inputs = {i.name for i in sess.get_inputs()}
    pairs = [(k, name) for k, name in enumerate(inputs[1:]) if name in graph_inputs]
    out["onnx"]["state_inputs"] = len(pairs)

    wanted = outputs[:3] + [f"next_state_{k}" for k, _ in pairs]
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((200, args.batch, model.num_joints, 3)).astype(np.float32)
    initial = model.initial_state(args.batch)
    feeds = {"joints": frames[0], **{name: initial[k].numpy() for k, name in pairs}}
    torch_state, worst = initial, 0.0
    with torch.inference_mode():
        for frame in frames:
            feeds["joints"] = frame
            got = sess.run(wanted, feeds)
            ref, torch_state = model.step(torch_state, torch.from_numpy(frame))
            for name, value in zip(outputs[:3], got[:3]):
                worst = max(worst, float(np.abs(value - ref[name].numpy()).max()))
            feeds.update((name, value) for (_, name), value in zip(pairs, got[3:]))
    out["onnx"]["max_abs_diff_vs_torch"] = worst

    def ort_step():
        got = sess.run(wanted, feeds)
        feeds.update((name, value) for (_, name), value in zip(pairs, got[3:]))

    sec = per_call_s(ort_step, args.seconds)
    out["onnx"].update(step_us=round(sec * 1e6, 1), frames_per_s_per_stream=round(args.batch / sec))
    # As the device steps it (edge.streaming.model.Stream): the state kept in ONNX Runtime's buffers.
    stream = backend.recurrence("joints", [(name, f"next_{name}") for _, name in pairs],
                                [initial[k].numpy() for k, _ in pairs], outputs[:3])
    sec = per_call_s(lambda: stream.run(frames[0]), args.seconds)
    out["onnx"].update(bound_step_us=round(sec * 1e6, 1), bound_frames_per_s_per_stream=round(args.batch / sec))


def _lags(parser, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        parser.error(f"--root-lags takes whole frames separated by commas, got {text!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--classes", type=int, default=17)
    parser.add_argument("--batch", type=int, default=1, help="streams stepped together")
    parser.add_argument("--frames", type=int, default=2000, help="frames of the whole-sequence forward")
    parser.add_argument("--velocity", action="store_true", help="the config's velocity features on")
    parser.add_argument("--root-lags", default="", help="root-motion lags in frames, comma-separated (the "
                        "registry's default for real data: 1,2,4,8,16); none by default, as the default weights")
    parser.add_argument("--layers", type=int, default=None, help="residual layers a stage (the config's 8 by "
                        "default; the registry's causal default for real data: 7)")
    parser.add_argument("--members", type=int, default=1, help="models averaged, run side by side in one step "
                        "(the default weights: 5; this script's export is not simplified, so their weights are "
                        "joined inside the graph at every step: bench_activity.py --model measures the product's)")
    parser.add_argument("--no-onnx", action="store_true")
    args = parser.parse_args()

    import torch

    from edge.errors import InputError
    from edge.models.base import DataSpec
    from edge.models.edge_stream import EdgeStreamConfig, build

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        config = EdgeStreamConfig(data=DataSpec(classes=tuple(f"class_{i}" for i in range(args.classes))),
                                  velocity=args.velocity, root_lags=_lags(parser, args.root_lags),
                                  members=args.members,
                                  **({} if args.layers is None else {"layers": args.layers}))
    except InputError as err:
        parser.error(str(err))
    model = build(config).eval()
    state = model.initial_state(args.batch)
    out = {"config": {k: v for k, v in vars(config).items() if k != "data"}, "threads": args.threads,
           "batch": args.batch, "parameters": sum(p.numel() for p in model.parameters()),
           "state_floats_per_stream": sum(s[0].numel() for s in state),
           "receptive_field_frames_per_stage": config.receptive_field}

    frame = torch.randn(args.batch, model.num_joints, 3)
    with torch.inference_mode():
        holder = [state]

        def torch_step():
            holder[0] = model.step(holder[0], frame)[1]

        sec = per_call_s(torch_step, args.seconds)
        out["torch_step"] = {"step_us": round(sec * 1e6, 1), "frames_per_s_per_stream": round(args.batch / sec)}
        joints = torch.randn(1, args.frames, model.num_joints, 3)
        mask = torch.ones(1, args.frames, dtype=torch.bool)
        sec = per_call_s(lambda: model({"joints": joints, "mask": mask}), args.seconds)
        out["torch_forward"] = {"frames": args.frames, "frames_per_s": round(args.frames / sec)}
    if not args.no_onnx:
        bench_onnx(model, args, out)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
