"""`ergoedge verify DIR`: do the models in DIR still give the same answers, and will TensorRT take them?

For every ONNX with a manifest in DIR (what `ergoedge export` and `ergoedge calibrate` write there):

- the file is the one its manifest describes (sha256);
- TensorRT's ONNX parser, without a GPU (`export/parser_check.py`): accepted or not, the nodes it lacks, and an
  operator report;
- parity against the FP32 graph it was made from (found in DIR by the sha256 its manifest records; a graph whose
  FP32 source in DIR has changed since, e.g. exported again from another checkpoint, fails as stale) on the same inputs
  (seeded synthetic workers, normalised as in training) through ONNX Runtime: for a streaming step, `PARITY_FRAMES`
  frames stepped with each graph's own state fed back; for a sequence model, whole sequences. The error is max |x -
  fp32| / (1 + max |fp32|) per output, held to `TOLERANCE[precision]`; activity logits also count the frames whose
  class differs (`MIN_CLASS_AGREEMENT`). Accuracy on held-out real data is the calibration report's job
  (`int8_bar_passed` in an INT8 manifest, shown);
- with `--checkpoint`, the FP32 graph against torch on the same inputs;
- TensorRT engines in DIR (`*.engine` with manifests from `ergoedge build`) against their ONNX, where TensorRT and a
  GPU are; elsewhere each is listed as not run, with the reason.

The report goes to DIR/verify.json; `verify` returns it with `passed` False when any check failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.artifacts import check_skeleton_manifest, read_sidecar, sha256_file
from edge.errors import InputError
from edge.paths import atomic_write

# Largest error (module doc) per precision: float32 rounding; float16's 11-bit mantissa through a few layers; int8's
# 256 levels per tensor (inputs like the training data's, not its exact distribution).
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2, "int8": 0.1}
MIN_CLASS_AGREEMENT = {"fp32": 1.0, "fp16": 0.99, "int8": 0.9}
PARITY_FRAMES, PARITY_BATCH, SEED = 64, 2, 0
_HINT = "export the model again (`ergoedge export`, `calibrate`, `build` write these)"


def _manifests(directory: Path) -> dict[Path, dict]:
    found = {}
    for onnx_path in sorted(directory.glob("*.onnx")):
        sidecar = onnx_path.with_suffix(".json")
        if sidecar.is_file():
            found[onnx_path] = read_sidecar(onnx_path, _HINT)
            check_skeleton_manifest(found[onnx_path], sidecar, _HINT)
    return found


def _inputs(manifest: dict) -> dict[str, np.ndarray]:
    """The same inputs for every graph of one family: synthetic workers (edge.datasets.synth, seeded) in the model's
    layout and frame rate, normalised as in training, so that the values lie where an INT8 graph was calibrated
    (random numbers do not; they would saturate its ranges and say nothing)."""
    from dataclasses import replace

    from edge.config import from_mapping
    from edge.datasets.sequence import resample
    from edge.datasets.synth.generator import SynthConfig, generate
    from edge.train.config import NormConfig
    from edge.train.normalise import normalise_joints, normalise_keypoints

    seq = resample(generate(0.5, SEED, replace(SynthConfig(), layouts=(manifest["layout"],)))[0],
                   float(manifest["fps"]))
    norm = from_mapping(NormConfig, manifest["normalisation"], f"the manifest of {manifest.get('onnx')}: normalisation")
    joints, _ = normalise_joints(seq.joints, seq.up, seq.layout, norm)
    arrays = {"joints": joints}
    if seq.keypoints2d is not None:
        arrays["keypoints2d"] = normalise_keypoints(seq.keypoints2d)
    if len(joints) < PARITY_BATCH * PARITY_FRAMES:
        raise InputError(f"the synthetic parity recording is too short ({len(joints)} frames)")
    # consecutive stretches of the one recording, one per batch row
    made = {k: v[:PARITY_BATCH * PARITY_FRAMES].reshape(PARITY_BATCH, PARITY_FRAMES, *v.shape[1:]).astype(np.float32)
            for k, v in arrays.items()}
    if manifest.get("kind") == "streaming_step":
        return {"joints": made["joints"]}
    keys = manifest.get("input_keys") or [r["name"] for r in manifest["inputs"]]
    feed = {"mask": np.ones(made["joints"].shape[:2], dtype=bool)}
    feed.update({k: made[k] for k in keys if k in made})
    missing = [k for k in keys if k not in feed]
    if missing:
        raise InputError(f"verify cannot make the input(s) {', '.join(missing)} of {manifest.get('model')}")
    return {k: feed[k] for k in keys}


def run_model(backend, manifest: dict, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of an `edge.inference` backend on `feed`; a streaming step is stepped over the time axis with its
    state fed back (zeros first, as the manifest promises), its outputs stacked to (batch, time, ...). A step with a
    delay (the manifest's delay_frames) is stepped that much past the end with the last frame repeated, and frame
    t's outputs are step t + delay's, as the whole-sequence run gives them."""
    read = set(backend.input_specs)
    if manifest.get("kind") != "streaming_step":
        return backend.infer({k: v for k, v in feed.items() if k in read})
    joints = feed["joints"]
    pairs = [s for s in manifest["state"] if s["input"] in read]
    state = {s["input"]: np.zeros((joints.shape[0], *s["shape"]), np.float32) for s in pairs}
    fed_back = {s["output"] for s in manifest["state"]}
    frames: dict[str, list] = {}
    from edge.streaming.model import delay_frames, stepped_frames

    delay = delay_frames(manifest)
    for t, frame in enumerate(stepped_frames(joints.shape[1], delay)):
        got = backend.infer({manifest["joints_input"]: joints[:, frame], **state})
        state = {s["input"]: got[s["output"]] for s in pairs}
        for name, value in got.items():
            if name not in fed_back and t >= delay:
                frames.setdefault(name, []).append(value)
    return {k: np.stack(v, axis=1) for k, v in frames.items()}


