"""`ergoedge export RUN --out DIR`: a trained model's whole-sequence forward as ONNX, for every model of the
registry, with the JSON manifest beside it.

    artifact = export_model("runs/mtl/best.pt", "out/")   # out/mtl_gcn_edtcn.onnx + out/mtl_gcn_edtcn.json

The graph: inputs are the batch entries the model reads at inference (`model.input_keys()`, named as in
`edge/models/base.py`: `joints` (batch, time, J, 3) float32, `keypoints2d` (batch, time, J, 3), `orientations`,
`mask` (batch, time) bool); outputs are the ones its task has (`activity_logits` (batch, time, C), `reba`,
`reba_partials`, `quality` (batch,), `joints3d`). Batch and time are dynamic axes. Checked (onnx.checker, full),
simplified (onnxsim), shapes inferred into the file, and refused unless ONNX Runtime gives what torch gives on
sequences of two other lengths, one padded (`mask` false at its end), within `PARITY_ATOL` relative to the output's
size; the figures go into the manifest, which is written last.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.artifacts import sha256_file
from edge.errors import InputError
from edge.paths import atomic_path, atomic_write, output_dir
from edge.streaming.model import MANIFEST_FORMAT, manifest_path
from export.onnx_common import DEFAULT_OPSET, checkpoint_file, finish_graph, ort_session, provenance

KIND = "sequence_model"
# The outputs a graph may have, in this order (edge/models/base.py); training-only ones (stages, latents) are left out.
OUTPUTS = ("activity_logits", "reba", "reba_partials", "quality", "joints3d")
PER_SEQUENCE = {"quality"}  # outputs with no time axis
# |onnx - torch| <= PARITY_ATOL * (1 + |torch|): float32 rounding through deep graphs grows with the values.
PARITY_ATOL = 1e-4
# Parity cases (batch, frames, padded frames at the end of the last sequence): lengths other than the export's
# example, so a time axis frozen by tracing shows; the padding checks the mask is honoured.
PARITY_CASES = ((2, 150, 40), (1, 37, 0))
EXAMPLE_FRAMES, PARITY_SEED = 64, 0


@dataclass(frozen=True)
class ModelArtifact:
    onnx: Path
    manifest: Path
    max_abs_diff: float


def example_inputs(keys: tuple[str, ...], joints_count: int, batch: int, frames: int, padded: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs shaped and ranged as the data loaders make them (normalised joints, box-normalised 2D keypoints with a
    confidence, unit quaternions); `mask` false on the last `padded` frames of the last sequence."""
    shape = (batch, frames, joints_count)
    made = {
        "joints": lambda: 0.3 * rng.standard_normal(shape + (3,)),
        "keypoints2d": lambda: rng.uniform(0.0, 1.0, shape + (3,)),
        "orientations": lambda: _unit(rng.standard_normal(shape + (4,))),
    }
    out = {}
    for key in keys:
        if key == "mask":
            mask = np.ones((batch, frames), dtype=bool)
            mask[-1, frames - padded:] = False
            out[key] = mask
        elif key in made:
            out[key] = made[key]().astype(np.float32)
        else:
            raise InputError(f"the exporter cannot make example input {key!r}; known: mask, {', '.join(made)}")
    return out


