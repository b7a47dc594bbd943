"""Scoring a model on whole sequences: `predict`, `task_metrics` (the validation of every epoch uses both) and
`evaluate`, which `ergoedge evaluate RUN --dataset ... --data DIR --split val|test` prints (`predict_split` gives
its predictions, for analyses of one's own).

Metrics by task (edge.train.metrics defines each one as the papers do; all sequences pooled; `evaluate` adds each
sequence's own figures and their means over the sequences, the WACV 2021 paper's way: `by_sequence`,
`sequence_means`):
- segmentation: "accuracy", "edit", "f1@10", "f1@25", "f1@50", "map" (percent), from the last stage's class
  scores (argmax per frame; softmax probabilities for mAP);
- reba: "reba_mse", "reba_mae", "reba_spearman" of the REBA total, and for the partials the data carries
  "partials_mse" (all partials pooled) and "partials": {name: {"mse", "mae", "spearman"}};
- quality: "mad", "rmse", "mape" of the per-sequence quality score;
- lifting: "mpjpe" (mean joint position error in body-scale units, the model's output space), "mpjpe_m"
  (metres, each sequence's body scale put back) and "mpjpe_heading" (body-scale units, each sequence's prediction
  first turned about the up axis onto its target: keypoints from a camera at an unknown azimuth carry no world
  heading, so a lifter is judged on the pose; edge/models/lifter_2d3d.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from edge.datasets.sequence import UNKNOWN_ACTIVITY, Sequence
from edge.errors import InputError
from edge.models.base import REBA_PARTIALS
from edge.train.batches import Item, collate, make_item
from edge.train.checkpoint import load_checkpoint
from edge.train.config import train_config_from_record
from edge.train.data import REBA_TOTAL, evaluation_split, load_dataset, prepare, read_groups, relabel

SEGMENTATION_METRICS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50", "map")
REBA_METRICS = ("reba_mse", "reba_mae", "reba_spearman", "partials_mse")
QUALITY_METRICS = ("mad", "rmse", "mape")
LIFTING_METRICS = ("mpjpe", "mpjpe_m", "mpjpe_heading")
BEST, LAST = "best.pt", "last.pt"


# What each validation value is scored against.
_SCORED_AGAINST = {**dict.fromkeys(SEGMENTATION_METRICS, "activity labels"),
                   **dict.fromkeys(("reba_mse", "reba_mae", "reba_spearman"), "REBA scores"),
                   "partials_mse": "REBA partial scores", **dict.fromkeys(QUALITY_METRICS, "quality scores")}


def check_monitor(monitor: str, seqs: list[Sequence]) -> None:
    """Refuse, in one line, early stopping on a validation value that the validation sequences `seqs` cannot
    give (e.g. "reba_mse" on videos without REBA scores): it would never improve, so no best.pt would be written."""
    needs = _SCORED_AGAINST.get(monitor)
    if not seqs or needs is None or any(_scored(monitor, s) for s in seqs):
        return
    raise InputError(f"train.monitor {monitor!r} is scored against {needs}, which none of the {len(seqs)} "
                     f"validation sequence(s) has; monitor \"loss\" or label them")


def _scored(monitor: str, seq: Sequence) -> bool:
    if monitor in SEGMENTATION_METRICS:
        return seq.activity is not None and bool((seq.activity != UNKNOWN_ACTIVITY).any())
    if monitor in QUALITY_METRICS:
        return seq.quality is not None
    names = REBA_PARTIALS if monitor == "partials_mse" else (REBA_TOTAL,)
    return any(name in seq.targets and bool(np.isfinite(seq.targets[name]).any()) for name in names)


def metric_names(task: str) -> tuple[str, ...]:
    """The top-level metric names `task_metrics` gives for a registry task."""
    names = ()
    if "segmentation" in task:
        names += SEGMENTATION_METRICS
    if "reba" in task:
        names += REBA_METRICS
    if task == "quality":
        names += QUALITY_METRICS
    if task == "lifting":
        names += LIFTING_METRICS
    return names


@dataclass(frozen=True)
class Prediction:
    outputs: dict  # name -> numpy array of one sequence (the batch axis dropped, padding cut)
    loss: float | None = None
    parts: dict | None = None


def _unbatch(outputs: dict, frames: int) -> dict:
    out = {}
    for name, value in outputs.items():
        if not torch.is_tensor(value):
            continue  # lists of stages are for the loss
        array = value.detach().float().cpu().numpy()[0]
        out[name] = array[:frames] if array.ndim >= 1 and name != "quality" else array
    return out


def predict(model, items: list[Item], with_loss: bool = False) -> list[Prediction]:
    """The model's outputs on each whole item (one at a time, in eval mode), with its loss when asked."""
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    preds = []
    with torch.no_grad():
        for item in items:
            batch = {k: v.to(device) for k, v in collate([item]).items()}
            outputs = model(batch)
            loss = parts = None
            if with_loss:
                value, parts = model.loss(outputs, batch)
                loss = float(value)
            preds.append(Prediction(_unbatch(outputs, item.num_frames), loss, parts))
    return preds


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def task_metrics(task: str, items: list[Item], preds: list[Prediction], partials: tuple[str, ...] = ()) -> dict:
    """Every metric of `task` (module doc) over the items and their predictions; `partials` names the REBA
    partial columns (the DataSpec's)."""
    from edge.train.metrics import (
        quality_metrics,
        regression_metrics,
        segmentation_metrics,
    )

    out: dict = {}
    if "segmentation" in task:
        logits = [p.outputs["activity_logits"] for p in preds]
        out.update(segmentation_metrics([lg.argmax(axis=-1) for lg in logits], [i.activity for i in items],
                                        num_classes=logits[0].shape[-1], scores=[_softmax(lg) for lg in logits]))
    if "reba" in task:
        reba = regression_metrics([p.outputs["reba"] for p in preds], [i.reba for i in items])
        out.update({f"reba_{k}": v for k, v in reba.items()})
        if any(np.isfinite(i.partials).any() for i in items) and "reba_partials" in preds[0].outputs:
            got = [p.outputs["reba_partials"] for p in preds]
            out["partials_mse"] = regression_metrics(got, [i.partials for i in items])["mse"]
            out["partials"] = {name: regression_metrics([g[:, k] for g in got], [i.partials[:, k] for i in items])
                               for k, name in enumerate(partials)}
    if task == "quality":
        out.update(quality_metrics(np.array([float(p.outputs["quality"]) for p in preds]),
                                   np.array([i.quality for i in items])))
    if task == "lifting":
        errors = [(np.linalg.norm(p.outputs["joints3d"] - i.joints, axis=-1), i.scale)
                  for p, i in zip(preds, items)]
        known = [(e[np.isfinite(e)], s) for e, s in errors]
        count = sum(e.size for e, _ in known)
        out["mpjpe"] = float(sum(e.sum() for e, _ in known) / count) if count else float("nan")
        out["mpjpe_m"] = float(sum(e.sum() * s for e, s in known) / count) if count else float("nan")
        out["mpjpe_heading"] = _heading_free_mpjpe(preds, items, [e.size for e, _ in known])
    return out


