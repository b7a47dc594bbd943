"""Frame-by-frame ergonomic scoring of a 3D pose sequence: angles -> REBA, RULA, L5/S1, and a summary.

`score_sequence` is the one entry point; `write_outputs` writes `scores.csv`, `summary.json` and `timeline.png`.

From angles to worksheet answers (thresholds in `ScoreConfig`, all documented there):
- Trunk and neck angles within `neutral_tolerance_deg` of 0 count as upright/neutral: the published bands give a
  score of 1 only at exactly 0 degrees, which a measured angle never is.
- twisted / side bent / abducted / shoulder raised / wrist deviated are angle thresholds.
- Support is unilateral when one ankle is `unilateral_foot_height_m` above the other.
- Load, coupling, shock, arm support and sitting cannot be seen in a pose; they come from the configuration
  (the load applies to every frame).
- Activity terms (static, repeated, rapid change) come from `edge.ergonomics.activity`.
- Left and right arms are scored separately; `reba_total` and `rula_grand` are the worse side.

Unobserved parts: a NaN angle means the part was not seen. Modifiers that cannot be seen (twist, side bend, raise,
abduction, deviation) count as absent and are listed per frame in the `unobserved` column. A wrist that cannot be
seen (most layouts have no hand points) is scored neutral and listed. If a principal angle (trunk, neck, knees,
upper or lower arm) is unknown, that side's total is NaN: a score is never made up.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from edge.ergonomics.activity import ActivityConfig, activity_flags
from edge.ergonomics.l5s1 import BodyParams, L5S1Config, l5s1_load
from edge.ergonomics.reba import COUPLING, RebaInput, reba_risk, reba_scores
from edge.ergonomics.rula import RulaInput, rula_action_level, rula_scores
from edge.errors import InputError
from edge.kinematics import joint_angles
from edge.ergonomics.tables import tables
from edge.signals import true_runs
from edge.skeletons import Layout, neck_is_derived, to_canonical

COMPRESSION_LIMIT_N = 3400.0  # NIOSH action limit for L5/S1 disc compression


@functools.lru_cache(maxsize=1)
def reba_risk_bands() -> tuple[tuple[str, int, int], ...]:
    """(risk name, lowest total, highest total) for each REBA risk level, from the published table."""
    return tuple((level["risk"], level["min"], level["max"]) for level in tables()["reba"]["risk_levels"])


@dataclass(frozen=True)
class ScoreConfig:
    """How measured angles become worksheet answers, and what the pose cannot show."""

    neutral_tolerance_deg: float = 5.0
    twist_deg: float = 20.0
    side_bend_deg: float = 10.0
    abduction_deg: float = 20.0
    shoulder_raise_deg: float = 10.0
    wrist_deviation_deg: float = 15.0
    unilateral_foot_height_m: float = 0.10
    # Wrist further out than this many shoulder half-widths from the midline = working out to the side (RULA).
    out_to_side_ratio: float = 1.75
    load_kg: float = 0.0
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
        if not (np.isfinite(self.load_kg) and self.load_kg >= 0):
            raise InputError(f"load must be a finite number of kg >= 0, got {self.load_kg!r}")


@dataclass(frozen=True)
class ScoreResult:
    columns: dict[str, np.ndarray]  # per-frame columns in CSV order
    summary: dict


def _neutral(angle: np.ndarray, tol: float) -> np.ndarray:
    return np.where(np.abs(angle) <= tol, 0.0, angle)


def _over(x: np.ndarray, threshold: float) -> np.ndarray:
    return np.nan_to_num(np.abs(x), nan=0.0) > threshold


def _fill(x: np.ndarray, value: float = 0.0) -> np.ndarray:
    return np.nan_to_num(x, nan=value)


def score_sequence(
    joints: np.ndarray, layout: Layout, up: np.ndarray, fps: float, config: ScoreConfig = ScoreConfig()
) -> ScoreResult:
    """Score every frame of joints (T, J, 3), metres, with gravity `up` (unit vector) and frame rate `fps`."""
    num_frames = joints.shape[0]
    a = joint_angles(joints, layout, up)
    act = activity_flags(a, fps, config.activity)
    columns: dict[str, np.ndarray] = {"time_s": np.arange(num_frames) / fps, **a}
    columns.update(method_columns(a, act, config))
    cfg = config
    load = l5s1_load(to_canonical(joints, layout), up, fps, cfg.body, cfg.load_kg, cfg.l5s1)
    columns["l5s1_moment_nm"] = load.moment_magnitude
    columns["l5s1_moment_extension_nm"] = load.moment_extension
    columns["l5s1_moment_lateral_nm"] = load.moment_lateral
    columns["l5s1_moment_twist_nm"] = load.moment_twist
    columns["l5s1_compression_n"] = load.compression_n
    columns["unobserved"] = _unobserved(a, num_frames)

    summary = _summary(columns, fps, layout, cfg)
    return ScoreResult(columns=columns, summary=summary)


def method_columns(a: dict[str, np.ndarray], act: dict[str, np.ndarray], cfg: ScoreConfig) -> dict:
    """REBA and RULA columns (every partial per side, worse-side totals, action levels) and the activity flags,
    from angles and activity flags of any number of frames (arrays (T,)): whole sequences here, one frame at a
    time in the live runtime."""
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
    reba_side, rula_side = {}, {}
    for side in ("left", "right"):
        arm = a[f"{side}_upper_arm_flexion_deg"]
        elbow = a[f"{side}_elbow_flexion_deg"]
        wrist = a[f"{side}_wrist_flexion_deg"]
        abducted = _over(a[f"{side}_upper_arm_abduction_deg"], cfg.abduction_deg)
        raised = np.nan_to_num(a[f"{side}_shoulder_raise_deg"], nan=0.0) > cfg.shoulder_raise_deg
        deviated = _over(a[f"{side}_wrist_deviation_deg"], cfg.wrist_deviation_deg)
        lateral = a[f"{side}_wrist_lateral_ratio"]
        across_or_out = (_fill(lateral, 0.5) < 0) | (_fill(lateral, 0.5) > cfg.out_to_side_ratio)
        side_nan = core_nan | np.isnan(arm) | np.isnan(elbow)
        reba = reba_scores(RebaInput(
            neck_flexion_deg=_fill(neck), neck_twisted=neck_twisted, neck_side_bent=neck_bent,
            trunk_flexion_deg=_fill(trunk), trunk_twisted=trunk_twisted, trunk_side_bent=trunk_bent,
            bilateral_support=bilateral, knee_flexion_deg=_fill(knee),
            upper_arm_flexion_deg=_fill(arm), upper_arm_abducted=abducted, upper_arm_rotated=False,
            shoulder_raised=raised, arm_supported=cfg.arm_supported, lower_arm_flexion_deg=_fill(elbow, 80.0),
            wrist_flexion_deg=_fill(wrist), wrist_deviated_or_twisted=deviated, load_kg=cfg.load_kg,
            shock=cfg.shock, coupling=coupling, activity_static=static, activity_repeated=repeated,
            activity_rapid_change=act["rapid_change"],
        ))
        rula = rula_scores(RulaInput(
            upper_arm_flexion_deg=_fill(arm), upper_arm_abducted=abducted, shoulder_raised=raised,
            arm_supported=cfg.arm_supported, lower_arm_flexion_deg=_fill(elbow, 80.0),
            lower_arm_across_midline_or_out_to_side=across_or_out,
            wrist_flexion_deg=_neutral(_fill(wrist), tol), wrist_deviated=deviated,
            wrist_twist_end=cfg.wrist_twist_end, neck_flexion_deg=_fill(neck), neck_twisted=neck_twisted,
            neck_side_bent=neck_bent, trunk_flexion_deg=_fill(trunk), trunk_twisted=trunk_twisted,
            trunk_side_bent=trunk_bent, trunk_seated_supported=cfg.seated_supported, legs_supported=bilateral,
            muscle_use_arm=act["static_arm"] | act["repeated_arm"],
            muscle_use_body=act["static_body"] | act["repeated_body"],
            load_kg=cfg.load_kg, load_mode=load_mode, shock=cfg.shock,
        ))
        reba_side[side] = {k: np.where(side_nan, np.nan, v) for k, v in reba.items()}
        rula_side[side] = {k: np.where(side_nan, np.nan, v) for k, v in rula.items()}

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


# Which angle, when unknown, makes which worksheet item unobserved.
_OBSERVED_BY = {
    "trunk": "trunk_flexion_deg", "trunk_twist": "trunk_twist_deg", "trunk_side_bend": "trunk_side_bend_deg",
    "neck": "neck_flexion_deg", "neck_twist": "neck_twist_deg", "neck_side_bend": "neck_side_bend_deg",
    **{
        f"{item}_{side}": f"{side}_{angle}"
        for side in ("left", "right")
        for item, angle in (
            ("upper_arm", "upper_arm_flexion_deg"), ("abduction", "upper_arm_abduction_deg"),
            ("shoulder_raise", "shoulder_raise_deg"), ("lower_arm", "elbow_flexion_deg"),
            ("wrist", "wrist_flexion_deg"), ("wrist_deviation", "wrist_deviation_deg"),
            ("knee", "knee_flexion_deg"),
        )
    },
    "support": "foot_height_difference_m",
}


def _unobserved(angles: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
    """Per frame, the worksheet items that could not be observed, ';'-joined (built once per distinct pattern)."""
    names = list(_OBSERVED_BY)
    missing = np.stack([np.isnan(angles[_OBSERVED_BY[n]]) for n in names], axis=1)
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    labels = np.array([";".join(n for n, m in zip(names, row) if m) for row in patterns], dtype=object)
    return labels[inverse.reshape(-1)] if num_frames else np.array([], dtype=object)


def _episodes(mask: np.ndarray, fps: float, merge_gap_s: float = 1.0) -> list[tuple[int, int]]:
    """Runs of True as (start, end_exclusive), merging runs separated by less than `merge_gap_s`."""
    runs: list[list[int]] = []
    for s, e in true_runs(mask):
        if runs and (s - runs[-1][1]) < merge_gap_s * fps:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(s, e) for s, e in runs]


def _peak(values: np.ndarray, time_s: np.ndarray) -> dict | None:
    if not np.isfinite(values).any():
        return None
    i = int(np.nanargmax(values))
    return {"value": round(float(values[i]), 3), "time_s": round(float(time_s[i]), 3)}


def _summary(c: dict[str, np.ndarray], fps: float, layout: Layout, cfg: ScoreConfig) -> dict:
    n = len(c["time_s"])
    dt = 1.0 / fps
    reba, rula, comp, t = c["reba_total"], c["rula_grand"], c["l5s1_compression_n"], c["time_s"]

    def seconds(mask) -> float:
        return round(float(np.count_nonzero(mask)) * dt, 3)

    reba_time = {name: seconds((reba >= lo) & (reba <= hi)) for name, lo, hi in reba_risk_bands()}
    reba_time["unscored"] = seconds(np.isnan(reba))
    rula_time = {str(level): seconds(c["rula_action_level"] == level) for level in (1, 2, 3, 4)}
    rula_time["unscored"] = seconds(np.isnan(rula))

    episodes = {}
    for kind, values, mask in (
        ("reba_high", reba, _fill(reba) >= cfg.high_risk_reba),
        ("l5s1_compression_over_limit", comp, _fill(comp) > COMPRESSION_LIMIT_N),
    ):
        found = []
        for s, e in _episodes(mask, fps):
            part = values[s:e]
            found.append({
                "start_s": round(float(t[s]), 3), "end_s": round(float(t[e - 1] + dt), 3),
                "duration_s": round((e - s) * dt, 3), "peak": round(float(np.nanmax(part)), 1),
                "peak_time_s": round(float(t[s + int(np.nanargmax(part))]), 3),
            })
        # Riskiest first: a long episode near its peak outranks a short spike of the same height.
        found.sort(key=lambda ep: (ep["peak"], ep["duration_s"]), reverse=True)
        episodes[kind] = found[:5]

    unobserved = {}
    for item, angle in _OBSERVED_BY.items():
        frac = float(np.mean(np.isnan(c[angle]))) if n else 0.0
        if frac > 0:
            unobserved[item] = round(frac, 4)
    notes = []
    if neck_is_derived(layout):
        notes.append(f"{layout.name} has no neck joint: shoulder raise is measured one-sided only")
    return {
        "frames": n,
        "fps": fps,
        "duration_s": round(n * dt, 3),
        "layout": layout.name,
        "reba": {
            "time_s_by_risk": reba_time,
            "mean": _round(np.nanmean(reba)) if np.isfinite(reba).any() else None,
            "peak": _peak(reba, t),
            "time_s_high_or_above": seconds(_fill(reba) >= 8),
        },
        "rula": {
            "time_s_by_action_level": rula_time,
            "peak": _peak(rula, t),
        },
        "l5s1": {
            "peak_moment_nm": _peak(c["l5s1_moment_nm"], t),
            "peak_extension_moment_nm": _peak(c["l5s1_moment_extension_nm"], t),
            "peak_compression_n": _peak(comp, t),
            "compression_limit_n": COMPRESSION_LIMIT_N,
            "time_s_over_limit": seconds(_fill(comp) > COMPRESSION_LIMIT_N),
        },
        "peak_trunk_flexion_deg": _peak(c["trunk_flexion_deg"], t),
        "riskiest_episodes": episodes,
        "unobserved_fraction": unobserved,
        "notes": notes,
        "config": dataclasses.asdict(cfg),
    }


def _round(x: float, nd: int = 3) -> float:
    return round(float(x), nd)