def _unit(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


class _Forward:
    """The model's forward as a module with flat, named inputs and outputs (built lazily: torch)."""

    @staticmethod
    def make(model, keys: tuple[str, ...], outputs: list[str]):
        import torch

        class Forward(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, *inputs):
                out = self.model(dict(zip(keys, inputs)))
                return tuple(out[name] for name in outputs)

        # eval() on the wrapper: the exporter restores the wrapper's mode afterwards, and a new module is in training
        return Forward().eval()


def _torch_outputs(model, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        out = model({k: torch.from_numpy(v) for k, v in feed.items()})
    return {k: v.numpy() for k, v in out.items() if k in OUTPUTS}


def _export_graph(model, keys, outputs, example, path: Path, opset: int) -> None:
    import torch

    dynamic = {k: {0: "batch", 1: "time"} for k in keys}
    dynamic.update({k: {0: "batch"} if k in PER_SEQUENCE else {0: "batch", 1: "time"} for k in outputs})
    args = tuple(torch.from_numpy(example[k]) for k in keys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; its graph is checked after
        torch.onnx.export(_Forward.make(model, keys, outputs), args, str(path), input_names=list(keys),
                          output_names=outputs, dynamic_axes=dynamic, opset_version=opset, dynamo=False)


def parity(model, path: Path, keys: tuple[str, ...], outputs: list[str], joints_count: int) -> dict:
    """ONNX Runtime against torch on `PARITY_CASES`, per output: the largest absolute difference over real frames and
    the largest difference relative to (1 + |torch|)."""
    rng = np.random.default_rng(PARITY_SEED)
    session = ort_session(path)
    read = {i.name for i in session.get_inputs()}
    worst = dict.fromkeys(outputs, 0.0)
    relative = dict.fromkeys(outputs, 0.0)
    for batch, frames, padded in PARITY_CASES:
        feed = example_inputs(keys, joints_count, batch, frames, padded, rng)
        want = _torch_outputs(model, feed)
        got = dict(zip(outputs, session.run(outputs, {k: v for k, v in feed.items() if k in read})))
        real = feed["mask"] if "mask" in feed else np.ones((batch, frames), dtype=bool)
        for name in outputs:
            a, b = got[name], want[name]
            if a.shape != b.shape:
                raise InputError(f"the exported graph's {name} has shape {a.shape}, torch's {b.shape}")
            if name not in PER_SEQUENCE:
                a, b = a[real], b[real]
            diff = np.abs(a.astype(np.float64) - b)
            worst[name] = max(worst[name], float(diff.max(initial=0.0)))
            relative[name] = max(relative[name], float((diff / (1.0 + np.abs(b))).max(initial=0.0)))
    return {"cases": [{"batch": b, "frames": f, "padded": p} for b, f, p in PARITY_CASES], "seed": PARITY_SEED,
            "atol": PARITY_ATOL, "rule": "|onnx - torch| <= atol * (1 + |torch|) over real frames",
            "max_abs_diff": worst, "max_rel_diff": relative, "reference": "torch forward",
            "runtime": f"onnxruntime {__import__('onnxruntime').__version__}"}


def export_model(run: str | Path, out_dir: str | Path, opset: int = DEFAULT_OPSET,
                 simplify: bool = True) -> ModelArtifact:
    """Export the checkpoint of `run` (a run directory or a .pt file) as `<model>.onnx` plus its manifest into
    `out_dir`; refused (nothing written) when the graph fails its checks or parity."""
    from edge.skeletons import get_layout
    from edge.train.checkpoint import load_checkpoint

    out = output_dir(out_dir)
    source = checkpoint_file(run)
    ckpt = load_checkpoint(source)
    model = ckpt.build().eval()
    spec = ckpt.spec
    joints_count = get_layout(spec.layout).num_joints
    keys = tuple(model.input_keys()) if callable(getattr(model, "input_keys", None)) else ("joints", "mask")
    example = example_inputs(keys, joints_count, 2, EXAMPLE_FRAMES, 0, np.random.default_rng(PARITY_SEED))
    outputs = [name for name in OUTPUTS if name in _torch_outputs(model, example)]
    if not outputs:
        raise InputError(f"{ckpt.model} returns none of the exportable outputs ({', '.join(OUTPUTS)})")
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / f"{ckpt.model}.onnx"
    with atomic_path(onnx_path, suffix=".onnx") as tmp:
        _export_graph(model, keys, outputs, example, tmp, opset)
        graph = finish_graph(tmp, simplify=simplify)
        checked = parity(model, tmp, keys, outputs, joints_count)
        bad = {k: v for k, v in checked["max_rel_diff"].items() if not v <= PARITY_ATOL}
        if bad:
            raise InputError(f"the exported graph differs from the torch model by {bad} (relative, more than "
                             f"{PARITY_ATOL}); nothing was written")
    manifest = {
        "format": MANIFEST_FORMAT, "kind": KIND, "onnx": onnx_path.name, "onnx_sha256": sha256_file(onnx_path),
        "opset": graph["opset"], "precision": "fp32", "inputs": graph["inputs"], "outputs": graph["outputs"],
        "input_keys": list(keys),
        "preprocessing": (f"batch entries as edge/models/base.py describes them, in {spec.layout}, resampled to "
                          f"{spec.fps:g} fps, joints normalised as `normalisation` says (edge/train/normalise.py)"),
        **provenance(ckpt, source), "simplified": graph["simplified"], "parity": checked,
    }
    atomic_write(manifest_path(onnx_path), json.dumps(manifest, indent=1) + "\n")
    return ModelArtifact(onnx_path, manifest_path(onnx_path), max(checked["max_abs_diff"].values()))
