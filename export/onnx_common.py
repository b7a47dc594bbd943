"""What both ONNX exports (whole sequence: `export/onnx_model.py`, streaming step: `export/onnx_stream.py`) share:
finding the checkpoint, the graph checks (onnx.checker's full check, shape inference kept in the file, onnxsim),
and the manifest fields that say where a graph came from."""

from __future__ import annotations

import dataclasses
import logging
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge import __version__
from edge.artifacts import sha256_file
from edge.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


def checkpoint_file(run: str | Path) -> Path:
    """RUN as the command line gives it: a training run directory (its best.pt) or a checkpoint file."""
    path = Path(run).expanduser()
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise InputError(f"no checkpoint at {path} (give a training run directory or a .pt file)")
    return path


def _rows(values) -> list[dict]:
    from onnx import helper

    return [{"name": v.name,
             "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
             "dtype": str(np.dtype(helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)))}
            for v in values]


def finish_graph(path: Path, simplify: bool = True) -> dict:
    """Check the ONNX at `path` (onnx.checker, full check), simplify it with onnxsim when asked (kept only if the
    simplified graph passes the same check), store the inferred shapes in the file, and return the graph's inputs
    and outputs as manifest rows, its opset and what the simplifier did."""
    import onnx

    model = onnx.load(str(path))
    _check(model, "the exported graph")
    simplified = {"tool": None, "nodes_before": len(model.graph.node)}
    if simplify:
        model, simplified = _simplify(model, simplified)
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.save(model, str(path))
    simplified["nodes_after"] = len(model.graph.node)
    return {"inputs": _rows(model.graph.input), "outputs": _rows(model.graph.output),
            "opset": model.opset_import[0].version, "simplified": simplified}


def _check(model, what: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise InputError(f"{what} fails onnx.checker: {str(exc).splitlines()[0]}") from None


def _simplify(model, record: dict):
    """onnxsim's constant folding and dead-node removal; its own check compares outputs on random inputs. A graph it
    cannot simplify is kept as exported (logged and recorded), since simplifying is an optimisation only."""
    try:
        import onnxsim
    except ImportError:
        raise InputError("onnxsim is not installed: pip install 'ergo-edge[export]' (or pass --no-simplify)") from None
    try:
        simpler, ok = onnxsim.simplify(model)
    except Exception as exc:  # onnxsim raises plain RuntimeErrors from C++ for graphs it does not handle
        ok, simpler, reason = False, None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    else:
        reason = "" if ok else "onnxsim's output check failed"
    if not ok:
        log.warning("kept the graph unsimplified: %s", reason)
        return model, {**record, "tool": f"onnxsim {onnxsim.__version__}", "applied": False, "reason": reason}
    _check(simpler, "the simplified graph")
    return simpler, {**record, "tool": f"onnxsim {onnxsim.__version__}", "applied": True}


def provenance(ckpt, source: Path) -> dict:
    """Manifest fields naming the checkpoint, the model's config and data, and the tools that made the graph."""
    import onnx
    import torch

    from edge.train.checkpoint import state_digest

    spec = ckpt.spec
    return {
        "model": ckpt.model, "task": ckpt.task, "ergo_edge_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "layout": spec.layout, "classes": list(spec.classes), "partials": list(spec.partials), "fps": spec.fps,
        "normalisation": dataclasses.asdict(ckpt.norm),
        "model_config": dataclasses.asdict(ckpt.config),
        "checkpoint": {"file": source.name, "sha256": sha256_file(source),
                       "state_digest": state_digest(ckpt.state_dict), "epoch": ckpt.epoch,
                       "ergo_edge_version": ckpt.version},
        "exporter": {"torch": torch.__version__, "onnx": onnx.__version__, "python": platform.python_version(),
                     "torch_onnx_dynamo": False},
    }


def ort_session(path: Path):
    """A one-thread ONNX Runtime CPU session for the parity checks (no spinning: other work shares the cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
