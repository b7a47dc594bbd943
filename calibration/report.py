"""FP32 vs FP16 vs INT8 on held-out sequences with the task's own metrics, written beside the models.

    report = precision_report({"fp32": a, "fp16": b, "int8": c}, model, heldout, "out/", "edge_stream_step")

Each precision runs through ONNX Runtime on the CPU (QDQ INT8 runs there too, so accuracy can be measured on a
machine without a GPU). A streaming step runs frame by frame with its state fed back, every held-out sequence a
stream of its own (rows of one batch); a whole-sequence model takes each sequence whole. Metrics
(edge.train.metrics, as `ergoedge evaluate` computes them): segmentation accuracy, edit, F1@10/25/50 (percent),
REBA MSE/MAE and the partials' MSE; plus how far each precision's outputs are from FP32's (largest REBA and logit
difference, share of frames with the same class). Issue 13's bar for INT8: at most `MAX_F1_DROP` F1 points (each
of F1@10/25/50) and `MAX_REBA_MSE_RISE` REBA MSE lost against FP32; the report says whether it holds.

Files: `<stem>_calibration_report.json` and a short text table `<stem>_calibration_report.txt`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.paths import atomic_write

MAX_F1_DROP = 0.5
MAX_REBA_MSE_RISE = 0.05
F1_KEYS = ("f1@10", "f1@25", "f1@50")
TABLE_KEYS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50", "reba_mse", "partials_mse")


def _outputs(path: Path, model: dict, seqs: list) -> list[dict]:
    """Each sequence's outputs per frame from the ONNX file at `path`."""
    from calibration.readers import open_session, step_streams

    session = open_session(path)
    if model["streaming"]:
        per_seq, _ = step_streams(session, model, [s.joints for s in seqs])
        return per_seq
    names = {i.name for i in session.get_inputs()}
    out = []
    for s in seqs:
        arrays = {"joints": np.nan_to_num(s.joints, nan=0.0)[None], "mask": np.ones((1, s.num_frames), bool)}
        if s.keypoints2d is not None:
            arrays["keypoints2d"] = s.keypoints2d[None]
        got = session.run(None, {n: arrays[n] for n in names})
        out.append({o.name: v[0] for o, v in zip(session.get_outputs(), got)})
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def task_metrics(outputs: list[dict], seqs: list) -> dict:
    """The task metrics of per-sequence outputs against the sequences' labels (module doc)."""
    from edge.train.metrics import regression_metrics, segmentation_metrics

    out: dict = {}
    if "activity_logits" in outputs[0]:
        logits = [o["activity_logits"].astype(np.float64) for o in outputs]
        out.update(segmentation_metrics([lg.argmax(axis=-1) for lg in logits], [s.activity for s in seqs],
                                        num_classes=logits[0].shape[-1], scores=[_softmax(lg) for lg in logits]))
    if "reba" in outputs[0]:
        reba = regression_metrics([o["reba"] for o in outputs], [s.reba for s in seqs])
        out.update({"reba_mse": reba["mse"], "reba_mae": reba["mae"]})
        if "reba_partials" in outputs[0] and any(np.isfinite(s.partials).any() for s in seqs):
            out["partials_mse"] = regression_metrics([o["reba_partials"] for o in outputs],
                                                     [s.partials for s in seqs])["mse"]
    return {k: (float(v) if np.isfinite(v) else None) for k, v in out.items()}


def _agreement(outputs: list[dict], reference: list[dict]) -> dict:
    """How close a precision's outputs are to FP32's, over all frames."""
    out = {}
    for name in ("reba", "activity_logits", "reba_partials"):
        if name in reference[0] and reference[0][name].size:  # a model without REBA partials has (T, 0) of them
            diff = np.concatenate([np.abs(o[name] - r[name]).ravel() for o, r in zip(outputs, reference)])
            out[f"{name}_max_abs_diff"] = float(diff.max())
            out[f"{name}_mean_abs_diff"] = float(diff.mean())
    if "activity_logits" in reference[0]:
        same = np.concatenate([o["activity_logits"].argmax(-1) == r["activity_logits"].argmax(-1)
                               for o, r in zip(outputs, reference)])
        out["same_class_frames"] = float(same.mean())
    return out


def _bar(metrics: dict, reference: dict) -> dict:
    """Issue 13's INT8 bar: F1 points and REBA MSE lost against FP32 (None where there is nothing to compare)."""
    drops = {k: reference[k] - metrics[k] for k in F1_KEYS
             if metrics.get(k) is not None and reference.get(k) is not None}
    rise = (metrics["reba_mse"] - reference["reba_mse"]
            if metrics.get("reba_mse") is not None and reference.get("reba_mse") is not None else None)
    ok = all(d <= MAX_F1_DROP for d in drops.values()) and (rise is None or rise <= MAX_REBA_MSE_RISE)
    return {"f1_drop": drops, "reba_mse_rise": rise, "max_f1_drop": MAX_F1_DROP,
            "max_reba_mse_rise": MAX_REBA_MSE_RISE, "passed": bool(ok and (drops or rise is not None))}


def _table(report: dict) -> str:
    rows = [("precision", *TABLE_KEYS, "same class")]
    for name, entry in report["precisions"].items():
        m = entry["metrics"]
        same = entry.get("vs_fp32", {}).get("same_class_frames")
        rows.append((name, *("-" if m.get(k) is None else f"{m[k]:.3f}" if "mse" in k else f"{m[k]:.2f}"
                             for k in TABLE_KEYS), "-" if same is None else f"{100 * same:.2f}%"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    for name, entry in report["precisions"].items():
        if "bar" in entry:
            bar = entry["bar"]
            drops = ", ".join(f"{k} {v:+.2f}" for k, v in bar["f1_drop"].items())
            rise = "n/a" if bar["reba_mse_rise"] is None else f"{bar['reba_mse_rise']:+.4f}"
            lines.append(f"{name}: F1 lost {drops or 'n/a'} (bar {MAX_F1_DROP}); REBA MSE rise {rise} "
                         f"(bar {MAX_REBA_MSE_RISE}): {'PASS' if bar['passed'] else 'FAIL'}")
    return "\n".join([report["title"], *lines]) + "\n"


def precision_report(models: dict[str, Path], model: dict, heldout: list, out_dir: str | Path, stem: str,
                     extra: dict | None = None) -> dict:
    """Score each precision's ONNX (`models`: precision -> path, "fp32" first) on the held-out sequences, compare
    with FP32, write `<stem>_calibration_report.json` and `.txt` into `out_dir`, and return the report."""
    out = Path(out_dir)
    frames = int(sum(s.num_frames for s in heldout))
    report = {"title": f"{stem}: {len(heldout)} held-out sequences, {frames} frames "
                       f"({', '.join(sorted({s.key for s in heldout}))})",
              "sequences": [s.name for s in heldout], "frames": frames, **(extra or {}), "precisions": {}}
    reference = None
    for name, path in models.items():
        outputs = _outputs(Path(path), model, heldout)
        entry = {"file": Path(path).name, "metrics": task_metrics(outputs, heldout)}
        if reference is None:
            reference = (outputs, entry["metrics"])
        else:
            entry["vs_fp32"] = _agreement(outputs, reference[0])
            entry["bar"] = _bar(entry["metrics"], reference[1])
        report["precisions"][name] = entry
    atomic_write(out / f"{stem}_calibration_report.json", json.dumps(report, indent=1) + "\n")
    atomic_write(out / f"{stem}_calibration_report.txt", _table(report))
    return report