def _run(path: Path, manifest: dict, feed: dict[str, np.ndarray], backend: str = "onnxruntime") -> dict:
    from edge.inference.backends import open_backend

    options = {"intra_op_threads": 1} if backend == "onnxruntime" else {}
    model = open_backend(path, backend, **options)
    try:
        return run_model(model, manifest, feed)
    finally:
        getattr(model, "close", lambda: None)()


def compare(got: dict[str, np.ndarray], want: dict[str, np.ndarray], precision: str) -> dict:
    """Per output the error (module doc) and, for activity logits, the share of frames with the reference's class;
    `passed` against this precision's tolerances."""
    rows, passed = {}, True
    for name, ref in want.items():
        if name not in got or got[name].shape != ref.shape:
            rows[name] = {"error": "missing or shaped differently"}
            passed = False
            continue
        ref64 = ref.astype(np.float64)
        # An output with nothing in it (a model without REBA partials) differs by nothing.
        error = float(np.abs(got[name] - ref64).max(initial=0.0) / (1.0 + np.abs(ref64).max(initial=0.0)))
        row = {"error": error, "tolerance": TOLERANCE[precision]}
        ok = error <= TOLERANCE[precision]
        if name == "activity_logits":
            agree = float((got[name].argmax(-1) == ref.argmax(-1)).mean())
            row.update(class_agreement=agree, min_class_agreement=MIN_CLASS_AGREEMENT[precision])
            ok = ok and agree >= MIN_CLASS_AGREEMENT[precision]
        row["passed"] = ok
        passed = passed and ok
        rows[name] = row
    return {"outputs": rows, "passed": passed}