def _heading_free_mpjpe(preds: list[Prediction], items: list[Item], counts: list[int]) -> float:
    """MPJPE with each sequence's heading fitted (lifter_2d3d's own error), pooled over the known joints."""
    from edge.models.lifter_2d3d import mpjpe

    total = sum(counts)
    if not total:
        return float("nan")
    errors = [float(mpjpe(torch.from_numpy(np.asarray(p.outputs["joints3d"], np.float32))[None],
                          torch.from_numpy(np.asarray(i.joints, np.float32))[None],
                          torch.ones(1, len(i.joints), dtype=torch.bool), align_yaw=True))
              for p, i in zip(preds, items)]
    return sum(e * n for e, n in zip(errors, counts)) / total


def frame_weighted(preds: list[Prediction], items: list[Item]) -> tuple[float, dict]:
    """The loss and its terms averaged over sequences, weighted by their frames."""
    weights = np.array([i.num_frames for i in items], dtype=np.float64)
    loss = float(np.dot([p.loss for p in preds], weights) / weights.sum())
    terms = sorted({k for p in preds for k in (p.parts or {})})
    parts = {k: float(np.dot([(p.parts or {}).get(k, 0.0) for p in preds], weights) / weights.sum()) for k in terms}
    return loss, parts


def best_checkpoint(run_dir: str | Path) -> Path:
    """A run's best checkpoint (its last one when it has no best yet)."""
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise InputError(f"no such run directory: {run}")
    for name in (BEST, LAST):
        if (run / name).is_file():
            return run / name
    raise InputError(f"{run}: no checkpoint ({BEST} or {LAST}); is it an `ergoedge train --out` directory?")


