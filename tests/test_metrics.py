"""The evaluation metrics (edge/train/metrics.py) against hand-computed cases: segments, arithmetic in comments."""

import math

import numpy as np
import pytest

from edge.train.metrics import (
    average_precision,
    average_ranks,
    edit_score,
    frame_accuracy,
    frame_map,
    levenshtein,
    class_frame_counts,
    class_segment_counts,
    match_segments,
    quality_metrics,
    regression_metrics,
    segment_f1,
    segmentation_metrics,
    segments_from_labels,
    spearman,
)

NAN_KEYS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")


def seq(*runs):
    """Frame labels from (label, length) runs."""
    return np.concatenate([np.full(n, label, dtype=np.int64) for label, n in runs])


# ---------------------------------------------------------------- segments and Levenshtein


def test_segments_from_labels():
    labels, starts, ends = segments_from_labels([0, 0, 1, -1, 1])
    # Runs: 0 on [0, 2), 1 on [2, 3), unlabelled [3, 4) (not a segment), 1 on [4, 5): the gap splits the 1s.
    assert labels.tolist() == [0, 1, 1] and starts.tolist() == [0, 2, 4] and ends.tolist() == [2, 3, 5]
    one = segments_from_labels(np.array([2, 2, 2]))
    assert [a.tolist() for a in one] == [[2], [0], [3]]
    for empty in ([], [-1, -1]):
        assert all(a.size == 0 for a in segments_from_labels(empty))


