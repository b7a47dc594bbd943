"""From joint angles to REBA and RULA: the answers a worksheet would get, scored per frame and per side.

The one mapping both scorers use (`edge.scoring.offline` for whole recordings, `edge.scoring.stream` one frame at a
time), so that live and offline scores agree. Thresholds are in `ScoreConfig`:
- Trunk and neck angles within `neutral_tolerance_deg` of 0 count as upright/neutral: the published bands give a
  score of 1 only at exactly 0 degrees, which a measured angle never is.
- twisted / side bent / abducted / shoulder raised / wrist deviated are angle thresholds.
- Support is unilateral when one ankle is `unilateral_foot_height_m` above the other.
- Load, coupling, shock, arm support and sitting cannot be seen in a pose; they come from the configuration
  (the load applies to every frame).
- Activity terms (static, repeated, rapid change) are flags from `edge.ergonomics.activity` (offline) or
  `edge.scoring.stream` (live).
- Left and right arms are scored separately; `reba_total` and `rula_grand` are the worse side.

Unobserved parts: a NaN angle means the part was not seen. Modifiers that cannot be seen (twist, side bend, raise,
abduction, deviation) count as absent; a wrist that cannot be seen (most layouts have no hand points) is scored
neutral. If a principal angle (trunk, neck, knees, upper or lower arm) is unknown, that side's total is NaN: a score
is never made up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.ergonomics.activity import ActivityConfig
from edge.ergonomics.l5s1 import BodyParams, L5S1Config
from edge.ergonomics.reba import COUPLING, RebaInput, reba_risk, reba_scores
from edge.ergonomics.reba import score_ranges as reba_score_ranges
from edge.ergonomics.rula import RulaInput, rula_action_level, rula_scores
from edge.config import check_number
from edge.errors import InputError


@dataclass(frozen=True)
class ScoreConfig:
    """How measured angles become worksheet answers, and what the pose cannot show. Ranges: the tolerance and the
    angle thresholds 0..90 deg, the foot height 0..1 m, the side ratio 0..10, the load 0..100 kg, high_risk_reba
    a REBA total (1..15); the nested tables document their own."""

    neutral_tolerance_deg: float = 5.0
    twist_deg: float = 20.0
    side_bend_deg: float = 10.0
    abduction_deg: float = 20.0
    shoulder_raise_deg: float = 10.0
    wrist_deviation_deg: float = 15.0
    unilateral_foot_height_m: float = 0.10
    # Wrist further out than this many shoulder half-widths from the midline = working out to the side (RULA).
    out_to_side_ratio: float = 1.75
    load_kg: float = 0.0  # held in the hands, every frame
    shock: bool = False
    coupling: str = "good"
    arm_supported: bool = False
    seated_supported: bool = False
    wrist_twist_end: bool = False
    high_risk_reba: int = 8  # episodes of REBA at or above this are reported as risky
    activity: ActivityConfig = field(default_factory=ActivityConfig)
    body: BodyParams = field(default_factory=BodyParams)
    l5s1: L5S1Config = field(default_factory=L5S1Config)

    def __post_init__(self):
        if self.coupling not in COUPLING:
            raise InputError(f"coupling must be one of {', '.join(COUPLING)}, got {self.coupling!r}")
        for name in ("neutral_tolerance_deg", "twist_deg", "side_bend_deg", "abduction_deg", "shoulder_raise_deg",
                     "wrist_deviation_deg"):
            check_number(getattr(self, name), name, minimum=0, maximum=90)
        check_number(self.unilateral_foot_height_m, "unilateral_foot_height_m", minimum=0, maximum=1)
        check_number(self.out_to_side_ratio, "out_to_side_ratio", minimum=0, maximum=10)
        check_number(self.load_kg, "load_kg", minimum=0, maximum=100)
        check_number(self.high_risk_reba, "high_risk_reba (a REBA total)", integer=True,
                     minimum=reba_score_ranges()["total"][0], maximum=reba_score_ranges()["total"][1])


def _neutral(angle: np.ndarray, tol: float) -> np.ndarray:
    """0 for angles within `tol` of 0 (upright), the angle otherwise; NaN stays NaN."""
    return np.where(np.abs(angle) <= tol, 0.0, angle)


def _over(x: np.ndarray, threshold: float) -> np.ndarray:
    """|x| above `threshold`; an unknown (NaN) modifier counts as absent (a comparison with NaN is False)."""
    return np.abs(x) > threshold


def _fill(x: np.ndarray, value: float = 0.0) -> np.ndarray:
    """NaN replaced by a neutral `value`, for the engines (which refuse NaN); the caller masks the scores after.
    `x` itself when all finite: live scoring calls this some 30 times a frame on 1-element arrays, where
    nan_to_num costs 10 us a call."""
    return x if np.isfinite(x).all() else np.nan_to_num(x, nan=value)


def method_columns(a: dict[str, np.ndarray], act: dict[str, np.ndarray], cfg: ScoreConfig) -> dict:
    """REBA and RULA columns (every partial per side, worse-side totals, action levels) and the activity flags,
    from angles and activity flags of any number of frames (arrays (T,)): whole recordings in
    `edge.scoring.offline`, one frame at a time in `edge.scoring.stream`."""
    tol = cfg.neutral_tolerance_deg

    trunk = _neutral(a["trunk_flexion_deg"], tol)
    neck = _neutral(a["neck_flexion_deg"], tol)
    trunk_twisted = _over(a["trunk_twist_deg"], cfg.twist_deg)
    trunk_bent = _over(a["trunk_side_bend_deg"], cfg.side_bend_deg)
    neck_twisted = _over(a["neck_twist_deg"], cfg.twist_deg)
    neck_bent = _over(a["neck_side_bend_deg"], cfg.side_bend_deg)
    knee = np.fmax(a["left_knee_flexion_deg"], a["right_knee_flexion_deg"])
    knee = np.where(np.isnan(a["left_knee_flexion_deg"]) | np.isnan(a["right_knee_flexion_deg"]), np.nan, knee)
    bilateral = ~_over(a["foot_height_difference_m"], cfg.unilateral_foot_height_m)
    coupling = COUPLING.index(cfg.coupling)
    static = act["static_body"] | act["static_arm"]
    repeated = act["repeated_body"] | act["repeated_arm"]
    load_mode = np.where(static | repeated, np.where(static, 1, 2), 0)

    columns: dict[str, np.ndarray] = {"static": static, "repeated": repeated, "rapid_change": act["rapid_change"]}
    core_nan = np.isnan(trunk) | np.isnan(neck) | np.isnan(knee)
    # Both arms in one call of each engine: the left side's frames, then the right side's (`both`), with what the
    # sides share repeated (`twice`); numpy's cost per call, not per number, is what one live frame pays.
    frames = len(trunk)

    def both(name: str) -> np.ndarray:
        return np.concatenate((a[f"left_{name}"], a[f"right_{name}"]))

    def twice(x: np.ndarray) -> np.ndarray:
        return np.concatenate((x, x))

    arm, elbow, wrist = both("upper_arm_flexion_deg"), both("elbow_flexion_deg"), both("wrist_flexion_deg")
    abducted = _over(both("upper_arm_abduction_deg"), cfg.abduction_deg)
    raised = both("shoulder_raise_deg") > cfg.shoulder_raise_deg  # unknown (NaN): not raised
    deviated = _over(both("wrist_deviation_deg"), cfg.wrist_deviation_deg)
    lateral = _fill(both("wrist_lateral_ratio"), 0.5)
    across_or_out = (lateral < 0) | (lateral > cfg.out_to_side_ratio)
    side_nan = twice(core_nan) | np.isnan(arm) | np.isnan(elbow)
    neck2, trunk2, knee2 = twice(_fill(neck)), twice(_fill(trunk)), twice(_fill(knee))
    neck_twisted2, neck_bent2 = twice(neck_twisted), twice(neck_bent)
    trunk_twisted2, trunk_bent2, bilateral2 = twice(trunk_twisted), twice(trunk_bent), twice(bilateral)
    static2, repeated2, rapid2 = twice(static), twice(repeated), twice(act["rapid_change"])
    reba = reba_scores(RebaInput(
        neck_flexion_deg=neck2, neck_twisted=neck_twisted2, neck_side_bent=neck_bent2,
        trunk_flexion_deg=trunk2, trunk_twisted=trunk_twisted2, trunk_side_bent=trunk_bent2,
        bilateral_support=bilateral2, knee_flexion_deg=knee2,
        upper_arm_flexion_deg=_fill(arm), upper_arm_abducted=abducted, upper_arm_rotated=False,
        shoulder_raised=raised, arm_supported=cfg.arm_supported, lower_arm_flexion_deg=_fill(elbow, 80.0),
        wrist_flexion_deg=_fill(wrist), wrist_deviated_or_twisted=deviated, load_kg=cfg.load_kg,
        shock=cfg.shock, coupling=coupling, activity_static=static2, activity_repeated=repeated2,
        activity_rapid_change=rapid2,
    ), checked=True)
    rula = rula_scores(RulaInput(
        upper_arm_flexion_deg=_fill(arm), upper_arm_abducted=abducted, shoulder_raised=raised,
        arm_supported=cfg.arm_supported, lower_arm_flexion_deg=_fill(elbow, 80.0),
        lower_arm_across_midline_or_out_to_side=across_or_out,
        wrist_flexion_deg=_neutral(_fill(wrist), tol), wrist_deviated=deviated,
        wrist_twist_end=cfg.wrist_twist_end, neck_flexion_deg=neck2, neck_twisted=neck_twisted2,
        neck_side_bent=neck_bent2, trunk_flexion_deg=trunk2, trunk_twisted=trunk_twisted2,
        trunk_side_bent=trunk_bent2, trunk_seated_supported=cfg.seated_supported, legs_supported=bilateral2,
        muscle_use_arm=twice(act["static_arm"] | act["repeated_arm"]),
        muscle_use_body=twice(act["static_body"] | act["repeated_body"]),
        load_kg=cfg.load_kg, load_mode=twice(load_mode), shock=cfg.shock,
    ), checked=True)
    reba_side, rula_side = {"left": {}, "right": {}}, {"left": {}, "right": {}}
    for scores, by_side in ((reba, reba_side), (rula, rula_side)):
        for key, value in scores.items():
            masked = np.where(side_nan, np.nan, value)
            by_side["left"][key], by_side["right"][key] = masked[:frames], masked[frames:]

    _combine_sides(columns, "reba", reba_side, core_nan, ("neck", "trunk", "legs", "table_a", "score_a"),
                   ("upper_arm", "lower_arm", "wrist", "table_b", "score_b", "table_c", "total"), "total")
    columns["reba_action_level"] = _levels(columns["reba_total"], lambda t: reba_risk(t)[0])
    _combine_sides(columns, "rula", rula_side, core_nan, ("neck", "trunk", "legs", "table_b", "score_d"),
                   ("upper_arm", "lower_arm", "wrist", "wrist_twist", "table_a", "score_c", "grand"), "grand")
    columns["rula_action_level"] = _levels(columns["rula_grand"], rula_action_level)
    return columns


def _combine_sides(columns, method, by_side, core_nan, shared, per_side, total) -> None:
    """Columns for one method: items shared by both sides once, arm items per side, and the worse side's total."""
    left, right = by_side["left"], by_side["right"]
    for key in shared:
        columns[f"{method}_{key}"] = np.where(core_nan, np.nan, np.fmax(left[key], right[key]))
    for key in per_side:
        for side in ("left", "right"):
            columns[f"{method}_{key}_{side}"] = by_side[side][key]
    columns[f"{method}_{total}"] = np.fmax(left[total], right[total])


def _levels(scores: np.ndarray, to_level) -> np.ndarray:
    """The engine's action level for each known score; NaN where the score is unknown."""
    known = np.isfinite(scores)
    out = np.full(scores.shape, np.nan)
    out[known] = to_level(scores[known].astype(np.int64))
    return out
