"""Benchmark: K-fold cross-validation over UW-IOM's published training videos, for a steadier accuracy figure.

Run: `.venv/bin/python benchmarks/uwiom_folds.py --data DIR --out OUT [--model edge_stream] [--config FILE]
[--folds 5] [--seed 0] [--with-val] [--oracle CLASS]`.
DIR is the MTL-ERA release root (it holds `Data/UW`). The published training videos (`EDTCN/TrainValSplits/
train.npy`, in its order) are cut into `--folds` consecutive groups; for each, OUT/foldK/data is a release layout
with those videos only, whose `train.npy` names the other videos and whose `val.npy` names the group (the poses,
labels and REBA files are symbolic links to DIR's, the split files are written as the release writes them, `<U2`),
and the fold is trained and scored with exactly what `ergoedge train` and `ergoedge evaluate RUN --split val` do.
The published val videos are never read, unless `--with-val` folds them too (after the training videos): for a
copy whose val split is itself training videos, as uwiom-dev's 19 14 20. Prints, as JSON: each fold's videos,
metrics, per-class segment and frame counts and each video's own figures, each metric's mean and standard deviation
over the folds, the counts summed over the folds (each class's frame recall from the sums), and the videos' own
figures averaged over all of them (`sequence_means`, as the WACV 2021 paper reports its val videos). `--oracle CLASS` also scores every fold
with that class's mistakes put right (its frames labelled as the truth has them, frames wrongly called it given
their true label): how much of the gap one class is.

Why: a few held-out videos say little. On uwiom-dev (the 15 published training videos, 5 folds of 3) `edge_stream`'s
F1@10 ranges over about 10 points from fold to fold, the 3 videos uwiom-dev holds out are among the easiest, and a
setting that changes nothing there can be worth 2 points over all folds (benchmarks/uwiom_experiments.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from edge.errors import InputError

SPLITS = Path("EDTCN") / "TrainValSplits"
# Per video, the release's files (as uwiom.py reads them); the class names are shared.
VIDEO_FILES = ("Poses/{}_pose3d.npy", "Labels/ClassNumber/{}.npy", "RebaScoreFrameWise/{}.txt")
SHARED_FILES = ("Labels/uniquelabelnames.npy",)


def fold_videos(videos: list[str], folds: int) -> list[list[str]]:
    """`videos` cut into `folds` consecutive groups, sizes differing by at most one (the first ones larger)."""
    if not 2 <= folds <= len(videos):
        raise InputError(f"--folds must be between 2 and the {len(videos)} training videos, got {folds}")
    size, extra = divmod(len(videos), folds)
    groups, start = [], 0
    for k in range(folds):
        end = start + size + (1 if k < extra else 0)
        groups.append(videos[start:end])
        start = end
    return groups


def make_fold(release: Path, out: Path, train: list[str], val: list[str]) -> Path:
    """A release layout at `out` with the videos `train` + `val` only and those splits; its data files are links to
    `release`'s (Data/UW)."""
    uw = out / "Data" / "UW"
    (uw / SPLITS).mkdir(parents=True, exist_ok=True)
    names = [pattern.format(v) for v in train + val for pattern in VIDEO_FILES] + list(SHARED_FILES)
    for name in names:
        link = uw / name
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((release / name).resolve())
    np.save(uw / SPLITS / "train.npy", np.array(train, dtype="<U2"))
    np.save(uw / SPLITS / "val.npy", np.array(val, dtype="<U2"))
    return out


def summarise(folds: list[dict]) -> dict:
    """Mean and standard deviation over the folds of every metric they all have a number for."""
    names = [k for k, v in folds[0]["metrics"].items() if isinstance(v, (int, float))]
    out = {}
    for name in names:
        values = [f["metrics"][name] for f in folds if isinstance(f["metrics"].get(name), (int, float))]
        if len(values) == len(folds):
            out[name] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def class_put_right(pred: np.ndarray, true: np.ndarray, label: int) -> np.ndarray:
    """`pred` with class `label`'s mistakes undone: frames truly `label` get it, labelled frames wrongly called it
    get their true label; every other frame keeps its prediction."""
    out = pred.copy()
    wrong = (pred == label) & (true != label) & (true >= 0)
    out[wrong] = true[wrong]
    out[true == label] = label
    return out