def _torch_outputs(checkpoint: Path, manifest: dict, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import torch

    from edge.train.checkpoint import load_checkpoint
    from export.onnx_common import checkpoint_file
    from export.onnx_model import OUTPUTS

    ckpt = load_checkpoint(checkpoint_file(checkpoint))
    if ckpt.model != manifest.get("model"):
        raise InputError(f"--checkpoint holds {ckpt.model}, the graphs in DIR are {manifest.get('model')}")
    batch = {k: torch.from_numpy(v) for k, v in feed.items()}
    batch.setdefault("mask", torch.ones(feed["joints"].shape[:2], dtype=torch.bool))
    with torch.no_grad():
        out = ckpt.build()(batch)
    return {k: v.numpy() for k, v in out.items() if k in OUTPUTS}


def _parser(path: Path) -> dict:
    from export.parser_check import check_parser

    try:
        report = check_parser(path)
    except InputError as exc:  # no parser installed here: said, and counted as not run rather than passed
        return {"ran": False, "reason": str(exc)}
    return {"ran": True, "accepted": report.accepted, "unsupported": list(report.unsupported),
            "errors": list(report.errors), "operators": report.operators, "parser": report.parser}


def _engines(directory: Path, by_sha: dict[str, Path], graphs: dict[Path, dict]) -> list[dict]:
    """Each engine in DIR against the ONNX it was built from (ONNX Runtime), where TensorRT can run it; held to the
    tolerance of the engine's precision."""
    from edge.inference.engine_cache import tensorrt_unusable

    rows = []
    for engine in sorted(directory.glob("*.engine")):
        manifest = read_sidecar(engine, _HINT) if engine.with_suffix(".json").is_file() else {}
        source = by_sha.get(str(manifest.get("onnx_sha256", "")))
        reason = tensorrt_unusable()
        if source is None:
            rows.append({"engine": engine.name, "ran": False, "reason": "its ONNX is not in DIR (by sha256)"})
        elif reason is not None:
            rows.append({"engine": engine.name, "onnx": source.name, "ran": False, "reason": reason})
        else:
            feed = _inputs(graphs[source])
            rows.append({"engine": engine.name, "onnx": source.name, "ran": True,
                         **compare(_run(engine, graphs[source], feed, "tensorrt"), _run(source, graphs[source], feed),
                                   str(manifest.get("precision", "fp32")))})
    return rows


def verify(directory: str | Path, checkpoint: str | Path | None = None) -> dict:
    """Check every model in `directory` (module doc) and write `verify.json` there; returns the report."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise InputError(f"no such directory: {directory}")
    graphs = _manifests(directory)
    if not graphs:
        raise InputError(f"{directory}: no ONNX file with a manifest beside it (ergoedge export / calibrate write "
                         "them)")
    sha_of = {p: sha256_file(p) for p in graphs}
    by_sha = {sha: p for p, sha in sha_of.items()}
    rows, outputs = [], {}
    for path, manifest in graphs.items():
        precision = str(manifest.get("precision", "fp32"))
        row = {"onnx": path.name, "precision": precision, "kind": manifest.get("kind"),
               "matches_manifest": manifest.get("onnx_sha256") == sha_of[path], "parser": _parser(path)}
        if manifest.get("int8_bar_passed") is not None:
            row["calibration_report_passed"] = manifest["int8_bar_passed"]
        made_from = manifest.get("source_onnx") if isinstance(manifest.get("source_onnx"), dict) else {}
        source_sha = made_from.get("sha256")
        reference = by_sha.get(source_sha) if source_sha else (path if precision == "fp32" else None)
        source_now = directory / str(made_from.get("file", "")) if made_from.get("file") else None
        if reference is None and source_now is not None and source_now in sha_of:
            # Its FP32 graph was exported again (another checkpoint, perhaps another model) after it was made.
            row["parity"] = {"ran": False, "stale": True,
                             "reason": f"made from an earlier {source_now.name}: the one in DIR has changed since "
                                       f"(calibrate it again)"}
        elif reference is None:
            row["parity"] = {"ran": False, "reason": "the FP32 graph it was made from is not in DIR"}
        else:
            feed = _inputs(graphs[reference])
            want = outputs.setdefault(reference, {"feed": feed, "got": _run(reference, graphs[reference],
                                                                             feed)})["got"]
            got = _run(path, manifest, feed)
            row["parity"] = {"ran": True, "against": reference.name, **compare(got, want, precision)}
            if checkpoint is not None and path == reference:
                row["torch"] = compare(got, _torch_outputs(Path(checkpoint), manifest, feed), "fp32")
        rows.append(row)
    report = {"directory": str(directory), "models": rows, "engines": _engines(directory, by_sha, graphs),
              "tolerance": TOLERANCE, "min_class_agreement": MIN_CLASS_AGREEMENT}
    report["passed"] = all(_row_passed(r) for r in rows) and all(e.get("passed", True) for e in report["engines"])
    atomic_write(directory / "verify.json", json.dumps(report, indent=1) + "\n")
    return report


def _row_passed(row: dict) -> bool:
    parser_ok = not row["parser"]["ran"] or row["parser"]["accepted"]
    parity_ok = row["parity"]["passed"] if row["parity"]["ran"] else not row["parity"].get("stale")
    return row["matches_manifest"] and parser_ok and parity_ok and row.get("torch", {}).get("passed", True) \
        and row.get("calibration_report_passed") is not False