@dataclass(frozen=True)
class SplitPredictions:
    """A run's best checkpoint (edge.train.checkpoint), the grouping it was scored with, the items of a data split
    as that checkpoint sees them and its outputs on each, and what was asked (`predict_split`'s arguments)."""

    checkpoint: object
    grouping: dict | None
    items: list
    preds: list
    request: dict


def predict_split(run_dir, dataset: str, data_dir, split: str, groups=None) -> SplitPredictions:
    """The run's best checkpoint run on `split` of a data set (edge.train.data.evaluation_split), whole sequences."""
    ckpt = load_checkpoint(best_checkpoint(run_dir))
    run = ckpt.run
    missing = [key for key in ("train_config", "dataset", "splits") if key not in run]
    if missing:
        raise InputError(f"{ckpt.path}: its run record lacks {missing[0]!r}: not made by `ergoedge train`")
    spec = ckpt.spec
    config = train_config_from_record(run["train_config"]).data
    # The run's own grouping (recorded) applies to its own data set; --groups (for this data set) wins.
    grouping = read_groups(groups) if groups else (run.get("groups") if dataset == run["dataset"] else None)
    config = replace(config, layout=spec.layout, fps=spec.fps, norm=ckpt.norm)
    seqs = prepare(load_dataset(dataset, data_dir, config), config, layout=spec.layout, groups=grouping)
    chosen = relabel(evaluation_split(seqs, split, run["splits"]), spec.classes)
    items = [make_item(s, spec, ckpt.norm) for s in chosen]
    request = {"run_dir": run_dir, "dataset": dataset, "data_dir": data_dir, "split": split, "groups": groups}
    return SplitPredictions(ckpt, grouping, items, predict(ckpt.build(), items), request)


def segment_counts(classes, items: list[Item], predicted: list[np.ndarray], threshold: float = 0.10) -> dict:
    """Per class, the true, missed, predicted and invented segments of F1's matching at `threshold`
    (edge.train.metrics.class_segment_counts) of the `predicted` labels (one (T,) array per item) against the
    items'; classes with none of either left out."""
    from edge.train.metrics import class_segment_counts

    counts = class_segment_counts(predicted, [i.activity for i in items], len(classes), threshold)
    names = ("true", "missed", "predicted", "invented")
    return {name: dict(zip(names, map(int, row))) for name, row in zip(classes, counts) if row[0] or row[2]}


def frame_counts(classes, items: list[Item], predicted: list[np.ndarray]) -> dict:
    """Per class, its labelled frames, those predicted right and its recall (percent), and the labelled frames
    predicted as it (edge.train.metrics.class_frame_counts), `predicted` as for `segment_counts`; classes with
    none of either left out."""
    from edge.train.metrics import class_frame_counts

    counts = class_frame_counts(predicted, [i.activity for i in items], len(classes))
    return {name: {"frames": int(n), "right": int(right), "recall": 100.0 * right / n if n else None,
                   "predicted": int(called)}
            for name, (n, right, called) in zip(classes, counts) if n or called}