def oracle_metrics(scored, name: str) -> dict:
    """Segmentation metrics of a split's predictions (edge.train.evaluate.predict_split) with class `name` put
    right."""
    from edge.train.metrics import segmentation_metrics

    classes = list(scored.checkpoint.spec.classes)
    if name not in classes:
        raise InputError(f"--oracle {name!r} is not one of the model's classes: {', '.join(classes)}")
    label = classes.index(name)
    trues = [i.activity for i in scored.items]
    preds = [class_put_right(p.outputs["activity_logits"].argmax(axis=-1), t, label)
             for p, t in zip(scored.preds, trues)]
    return segmentation_metrics(preds, trues, num_classes=len(classes))


def summed_counts(folds: list[dict], key: str, counted: tuple[str, ...]) -> dict:
    """The folds' per-class counts under `key` ("segments@10", "frames_by_class") added up, the `counted` entries
    only."""
    total: dict = {}
    for fold in folds:
        for name, counts in fold.get(key, {}).items():
            row = total.setdefault(name, dict.fromkeys(counted, 0))
            for entry in counted:
                row[entry] += counts[entry]
    return total


def with_recall(frames: dict) -> dict:
    """Summed frames per class with each class's recall (percent) taken again from the sums."""
    return {name: {**row, "recall": 100.0 * row["right"] / row["frames"] if row["frames"] else None}
            for name, row in frames.items()}


def run_folds(data: Path, out: Path, model: str, config: str | None, folds: int, seed: int,
              with_val: bool = False, oracle: str | None = None) -> dict:
    from edge.train.evaluate import evaluation_result, finite_or_none, predict_split, sequence_means
    from edge.train.loop import TrainRequest, train

    release = data / "Data" / "UW"
    split_file = release / SPLITS / "train.npy"
    if not split_file.is_file():
        raise InputError(f"{data}: no {split_file.relative_to(data)}; --data is the MTL-ERA release root "
                         f"(it holds Data/UW)")
    videos = [str(v) for v in np.load(split_file)]
    if with_val:
        videos += [str(v) for v in np.load(release / SPLITS / "val.npy")]
    results = []
    for k, val in enumerate(fold_videos(videos, folds)):
        fold = make_fold(release, out / f"fold{k}" / "data", [v for v in videos if v not in val], val)
        run = out / f"fold{k}" / "run"
        train(TrainRequest(model=model, dataset="uwiom", data_dir=str(fold), out=str(run), config_path=config,
                           seed=seed, command=tuple(sys.argv)))
        scored = predict_split(run, "uwiom", fold, "val")  # once, for the metrics and the oracle
        result = finite_or_none(evaluation_result(scored))
        results.append({"fold": k, "val": val, "frames": result["frames"], "metrics": result["metrics"],
                        "segments@10": result.get("segments@10", {}),
                        "frames_by_class": result.get("frames_by_class", {}),
                        "by_sequence": result.get("by_sequence", [])})
        if oracle:
            results[-1]["oracle"] = finite_or_none(oracle_metrics(scored, oracle))
        print(json.dumps(results[-1]), file=sys.stderr)
    frames = with_recall(summed_counts(results, "frames_by_class", ("frames", "right", "predicted")))
    report = {"model": model, "config": config, "seed": seed, "folds": results, "summary": summarise(results),
              "segments@10": summed_counts(results, "segments@10", ("true", "missed", "predicted", "invented")),
              "frames_by_class": frames}
    videos = [row for fold in results for row in fold["by_sequence"]]
    if videos:  # every video's own figures averaged, as WACV 2021 reports them (edge.train.evaluate)
        report["sequence_means"] = finite_or_none(sequence_means(videos))
    if oracle:
        report["oracle"] = {"class": oracle, "summary": summarise([{"metrics": f["oracle"]} for f in results])}
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, type=Path, help="the MTL-ERA release root (it holds Data/UW)")
    p.add_argument("--out", required=True, type=Path, help="directory for the folds' layouts and runs")
    p.add_argument("--model", default="edge_stream")
    p.add_argument("--config", help="an `ergoedge train --config` file")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--with-val", action="store_true", help="fold the val split's videos too (a development copy)")
    p.add_argument("--oracle", metavar="CLASS", help="also score each fold with this class's mistakes put right")
    args = p.parse_args(argv)
    try:
        report = run_folds(args.data.expanduser(), args.out.expanduser(), args.model, args.config, args.folds,
                           args.seed, args.with_val, args.oracle)
    except (InputError, OSError) as e:
        print(f"uwiom_folds: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
