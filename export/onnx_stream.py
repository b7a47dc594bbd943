"""`ergoedge export RUN --out DIR --streaming`: a trained model's streaming step as ONNX with explicit state, and
the JSON manifest beside it that the device reads (`edge.streaming.model`).

    artifact = export_streaming("runs/es/best.pt", "out/")   # out/edge_stream_step.onnx + out/edge_stream_step.json

The graph: inputs `joints` (batch, J, 3) and `state_0` .. `state_{N-1}`; outputs the step's own (edge_stream:
`activity_logits` (batch, C), `reba` (batch,), `reba_partials` (batch, P)) and `next_state_0` .. `next_state_{N-1}`,
each shaped like its input. The batch axis is dynamic: one stream per row. Before a stream's first frame every state
tensor is zeros (the exporter checks that the model's `initial_state` is). The ONNX is checked by `onnx.checker`
(full check), simplified (onnxsim), its inferred shapes stored (`export/onnx_common.py`), and checked by parity: ONNX
Runtime, stepping seeded sequences frame by frame with the state fed back, must give what torch gives on the whole
sequences at once, within `PARITY_ATOL`; the figures go into the manifest. A model with a `delay` (edge_stream's
latency in frames, the manifest's `delay_frames`) gives frame t's outputs at step t + delay; parity steps past each
sequence's end with its last frame repeated, as the whole-sequence run does. The manifest is written last, so one
always describes a complete ONNX file."""

from __future__ import annotations

import inspect
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.artifacts import sha256_file
from edge.errors import InputError
from edge.paths import atomic_path, atomic_write, output_dir
from edge.streaming.model import KIND, MANIFEST_FORMAT, manifest_path, stepped_frames
from export.onnx_common import DEFAULT_OPSET, checkpoint_file, finish_graph, ort_session, provenance

# Largest difference allowed between the ONNX step by step and torch on whole sequences (float32 rounding).
PARITY_ATOL = 1e-4
# The parity sequences: streams, frames each (past the receptive field of small models), and their seed.
PARITY_STREAMS, PARITY_FRAMES, PARITY_SEED = 2, 96, 0
JOINTS = "joints"


@dataclass(frozen=True)
class StreamArtifact:
    onnx: Path
    manifest: Path
    max_abs_diff: float


class _Step:
    """The model's `step` as a module whose flat inputs and outputs ONNX can name (built lazily: torch)."""

    @staticmethod
    def make(model, output_names: list[str]):
        import torch

        class Step(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, joints, *state):
                out, new = self.model.step(tuple(state), joints)
                return (*(out[name] for name in output_names), *new)

        return Step().eval()


def _step_outputs(model, joints_count: int) -> tuple[list[str], tuple]:
    """The names of the step's outputs (in the order it returns them) and its initial state, checked to be zeros."""
    import torch

    if not (callable(getattr(model, "step", None)) and callable(getattr(model, "initial_state", None))):
        raise InputError(f"{type(model).__name__} has no streaming step (initial_state and step): export it "
                         "without --streaming")
    state = model.initial_state(1)
    if not all(torch.is_tensor(s) and not s.any() for s in state):
        raise InputError("the model's initial state is not all zeros, which the streaming manifest promises")
    with torch.no_grad():
        out, _ = model.step(state, torch.zeros(1, joints_count, 3))
    return list(out), state