def evaluate(run_dir, dataset: str, data_dir, split: str, groups=None) -> dict:
    """Every metric of the run's model on `split` of a data set (edge.train.data.evaluation_split), as a dict;
    a segmentation model's also counts its segments and frames per class (`segment_counts`, "segments@10";
    `frame_counts`, "frames_by_class"); a segmentation or REBA model's adds "by_sequence" and "sequence_means"."""
    return evaluation_result(predict_split(run_dir, dataset, data_dir, split, groups))


def evaluation_result(scored: SplitPredictions) -> dict:
    """`evaluate`'s dict from predictions `predict_split` already made."""
    ckpt, items, preds, asked = scored.checkpoint, scored.items, scored.preds, scored.request
    data_dir, groups = asked["data_dir"], asked["groups"]
    result = {
        "run": str(Path(asked["run_dir"])), "checkpoint": ckpt.path.name, "epoch": ckpt.epoch, "model": ckpt.model,
        "task": ckpt.task, "dataset": asked["dataset"], "data": None if data_dir is None else str(data_dir),
        "split": asked["split"],
        "groups": str(groups) if groups else ("the run's" if scored.grouping else None), "sequences": len(items),
        "frames": int(sum(i.num_frames for i in items)),
        "classes": list(ckpt.spec.classes), "metrics": task_metrics(ckpt.task, items, preds, ckpt.spec.partials),
    }
    if "segmentation" in ckpt.task:
        predicted = [p.outputs["activity_logits"].argmax(axis=-1) for p in preds]  # (T,) labels per item
        result["segments@10"] = segment_counts(ckpt.spec.classes, items, predicted)
        result["frames_by_class"] = frame_counts(ckpt.spec.classes, items, predicted)
    rows = by_sequence(ckpt.task, items, preds)
    if rows:
        result["by_sequence"] = rows
        result["sequence_means"] = sequence_means(rows)
    return result


def by_sequence(task: str, items: list[Item], preds: list[Prediction]) -> list[dict]:
    """Each sequence scored alone: its name and frames, for segmentation "accuracy", "edit", "f1@10", "f1@25",
    "f1@50", for REBA "reba_mse" and "reba_spearman" (none for the other tasks, which score whole sequences or
    joints). Which recordings a model fails on, and the inputs of `sequence_means`."""
    from edge.train.metrics import regression_metrics, segmentation_metrics

    rows = []
    if "segmentation" not in task and "reba" not in task:
        return rows
    for item, pred in zip(items, preds):
        row = {"sequence": item.name, "frames": item.num_frames}
        if "segmentation" in task:
            row.update(segmentation_metrics([pred.outputs["activity_logits"].argmax(axis=-1)], [item.activity]))
        if "reba" in task:
            reba = regression_metrics(pred.outputs["reba"], item.reba)
            row.update(reba_mse=reba["mse"], reba_spearman=reba["spearman"])
        rows.append(row)
    return rows


def sequence_means(rows: list[dict]) -> dict:
    """The per-sequence metrics of `by_sequence` averaged over the sequences that have a value, as the WACV 2021
    multi-task paper's evaluation code reports F1@10, edit, REBA MSE (with its standard deviation over the
    sequences, "reba_mse_sd": the paper's 0.61 +- 0.36) and Spearman; `task_metrics` pools F1's counts and the
    REBA errors over all sequences instead (MS-TCN's convention), so long recordings weigh more there. Edit is a
    mean over sequences in both."""
    names = [k for k in rows[0] if k not in ("sequence", "frames")]
    out = {}
    for name in names:
        # None is JSON's NaN (rows read back from a report)
        values = np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if values.size else float("nan")
        if name == "reba_mse":
            out["reba_mse_sd"] = float(values.std()) if values.size else float("nan")  # population sd, as WACV's
    return out


def finite_or_none(value):
    """`value` with NaN and infinities as None, for JSON."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