def _reference_levenshtein(a, b):
    """The textbook full-table dynamic programme, cell by cell."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


def test_levenshtein_hand_cases():
    # kitten -> sitting: k->s, e->i, insert g = 3 (k0 i1 t2 e3 n4 s5 g6).
    assert levenshtein([0, 1, 2, 2, 3, 4], [5, 1, 2, 2, 1, 4, 6]) == 3
    assert levenshtein([], [1, 2, 3]) == 3 and levenshtein([1, 2, 3], []) == 3 and levenshtein([], []) == 0
    assert levenshtein([1, 2], [2, 1]) == 2  # two substitutions (no transpositions in Levenshtein)
    assert levenshtein([4, 5, 6], [4, 5, 6]) == 0


def test_levenshtein_equals_the_full_table_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.integers(0, 4, rng.integers(0, 12)), rng.integers(0, 4, rng.integers(0, 12))
        assert levenshtein(a, b) == _reference_levenshtein(a.tolist(), b.tolist())


def test_edit_score_one_sequence():
    true = seq((0, 3), (1, 2), (2, 3))          # segments 0 1 2
    pred = seq((0, 2), (1, 2), (0, 1), (2, 3))  # segments 0 1 0 2: one deletion away
    assert edit_score(pred, true) == pytest.approx(100 * (1 - 1 / 4))  # 75
    assert edit_score(true, true) == 100.0


# ---------------------------------------------------------------- one worked sequence: every segmentation metric

# T = 20. Truth: A = 0 on [0, 8), B = 1 on [8, 14), C = 2 on [14, 20).
TRUE = seq((0, 8), (1, 6), (2, 6))
# Prediction: P1 = 0 [0, 1), P2 = 1 [1, 4), P3 = 0 [4, 9), P4 = 1 [9, 18), P5 = 3 [18, 19), P6 = 2 [19, 20).
# IoU with the true segment of the same class:
#   P1-A 1/8 = 0.125; P2-B 0 (no overlap); P3-A [4, 8) / [0, 9) = 4/9 = 0.444; P4-B [9, 14) / [8, 18) = 5/10 = 0.5;
#   P5: no class-3 segment; P6-C [19, 20) / [14, 20) = 1/6 = 0.167.
PRED = seq((0, 1), (1, 3), (0, 5), (1, 9), (3, 1), (2, 1))


def test_worked_sequence_f1_at_each_threshold():
    # @10: P1 takes A (0.125), P2 FP, P3's best is A, already taken: FP; P4 takes B, P5 FP, P6 takes C.
    #      TP 3, FP 3, FN 0: F1 = 2*3 / (2*3 + 3 + 0) = 6/9.
    assert match_segments(PRED, TRUE, 0.10) == (3, 3, 0)
    # @25: P1 fails (0.125), so P3 takes A (0.444); P4 takes B (0.5); P6 fails (0.167). TP 2, FP 4, FN 1 (C).
    assert match_segments(PRED, TRUE, 0.25) == (2, 4, 1)
    # @50: only P4 (IoU exactly 0.5 counts). TP 1, FP 5, FN 2.
    assert match_segments(PRED, TRUE, 0.50) == (1, 5, 2)
    out = segmentation_metrics([PRED], [TRUE], num_classes=4)
    assert out["f1@10"] == pytest.approx(100 * 6 / 9)    # 66.67
    assert out["f1@25"] == pytest.approx(100 * 4 / 9)    # 2*2 / (4 + 4 + 1)
    assert out["f1@50"] == pytest.approx(100 * 2 / 9)    # 2*1 / (2 + 5 + 2)


def test_worked_sequence_per_class_counts_add_up_to_the_f1_counts():
    # Rows: [true segments, missed, predicted, invented]. @10 (as above): P1 and P4 and P6 take A, B, C; P3 (class 0),
    # P2 (class 1) and P5 (class 3, which has no true segment) are invented.
    at10 = class_segment_counts([PRED], [TRUE], num_classes=4)
    assert at10.tolist() == [[1, 0, 2, 1], [1, 0, 2, 1], [1, 0, 1, 0], [0, 0, 1, 1]]
    # @25: P3 takes A instead of P1; C is missed and P6 invented.
    at25 = class_segment_counts([PRED], [TRUE], num_classes=4, threshold=0.25)
    assert at25.tolist() == [[1, 0, 2, 1], [1, 0, 2, 1], [1, 1, 1, 1], [0, 0, 1, 1]]
    for counts, tau in ((at10, 0.10), (at25, 0.25)):
        tp, fp, fn = match_segments(PRED, TRUE, tau)
        assert (counts[:, 3].sum(), counts[:, 1].sum(), counts[:, 0].sum() - counts[:, 1].sum()) == (fp, fn, tp)
    # Pooled over sequences; unlabelled frames are no segment on either side.
    two = class_segment_counts([PRED, np.array([1, 1, 2])], [TRUE, np.array([1, 1, -1])], num_classes=4)
    assert (two - at10).tolist() == [[0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="out of range"):
        class_segment_counts([PRED], [TRUE], num_classes=3)


def test_worked_sequence_per_class_frames():
    # Rows: [labelled frames, predicted right, predicted as the class]. Class 0 (A, frames 0-7): P1 and P3's [4, 8)
    # right, P2's 3 frames taken for class 1; class 1 (B, 8-13): frame 8 (P3) wrong; class 2 (C, 14-19): only P6's
    # frame right. Class 3 has no truth: P5's frame is predicted as it.
    counts = class_frame_counts([PRED], [TRUE], num_classes=4)
    assert counts.tolist() == [[8, 5, 6], [6, 5, 12], [6, 1, 1], [0, 0, 1]]
    assert counts[:, 1].sum() / counts[:, 0].sum() * 100 == pytest.approx(frame_accuracy([PRED], [TRUE]))  # 55 %
    # Pooled over sequences; unlabelled frames count on neither side.
    two = class_frame_counts([PRED, np.array([1, 1, 2])], [TRUE, np.array([1, 2, -1])], num_classes=4)
    assert (two - counts).tolist() == [[0, 0, 0], [1, 1, 2], [1, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="out of range"):
        class_frame_counts([PRED], [TRUE], num_classes=3)


def test_worked_sequence_accuracy_and_edit():
    # Frames right: 0 (P1), 4-7 (P3 on A), 9-13 (P4 on B), 19 (P6) = 1 + 4 + 5 + 1 = 11 of 20.
    assert frame_accuracy([PRED], [TRUE]) == pytest.approx(55.0)
    # Segment labels 0 1 0 1 3 2 against 0 1 2: delete 0, 1, 3 -> d = 3 (at least 6 - 3); 100 * (1 - 3/6) = 50.
    out = segmentation_metrics([PRED], [TRUE], num_classes=4)
    assert out["accuracy"] == pytest.approx(55.0) and out["edit"] == pytest.approx(50.0)
    assert "map" not in out


def test_a_predicted_segment_does_not_fall_back_to_its_second_best_match():
    # Truth: A = 0 [0, 4), B = 1 [4, 5), C = 0 [5, 10). Prediction: 0 [0, 1), 2 [1, 2), 0 [2, 7), 2 [7, 10).
    true = seq((0, 4), (1, 1), (0, 5))
    pred = seq((0, 1), (2, 1), (0, 5), (2, 3))
    # @10: 0[0,1) takes A (1/4). 0[2,7): A 2/7 = 0.286 beats C [5,7)/[2,10) = 2/8 = 0.25, but A is taken: a false
    # positive although C (0.25 >= 0.1) is free (MS-TCN's rule). The two 2-segments are false positives.
    assert match_segments(pred, true, 0.10) == (1, 3, 2)
    assert segment_f1([pred], [true], 0.10) == pytest.approx(100 * 2 / (2 + 3 + 2))  # 28.57


def test_f1_counts_are_pooled_over_sequences_and_edit_is_averaged():
    # Sequence 1 perfect with 3 segments: TP 3, edit 100. Sequence 2 all wrong class: TP 0, FP 1, FN 1, edit 0.
    preds = [seq((0, 2), (1, 2), (2, 2)), seq((1, 4))]
    trues = [seq((0, 2), (1, 2), (2, 2)), seq((0, 4))]
    out = segmentation_metrics(preds, trues)
    # Pooled: 2*3 / (2*3 + 1 + 1) = 75 (the mean of per-sequence F1s would be 50).
    assert out["f1@10"] == out["f1@25"] == out["f1@50"] == pytest.approx(75.0)
    assert out["edit"] == pytest.approx(50.0)          # (100 + 0) / 2
    assert out["accuracy"] == pytest.approx(60.0)      # 6 of 10 frames pooled


# ---------------------------------------------------------------- unlabelled frames and edge cases


def test_unlabelled_frames_count_for_nothing():
    true = np.array([0, 0, -1, -1, 0, 0])
    # Whatever is predicted on the gap is blanked: both sides have segments 0 [0, 2) and 0 [4, 6).
    for pred in (np.array([0, 0, 0, 0, 0, 0]), np.array([0, 0, 1, 1, 0, 0])):
        out = segmentation_metrics([pred], [true])
        assert all(out[k] == 100.0 for k in NAN_KEYS)


def test_a_sequence_without_labels_enters_no_mean():
    labelled = (seq((0, 2), (1, 2)), seq((0, 2), (1, 1), (0, 1)))  # pred, true: segments 0 1 vs 0 1 0
    out = segmentation_metrics([labelled[0], np.array([1, 1])], [labelled[1], np.array([-1, -1])])
    assert out["edit"] == pytest.approx(100 * (1 - 1 / 3))  # only sequence 1: d = 1, max length 3
    assert out["accuracy"] == pytest.approx(75.0)           # 3 of its 4 frames; the unlabelled pair adds nothing


def test_all_unlabelled_and_empty_inputs_give_nan():
    for pred, true in (([np.array([0, 1])], [np.array([-1, -1])]), ([], []), ([[]], [[]])):
        out = segmentation_metrics(pred, true, scores=[np.zeros((len(t), 2)) for t in true])
        assert all(math.isnan(out[k]) for k in NAN_KEYS + ("map",))


def test_one_segment_right_and_wrong():
    assert all(v == 100.0 for v in segmentation_metrics([[3, 3, 3]], [[3, 3, 3]]).values())
    # One predicted segment of the wrong class: no frame right, one substitution over one segment, TP 0.
    assert all(v == 0.0 for v in segmentation_metrics([[1, 1, 1]], [[3, 3, 3]]).values())


def test_perfect_prediction_gives_100():
    true = [seq((0, 5), (2, 3), (1, 4)), seq((1, 2), (0, 6))]
    scores = [np.eye(3)[t] for t in true]
    out = segmentation_metrics(true, true, num_classes=3, scores=scores)
    assert out == {"accuracy": 100.0, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 100.0, "map": 100.0}


def test_bad_inputs_are_refused():
    # Each refused by its own check, with its own message (numpy's errors would be ValueErrors too).
    with pytest.raises(ValueError, match="pred has 2 frames, true has 3"):
        segmentation_metrics([np.array([0, 1])], [np.array([0, 1, 1])])
    with pytest.raises(ValueError, match="1 predicted sequences for 0 true ones"):
        segmentation_metrics([np.array([0])], [])
    with pytest.raises(ValueError, match="label 5 out of range for 3 classes"):
        segmentation_metrics([np.array([0, 5])], [np.array([0, 1])], num_classes=3)
    with pytest.raises(ValueError, match="pred must be a 1-D integer array of frame labels, got float64"):
        segmentation_metrics([np.array([0.5])], [np.array([0])])
    with pytest.raises(ValueError, match=r"IoU threshold must be in \(0, 1\], got 0.0"):
        match_segments([0], [0], 0.0)


# ---------------------------------------------------------------- mAP over frames


def test_average_precision_hand_case_with_a_tie():
    # Sorted: 0.9 pos (P 1, R 1/2), 0.8 neg, {0.3 pos, 0.3 neg} one threshold (P 2/4, R 1), 0.1 neg.
    # AP = 1/2 * 1 + 1/2 * 1/2 = 0.75, in either order of the tied frames.
    assert average_precision([0.9, 0.8, 0.3, 0.1, 0.3], [1, 0, 1, 0, 0]) == pytest.approx(0.75)
    assert average_precision([0.9, 0.8, 0.3, 0.1, 0.3], [1, 0, 0, 0, 1]) == pytest.approx(0.75)
    assert math.isnan(average_precision([0.5, 0.2], [0, 0]))


def test_frame_map_hand_case():
    # Frames: truth 0, 1, -1, 0, 1, 1; columns: class 0, 1, 2 (class 2 never occurs: left out of the mean).
    true = np.array([0, 1, -1, 0, 1, 1])
    scores = np.array([
        [0.9, 0.2, 0.5],
        [0.8, 0.7, 0.5],
        [0.99, 0.0, 0.5],  # unlabelled: its top class-0 score must not count as a false positive
        [0.3, 0.6, 0.5],
        [0.1, 0.5, 0.5],
        [0.3, 0.1, 0.5],
    ])
    # Class 0: 0.9 pos, 0.8 neg, {0.3 pos, 0.3 neg}, 0.1 neg -> AP 0.75 (above).
    # Class 1: 0.7 pos (P 1, R 1/3), 0.6 neg, 0.5 pos (P 2/3, R 2/3), 0.2 neg, 0.1 pos (P 3/5, R 1)
    #   -> AP = (1 + 2/3 + 3/5) / 3 = 34/45.
    expected = 100 * (0.75 + 34 / 45) / 2  # 75.28
    assert frame_map([scores], [true]) == pytest.approx(expected)
    out = segmentation_metrics([np.argmax(scores, axis=1)], [true], num_classes=3, scores=[scores])
    assert out["map"] == pytest.approx(expected)
    with pytest.raises(ValueError):
        frame_map([scores], [true], num_classes=4)  # 3 score columns for 4 classes


# ---------------------------------------------------------------- REBA regression


def test_average_ranks_and_spearman_with_ties():
    assert average_ranks([5, 1, 5]).tolist() == [2.5, 1.0, 2.5]
    # Ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4], both of mean 2.5: deviations [-1.5, 0, 0, 1.5], [-1.5, .5, -.5, 1.5].
    # Sum of products 4.5, sums of squares 4.5 and 5: rho = 4.5 / sqrt(22.5) = sqrt(0.9).
    assert spearman([1, 2, 2, 3], [10, 30, 20, 40]) == pytest.approx(math.sqrt(0.9))
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2, 3], [7, 7, 7])) and math.isnan(spearman([1], [2]))


def test_regression_metrics_hand_case_nan_targets_ignored():
    pred = np.array([[2.0, 1.0], [3.0, 5.0]])
    true = np.array([[1.0, np.nan], [3.0, 2.0]])
    # Known pairs (2, 1), (3, 3), (5, 2): errors 1, 0, 3. MSE (1 + 0 + 9)/3, MAE 4/3.
    # Ranks of pred [1, 2, 3], of true [1, 3, 2]: rho = 1 - 6 * (0 + 1 + 1) / (3 * (9 - 1)) = 0.5.
    expected = {"mse": 10 / 3, "mae": 4 / 3, "spearman": 0.5}
    assert regression_metrics(pred, true) == pytest.approx(expected)
    # The same as a list of sequences of different lengths.
    assert regression_metrics([np.array([2.0, 3.0]), np.array([5.0, 9.0])],
                              [np.array([1.0, 3.0]), np.array([2.0, np.nan])]) == pytest.approx(expected)


def test_regression_edge_cases():
    t = np.array([1.0, 4.0, 2.0, 7.0])
    assert regression_metrics(t, t) == {"mse": 0.0, "mae": 0.0, "spearman": 1.0}
    assert all(math.isnan(v) for v in regression_metrics(np.ones(3), np.full(3, np.nan)).values())
    assert all(math.isnan(v) for v in regression_metrics([], []).values())
    # A NaN prediction where the target is unknown is fine; where it is known it is a bug in the model.
    assert regression_metrics([np.nan, 2.0, 3.0], [np.nan, 2.0, 3.0])["mse"] == 0.0
    with pytest.raises(ValueError):
        regression_metrics([np.nan, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        regression_metrics(np.zeros((2, 3)), np.zeros((3, 2)))


# ---------------------------------------------------------------- exercise quality


def test_quality_metrics_hand_case():
    # Errors -5, 5, 2: MAD 12/3 = 4; RMSE sqrt((25 + 25 + 4)/3) = sqrt(18);
    # MAPE 100 * (5/50 + 5/25 + 2/10) / 3 = 100 * 0.5 / 3.
    out = quality_metrics([45.0, 30.0, 12.0], [50.0, 25.0, 10.0])
    assert out == pytest.approx({"mad": 4.0, "rmse": math.sqrt(18), "mape": 50 / 3})


def test_quality_edge_cases():
    assert quality_metrics([0.7, 0.4], [0.7, 0.4]) == {"mad": 0.0, "rmse": 0.0, "mape": 0.0}
    # A zero target has no percentage error: MAPE over the other one only, 100 * 2/4; MAD and RMSE over both.
    out = quality_metrics([0.5, 2.0], [0.0, 4.0])
    assert out == pytest.approx({"mad": 1.25, "rmse": math.sqrt((0.25 + 4) / 2), "mape": 50.0})
    assert math.isnan(quality_metrics([1.0], [0.0])["mape"])
    assert all(math.isnan(v) for v in quality_metrics([1.0], [np.nan]).values())
