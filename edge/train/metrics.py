"""Evaluation metrics as the papers define them, in plain numpy (evaluation scores any model's output, torch or not).

Activity segmentation, with the definitions of the MS-TCN evaluation (Abu Farha & Gall, CVPR 2019), which takes
edit score and segmental F1 from ED-TCN (Lea et al., CVPR 2017); the WACV 2021 multi-task paper and the ICRA 2024
heatmap paper report these metrics:
- frame accuracy: correct frames / labelled frames over all sequences pooled, in percent;
- edit score: per sequence 100 * (1 - levenshtein(P, G) / max(|P|, |G|)) over the segment label sequences P, G,
  then the mean over sequences;
- F1@tau: segments matched as in MS-TCN (see `match_segments`), true/false positives and misses summed over all
  sequences, then F1 = 2 P R / (P + R) in percent (0 when nothing matched). The WACV 2021 code takes each
  sequence's F1 and then their mean instead (and the REBA MSE per sequence too): `segmentation_metrics` of one
  sequence at a time gives those (edge.train.evaluate's `by_sequence` and `sequence_means`);
- mAP: per-class average precision of the frame-wise class scores over all labelled frames pooled, averaged over
  the classes that occur in the truth, in percent (WACV 2021's code averages over every class, one absent from the
  truth counting 0; the two agree when each class occurs);
- per class (`class_segment_counts`, not a paper metric): the true, missed, predicted and invented segments of
  F1's matching, which show the classes F1 and edit lose their points on; and (`class_frame_counts`) each class's
  labelled frames, how many of them were predicted right (its recall) and how many frames were predicted as it:
  frame accuracy pools the classes, so a model that never says a rare class can still score well on it.
Frames labelled -1 (unlabelled) have no truth: they count for neither accuracy nor mAP, and for edit and F1 they
are blanked in the prediction too and then left out of both segment sequences, so a model is neither credited nor
charged for what it says there (MS-TCN keeps the prediction there and drops only the segments each side labels
background; UW-IOM labels every frame, so its figures are the same either way).
A sequence without a labelled frame does not enter any mean; with none at all every metric is NaN.

REBA regression (MSE, MAE, Spearman's rho with tied values at their average rank) and exercise quality (MAD, RMSE,
MAPE as the KIMORE / UI-PRMD assessment work reports them, e.g. Deb et al., IEEE TNSRE 2022) are taken over the
elements whose target is known (not NaN), all sequences pooled; WACV 2021 reports the mean of each video's REBA MSE
and Spearman (`regression_metrics` of one sequence at a time, as `sequence_means` does).
"""

from __future__ import annotations

import numpy as np

F1_THRESHOLDS = (0.10, 0.25, 0.50)
UNLABELLED = -1


# ---------------------------------------------------------------- building blocks: segments, edit, F1


def _labels(x, what: str) -> np.ndarray:
    """One sequence's frame labels as a 1-D int64 array (an empty list is an empty int array, not a float one)."""
    a = np.asarray(x)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"{what} must be a 1-D integer array of frame labels, got {a.dtype} with shape {a.shape}")
    return a.astype(np.int64)