def _export_graph(model, names: list[str], state: tuple, joints_count: int, path: Path, opset: int) -> tuple:
    import torch

    inputs = [JOINTS] + [f"state_{i}" for i in range(len(state))]
    outputs = names + [f"next_state_{i}" for i in range(len(state))]
    dynamic = {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; its graph is checked below
        torch.onnx.export(_Step.make(model, names), (torch.zeros(1, joints_count, 3), *state), str(path),
                          input_names=inputs, output_names=outputs, dynamic_axes=dynamic, opset_version=opset,
                          dynamo=False)
    return inputs, outputs


def _parity(model, path: Path, names: list[str], pairs: list[tuple[str, str, int]], joints_count: int,
            delay: int) -> dict:
    """ONNX Runtime frame by frame (state fed back: `pairs` of input, output and index in the model's state)
    against torch's whole-sequence forward, per output; step t + `delay` against frame t."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(PARITY_SEED)
    joints = (0.3 * rng.standard_normal((PARITY_STREAMS, PARITY_FRAMES, joints_count, 3))).astype(np.float32)
    joints[0, 10:20, 3] = np.nan  # unobserved joints: 0 inside the model, in both paths
    with torch.no_grad():
        whole = model({"joints": torch.from_numpy(joints),
                       "mask": torch.ones(joints.shape[:2], dtype=torch.bool)})
    session = ort_session(path)
    initial = model.initial_state(PARITY_STREAMS)
    feed = {i: initial[k].numpy() for i, _, k in pairs}
    worst = dict.fromkeys(names, 0.0)
    for t, frame in enumerate(stepped_frames(PARITY_FRAMES, delay)):
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {JOINTS: joints[:, frame], **feed})))
        if t >= delay:
            for name in names:
                diff = np.abs(got[name] - whole[name][:, t - delay].numpy()).max(initial=0.0)
                worst[name] = max(worst[name], float(diff))
        feed = {i: got[o] for i, o, _ in pairs}
    return {"streams": PARITY_STREAMS, "frames": PARITY_FRAMES, "seed": PARITY_SEED, "atol": PARITY_ATOL,
            "max_abs_diff": worst, "reference": "torch whole-sequence forward",
            "runtime": f"onnxruntime {ort.__version__}"}


def export_streaming(run: str | Path, out_dir: str | Path, opset: int = DEFAULT_OPSET,
                     simplify: bool = True) -> StreamArtifact:
    """Export the checkpoint of `run` (`checkpoint_file`) as `<model>_step.onnx` plus its manifest into `out_dir`;
    refused (nothing written) when the graph fails its checks or parity."""
    from edge.skeletons import get_layout
    from edge.train.checkpoint import load_checkpoint

    out = output_dir(out_dir)
    source = checkpoint_file(run)
    ckpt = load_checkpoint(source)
    model = ckpt.build()
    spec = ckpt.spec
    joints_count = get_layout(spec.layout).num_joints
    names, state = _step_outputs(model, joints_count)
    delay = int(getattr(ckpt.config, "delay", 0))
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / f"{ckpt.model}_step.onnx"
    with atomic_path(onnx_path, suffix=".onnx") as tmp:
        inputs, outputs = _export_graph(model, names, state, joints_count, tmp, opset)
        graph = finish_graph(tmp, simplify=simplify)
        # A state the step never reads (e.g. the previous frame without velocities) is no input of the graph.
        read = {row["name"] for row in graph["inputs"]}
        pairs = [(i, o, k) for k, (i, o) in enumerate(zip(inputs[1:], outputs[len(names):])) if i in read]
        parity = _parity(model, tmp, names, pairs, joints_count, delay)
        bad = {k: v for k, v in parity["max_abs_diff"].items() if not v <= PARITY_ATOL}
        if bad:
            raise InputError(f"the exported step differs from the torch model by {bad} (more than {PARITY_ATOL}); "
                             "nothing was written")
    manifest = {
        "format": MANIFEST_FORMAT, "kind": KIND, "onnx": onnx_path.name, "onnx_sha256": sha256_file(onnx_path),
        "opset": graph["opset"], "precision": "fp32", "inputs": graph["inputs"], "outputs": graph["outputs"],
        "joints_input": JOINTS, "delay_frames": delay,
        "state": [{"input": i, "output": o, "shape": list(state[k].shape[1:]), "dtype": "float32", "initial": 0.0}
                  for i, o, k in pairs],
        "state_layout": inspect.getdoc(model.initial_state),
        "preprocessing": (f"joints in {spec.layout}, metres, resampled to {spec.fps:g} fps by linear interpolation, "
                          "turned so that up is +z, root and body scale as `normalisation` says "
                          "(edge/train/normalise.py); unseen joints NaN"),
        **provenance(ckpt, source), "simplified": graph["simplified"], "parity": parity,
    }
    atomic_write(manifest_path(onnx_path), json.dumps(manifest, indent=1) + "\n")
    return StreamArtifact(onnx_path, manifest_path(onnx_path), max(parity["max_abs_diff"].values(), default=0.0))
