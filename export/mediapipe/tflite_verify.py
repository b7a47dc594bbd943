"""The parity check of a converted model: ONNX Runtime against the TFLite interpreter on the same inputs, with
TFLite's own float32 noise floor for scale, and the converter's DENSIFY decoding against the interpreter's.

Part of the converter that `tflite_onnx.py` runs in the tools venv: imports numpy at module level and
`ai_edge_litert` and `onnxruntime` inside `verify`, never `edge`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Run as a script in the tools venv (no ergo-edge there) the converter's modules are top-level modules of the
# script's folder; imported from ergo-edge they are modules of the package export.mediapipe.
if __package__:
    from .tflite_graph import densify, read_graph
else:
    from tflite_graph import densify, read_graph


class VerificationError(Exception):
    """The ONNX model cannot be compared with the TFLite model (names or shapes differ)."""


def _samples(shape, lo: float, hi: float, n_random: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [rng.uniform(lo, hi, size=shape).astype(np.float32) for _ in range(n_random)]
    if len(shape) == 4:  # a smooth synthetic image: low-frequency gradients and a bright disc, per channel
        _, h, w, c = shape
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        y, x = y / max(h - 1, 1), x / max(w - 1, 1)
        chans = []
        for k in range(c):
            img = 0.5 + 0.3 * np.sin(2 * np.pi * (x * (1 + k) + 0.5 * y)) * np.cos(2 * np.pi * y * (1.5 - 0.3 * k))
            img += 0.4 * (((x - 0.5) ** 2 + (y - 0.45) ** 2) < 0.05)
            chans.append(np.clip(img, 0, 1))
        smooth = np.stack(chans, -1)[None]
        out.append((lo + (hi - lo) * smooth).astype(np.float32).reshape(shape))
    else:
        out.append(np.full(shape, (lo + hi) / 2, np.float32))
    return out




def verify(tflite_path, onnx_path, input_range=(-1.0, 1.0), tolerance: float = 1e-3, samples: int = 3,
           seed: int = 0) -> dict:
    """Run TFLite (ai-edge-litert, default CPU path with XNNPACK) and ONNX Runtime (CPU) on `samples` uniform random
    inputs in `input_range` plus one smooth synthetic image; report per output the max abs difference and that
    difference relative to the output's scale (max |value|, at least 1). `ok` is False when a relative difference
    exceeds `tolerance` or a decoded DENSIFY constant differs from the interpreter's own.

    For scale, `tflite_kernels_diff` is how far TFLite's two CPU paths (XNNPACK and its builtin kernels) differ from
    each other on the same inputs: the float32 noise floor of the model.
    """
    import onnxruntime as ort

    tflite_path, onnx_path = Path(tflite_path), Path(onnx_path)
    lo, hi = float(input_range[0]), float(input_range[1])
    if not lo < hi:
        raise VerificationError(f"empty input range [{lo}, {hi}]")
    interp, builtin = _interpreters(tflite_path)
    sess_opts = ort.SessionOptions()
    sess_opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), sess_opts, providers=["CPUExecutionProvider"])
    in_details = interp.get_input_details()
    _check_names(in_details, interp.get_output_details(), sess)
    per_input = {d["name"]: _samples(tuple(int(v) for v in d["shape"]), lo, hi, samples, seed) for d in in_details}
    stats = _compare(interp, builtin, sess, per_input, samples + 1)
    densify_ops, densify_diff = _densify_check(tflite_path, builtin)

    outputs = {}
    ok = densify_diff in (None, 0.0)
    for name, (shape, diff, floor, scale) in stats.items():
        rel = diff / max(scale, 1.0)
        ok = ok and rel <= tolerance
        outputs[name] = {"shape": shape, "max_abs_diff": diff, "max_abs_value": scale,
                         "relative_diff": rel, "tflite_kernels_diff": floor}
    return {
        "ok": bool(ok),
        "tolerance": tolerance,
        "samples": samples + 1,
        "seed": seed,
        "input_range": [lo, hi],
        "outputs": outputs,
        "densify_ops": densify_ops,
        "densify_max_abs_diff": densify_diff,
        "reference": "ai-edge-litert default CPU path (XNNPACK)",
        "onnxruntime": ort.__version__,
    }


def _interpreters(tflite_path: Path):
    """The reference (default CPU path, XNNPACK) and the builtin-kernels interpreter that keeps every tensor."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(tflite_path), num_threads=2)
    interp.allocate_tensors()
    with warnings.catch_warnings():  # preserving all tensors warns that it is meant for debugging: it is
        warnings.simplefilter("ignore")
        builtin = Interpreter(model_path=str(tflite_path), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    builtin.allocate_tensors()
    return interp, builtin


def _check_names(in_details, out_details, sess) -> None:
    onnx_inputs = sorted(i.name for i in sess.get_inputs())
    onnx_outputs = [o.name for o in sess.get_outputs()]
    if onnx_inputs != sorted(d["name"] for d in in_details):
        raise VerificationError(f"input names differ: ONNX {onnx_inputs}, TFLite {[d['name'] for d in in_details]}")
    if sorted(onnx_outputs) != sorted(d["name"] for d in out_details):
        raise VerificationError(f"output names differ: ONNX {onnx_outputs}, TFLite {[d['name'] for d in out_details]}")


def _compare(interp, builtin, sess, per_input: dict, n_samples: int) -> dict[str, tuple[list, float, float, float]]:
    """Per TFLite output, in TFLite's order: (shape, max |ONNX - TFLite|, max |builtin - TFLite|, max |TFLite|)."""
    in_details, out_details = interp.get_input_details(), interp.get_output_details()
    onnx_outputs = [o.name for o in sess.get_outputs()]
    names = [d["name"] for d in out_details]
    diff = dict.fromkeys(names, 0.0)
    floor = dict.fromkeys(names, 0.0)
    scale = dict.fromkeys(names, 0.0)
    shapes = {}
    for k in range(n_samples):
        feed = {name: xs[k] for name, xs in per_input.items()}
        for it in (interp, builtin):
            for d in in_details:
                it.set_tensor(d["index"], feed[d["name"]])
            it.invoke()
        ref = {d["name"]: interp.get_tensor(d["index"]).astype(np.float64) for d in out_details}
        alt = {d["name"]: builtin.get_tensor(d["index"]).astype(np.float64) for d in out_details}
        got = dict(zip(onnx_outputs, sess.run(onnx_outputs, feed)))
        for name in names:
            r, g = ref[name], got[name]
            if g.shape != r.shape:
                raise VerificationError(f"output {name}: ONNX shape {list(g.shape)} != TFLite {list(r.shape)}")
            shapes[name] = list(r.shape)
            diff[name] = max(diff[name], float(np.max(np.abs(g - r))))
            floor[name] = max(floor[name], float(np.max(np.abs(alt[name] - r))))
            scale[name] = max(scale[name], float(np.max(np.abs(r))))
    return {name: (shapes[name], diff[name], floor[name], scale[name]) for name in names}


def _densify_check(tflite_path: Path, builtin) -> tuple[int, float | None]:
    """The DENSIFY ops and the max difference of `densify` from the interpreter's own decoding (its builtin kernel;
    XNNPACK bypasses the op), None without DENSIFY ops and inf on a shape mismatch."""
    graph = read_graph(tflite_path.read_bytes())
    densify_ops = [op for op in graph.ops if op.name == "DENSIFY"]
    densify_diff = None
    if densify_ops:
        densify_diff = 0.0
        for op in densify_ops:
            t = graph.tensors[op.inputs[0]]
            sp = t.sparsity
            mine = densify(t.data, t.shape, sp["traversal_order"], sp["block_map"], sp["levels"])
            theirs = builtin.get_tensor(op.outputs[0])
            if theirs.shape != mine.shape:
                densify_diff = float("inf")
                break
            densify_diff = max(densify_diff, float(np.max(np.abs(mine.astype(np.float64) - theirs))))
    return len(densify_ops), densify_diff