def segments_from_labels(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal frame labels as (labels, starts, ends), ends exclusive; runs of a negative label (unlabelled
    or background) are not segments. [0, 0, 1, -1, 1] -> labels [0, 1, 1], starts [0, 2, 4], ends [2, 3, 5]."""
    y = _labels(labels, "labels")
    if y.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    changes = np.flatnonzero(y[1:] != y[:-1]) + 1
    starts = np.concatenate(([0], changes))
    ends = np.concatenate((changes, [y.size]))
    keep = y[starts] >= 0
    return y[starts][keep], starts[keep], ends[keep]


def levenshtein(a, b) -> int:
    """Edit distance between two label sequences: fewest insertions, deletions and substitutions from a to b."""
    a, b = _labels(a, "a"), _labels(b, "b")
    if a.size > b.size:
        a, b = b, a  # the distance is symmetric: loop over the shorter, vectorise along the longer
    steps = np.arange(b.size + 1)
    row = steps.copy()  # distances from the empty prefix of a to every prefix of b
    for i, symbol in enumerate(a, start=1):
        step = np.empty_like(row)
        step[0] = i
        # Deleting a's symbol or substituting it (free when equal) needs only the previous row...
        step[1:] = np.minimum(row[1:] + 1, row[:-1] + (b != symbol))
        # ...an insertion chains along this row: row[j] = min over k <= j of step[k] + (j - k).
        row = np.minimum.accumulate(step - steps) + steps
    return int(row[-1])


def _blank_unlabelled(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Both label sequences, the prediction set to -1 wherever the truth is unlabelled (nothing to score there)."""
    p, t = _labels(pred, "pred"), _labels(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred has {p.size} frames, true has {t.size}")
    return np.where(t < 0, UNLABELLED, p), t


def edit_score(pred, true) -> float:
    """Segmental edit score of one sequence in percent: 100 * (1 - d / max(|P|, |G|)) with d the Levenshtein
    distance between the predicted and true segment label sequences (100 when both have no segment)."""
    p, t = _blank_unlabelled(pred, true)
    p_seg, t_seg = segments_from_labels(p)[0], segments_from_labels(t)[0]
    longest = max(p_seg.size, t_seg.size)
    if longest == 0:
        return 100.0
    return 100.0 * (1.0 - levenshtein(p_seg, t_seg) / longest)


def _matched(pred, true, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MS-TCN's matching of one sequence at IoU `threshold`: (predicted segment labels, whether each is a true
    positive, true segment labels, whether each was taken). See `match_segments`."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"IoU threshold must be in (0, 1], got {threshold}")
    p, t = _blank_unlabelled(pred, true)
    p_lab, p_start, p_end = segments_from_labels(p)
    t_lab, t_start, t_end = segments_from_labels(t)
    hit, taken = np.zeros(p_lab.size, dtype=bool), np.zeros(t_lab.size, dtype=bool)
    if p_lab.size and t_lab.size:
        inter = np.minimum(p_end[:, None], t_end[None, :]) - np.maximum(p_start[:, None], t_start[None, :])
        union = np.maximum(p_end[:, None], t_end[None, :]) - np.minimum(p_start[:, None], t_start[None, :])
        iou = np.where(p_lab[:, None] == t_lab[None, :], np.clip(inter, 0, None) / union, 0.0)
        best = np.argmax(iou, axis=1)  # the first maximum: the earliest true segment on a tie
        passing = iou[np.arange(p_lab.size), best] >= threshold
        # The first passing prediction to name a true segment takes it; later ones naming it are false positives.
        for k in np.flatnonzero(passing):
            if not taken[best[k]]:
                taken[best[k]] = hit[k] = True
    return p_lab, hit, t_lab, taken


def match_segments(pred, true, threshold: float) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one sequence at IoU `threshold` (0.1 for F1@10).

    MS-TCN's rule: each predicted segment in temporal order takes the true segment of its class with the largest
    IoU (the earliest on a tie); it is a true positive if that IoU >= threshold and that true segment is not yet
    taken, else a false positive (there is no fall-back to the second best). Untaken true segments are misses."""
    p_lab, hit, t_lab, _ = _matched(pred, true, threshold)
    tp = int(np.count_nonzero(hit))
    return tp, p_lab.size - tp, t_lab.size - tp


def class_segment_counts(pred, true, num_classes: int, threshold: float = 0.10) -> np.ndarray:
    """Where segmental F1 loses its points, per class: a (num_classes, 4) int array of [true segments, missed,
    predicted segments, invented] pooled over the sequences, with `match_segments`' matching at `threshold`
    (missed: false negatives, invented: false positives). `pred`, `true` as for `segmentation_metrics`."""
    counts = np.zeros((num_classes, 4), dtype=np.int64)
    for p, t in _sequences(pred, true):
        p_lab, hit, t_lab, taken = _matched(p, t, threshold)
        if max(p_lab.max(initial=-1), t_lab.max(initial=-1)) >= num_classes:
            raise ValueError(f"label out of range for {num_classes} classes")
        np.add.at(counts[:, 0], t_lab, 1)
        np.add.at(counts[:, 1], t_lab[~taken], 1)
        np.add.at(counts[:, 2], p_lab, 1)
        np.add.at(counts[:, 3], p_lab[~hit], 1)
    return counts


def class_frame_counts(pred, true, num_classes: int) -> np.ndarray:
    """Per class, a (num_classes, 3) int array of [labelled frames, of those predicted right, labelled frames
    predicted as the class], all sequences pooled; unlabelled frames count for nothing. `pred`, `true` as for
    `segmentation_metrics`."""
    counts = np.zeros((num_classes, 3), dtype=np.int64)
    for p, t in _sequences(pred, true):
        known = t >= 0
        p, t = p[known], t[known]
        if max(p.max(initial=-1), t.max(initial=-1)) >= num_classes or p.min(initial=0) < 0:
            raise ValueError(f"label out of range for {num_classes} classes")
        np.add.at(counts[:, 0], t, 1)
        np.add.at(counts[:, 1], t[p == t], 1)
        np.add.at(counts[:, 2], p, 1)
    return counts


def _sequences(pred, true) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of label sequences; a single 1-D array on each side counts as one sequence."""
    if isinstance(pred, np.ndarray) and pred.ndim == 1:
        pred = [pred]
    if isinstance(true, np.ndarray) and true.ndim == 1:
        true = [true]
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} predicted sequences for {len(true)} true ones")
    return [_blank_unlabelled(p, t) for p, t in zip(pred, true)]


def segment_f1(pred, true, threshold: float) -> float:
    """Segmental F1 at one IoU threshold in percent, counts summed over all sequences before the ratios (MS-TCN);
    0 when no segment matched, NaN when there is no labelled frame at all."""
    tp = fp = fn = 0
    for p, t in _sequences(pred, true):
        a, b, c = match_segments(p, t, threshold)
        tp, fp, fn = tp + a, fp + b, fn + c
    if tp + fp + fn == 0:
        return float("nan")
    # 2PR/(P+R) with P = tp/(tp+fp), R = tp/(tp+fn) simplifies to 2tp/(2tp+fp+fn), defined whenever tp is 0 too.
    return 100.0 * 2 * tp / (2 * tp + fp + fn)


def frame_accuracy(pred, true) -> float:
    """Correct labelled frames / labelled frames over all sequences, in percent (NaN without a labelled frame)."""
    correct = total = 0
    for p, t in _sequences(pred, true):
        known = t >= 0
        correct += int(np.count_nonzero(p[known] == t[known]))
        total += int(np.count_nonzero(known))
    return 100.0 * correct / total if total else float("nan")


# ---------------------------------------------------------------- mAP over frames


def average_precision(scores, positive) -> float:
    """Non-interpolated average precision of one class: sum over score thresholds of (R_k - R_(k-1)) * P_k, the
    area under the step precision-recall curve. Equal scores form one threshold, so the order of ties does not
    matter (as sklearn's average_precision_score). NaN when there is no positive."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    pos = np.asarray(positive, dtype=bool).ravel()
    if s.shape != pos.shape:
        raise ValueError(f"{s.size} scores for {pos.size} labels")
    n_pos = int(np.count_nonzero(pos))
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], pos[order]
    last_of_tie = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # one threshold per distinct score
    tp = np.cumsum(pos)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def frame_map(scores, true, num_classes: int | None = None) -> float:
    """Mean over the classes present in the truth of each class's average precision of its frame-wise scores,
    labelled frames of all sequences pooled, in percent (NaN without a labelled frame)."""
    if isinstance(true, np.ndarray) and true.ndim == 1:
        true, scores = [true], [scores]
    if len(scores) != len(true):
        raise ValueError(f"{len(scores)} score sequences for {len(true)} label sequences")
    rows, labels = [], []
    for s, t in zip(scores, true):
        s, t = np.asarray(s, dtype=np.float64), _labels(t, "true")
        if s.ndim != 2 or s.shape[0] != t.size:
            raise ValueError(f"scores must be (T, C) with T = {t.size} frames, got shape {s.shape}")
        rows.append(s[t >= 0])
        labels.append(t[t >= 0])
    if not rows:
        return float("nan")
    s, t = np.concatenate(rows), np.concatenate(labels)
    n_classes = s.shape[1] if num_classes is None else num_classes
    if s.shape[1] != n_classes:
        raise ValueError(f"scores have {s.shape[1]} classes, expected {n_classes}")
    if t.size and t.max() >= n_classes:
        raise ValueError(f"label {int(t.max())} has no score column ({n_classes} classes)")
    if not np.isfinite(s).all():
        raise ValueError("class scores must be finite on labelled frames")
    present = np.unique(t)
    if present.size == 0:
        return float("nan")
    return 100.0 * float(np.mean([average_precision(s[:, c], t == c) for c in present]))


def segmentation_metrics(pred, true, num_classes: int | None = None, scores=None) -> dict[str, float]:
    """Every segmentation metric of the papers over a set of sequences: "accuracy", "edit", "f1@10", "f1@25",
    "f1@50", and "map" when `scores` (one (T_i, C) array per sequence) are given; all in percent.

    `pred` and `true` are lists of (T_i,) int label arrays (-1 in `true` = unlabelled frame). `num_classes`, when
    given, bounds the labels and fixes the number of score columns."""
    pairs = _sequences(pred, true)
    if num_classes is not None:
        top = max((int(a.max()) for pair in pairs for a in pair if a.size), default=-1)
        if top >= num_classes:
            raise ValueError(f"label {top} out of range for {num_classes} classes")
    preds, trues = [p for p, _ in pairs], [t for _, t in pairs]
    # Edit is a mean over sequences (MS-TCN): a sequence without labelled frames has nothing to compare.
    edits = [edit_score(p, t) for p, t in pairs if np.any(t >= 0)]
    out = {"accuracy": frame_accuracy(preds, trues), "edit": float(np.mean(edits)) if edits else float("nan")}
    for tau in F1_THRESHOLDS:
        out[f"f1@{round(tau * 100)}"] = segment_f1(preds, trues, tau)
    if scores is not None:
        out["map"] = frame_map(scores, trues, num_classes)
    return out


# ---------------------------------------------------------------- regression and quality


def _known_pairs(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Flat float predictions and targets where the target is known (not NaN). Either one array each (any
    shape, the same on both sides) or a list of such arrays per sequence."""
    if isinstance(pred, (list, tuple)) or isinstance(true, (list, tuple)):
        if len(pred) != len(true):
            raise ValueError(f"{len(pred)} predicted sequences for {len(true)} true ones")
        pairs = [_known_pairs(p, t) for p, t in zip(pred, true)]
        if not pairs:
            return np.zeros(0), np.zeros(0)
        return np.concatenate([p for p, _ in pairs]), np.concatenate([t for _, t in pairs])
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape}, true has {t.shape}")
    known = ~np.isnan(t)
    p, t = p[known], t[known]
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predictions must be finite where the target is known, and targets finite or NaN")
    return p, t


def average_ranks(x) -> np.ndarray:
    """1-based ranks of a 1-D array, tied values sharing the mean of the ranks they span: [5, 1, 5] -> [2.5, 1, 2.5]."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return x
    order = np.argsort(x, kind="stable")
    new_value = np.concatenate(([True], x[order][1:] != x[order][:-1]))  # where each run of equal values starts
    first = np.flatnonzero(new_value)
    last = np.append(first[1:], x.size) - 1
    group = np.cumsum(new_value) - 1
    ranks = np.empty(x.size)
    ranks[order] = (first[group] + last[group]) / 2.0 + 1.0
    return ranks


def spearman(a, b) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks. NaN for fewer than two values or a constant
    side (no ranking to correlate)."""
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.size != rb.size:
        raise ValueError(f"{ra.size} values against {rb.size}")
    if ra.size < 2:
        return float("nan")
    da, db = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt(np.sum(da * da) * np.sum(db * db))
    return float(np.sum(da * db) / denom) if denom > 0 else float("nan")


def regression_metrics(pred, true) -> dict[str, float]:
    """REBA regression over the known targets: "mse", "mae" and "spearman" (all NaN when no target is known)."""
    p, t = _known_pairs(pred, true)
    if p.size == 0:
        return {"mse": float("nan"), "mae": float("nan"), "spearman": float("nan")}
    err = p - t
    return {"mse": float(np.mean(err * err)), "mae": float(np.mean(np.abs(err))), "spearman": spearman(p, t)}


def quality_metrics(pred, true) -> dict[str, float]:
    """Exercise quality over the known targets: "mad" = mean |y_hat - y|, "rmse" = sqrt(mean (y_hat - y)^2),
    "mape" = 100 * mean |y_hat - y| / |y| in percent. MAPE has no value for a target of 0: it is taken over the
    non-zero targets (NaN if there are none)."""
    p, t = _known_pairs(pred, true)
    if p.size == 0:
        return {"mad": float("nan"), "rmse": float("nan"), "mape": float("nan")}
    err = p - t
    nonzero = t != 0
    mape = 100.0 * float(np.mean(np.abs(err[nonzero]) / np.abs(t[nonzero]))) if nonzero.any() else float("nan")
    return {"mad": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err * err))), "mape": mape}

