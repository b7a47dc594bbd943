"""Scoring a whole recording: a 3D pose sequence in, per-frame REBA, RULA and L5/S1 columns and a summary out.

`score_sequence` is the one entry point; `edge.scoring.outputs.write_outputs` writes its result to `scores.csv`,
`summary.json` and `timeline.png`. How angles become worksheet answers (with the thresholds of `ScoreConfig`) is
`edge.scoring.methods`; the activity terms come from `edge.ergonomics.activity`, the L5/S1 load from
`edge.ergonomics.l5s1`.

Unobserved parts: a NaN angle means the part was not seen. The worksheet items that could not be observed are
listed per frame in the `unobserved` column and as fractions of the recording in the summary.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from edge.ergonomics.activity import ActivityConfig, activity_flags
from edge.ergonomics.l5s1 import BodyParams, L5S1Config, l5s1_load
from edge.ergonomics.reba import COUPLING
from edge.ergonomics.tables import tables
from edge.errors import InputError
from edge.kinematics import joint_angles
from edge.scoring.methods import method_columns
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
    """What `score_sequence` returns, and what `edge.scoring.outputs.write_outputs` writes."""

    columns: dict[str, np.ndarray]  # per-frame columns in CSV order
    summary: dict


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
    reba_or_0, comp_or_0 = np.nan_to_num(reba, nan=0.0), np.nan_to_num(comp, nan=0.0)  # unknown is never a risk

    def seconds(mask) -> float:
        return round(float(np.count_nonzero(mask)) * dt, 3)

    reba_time = {name: seconds((reba >= lo) & (reba <= hi)) for name, lo, hi in reba_risk_bands()}
    reba_time["unscored"] = seconds(np.isnan(reba))
    rula_time = {str(level): seconds(c["rula_action_level"] == level) for level in (1, 2, 3, 4)}
    rula_time["unscored"] = seconds(np.isnan(rula))

    episodes = {}
    for kind, values, mask in (
        ("reba_high", reba, reba_or_0 >= cfg.high_risk_reba),
        ("l5s1_compression_over_limit", comp, comp_or_0 > COMPRESSION_LIMIT_N),
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
            "time_s_high_or_above": seconds(reba_or_0 >= 8),
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
            "time_s_over_limit": seconds(comp_or_0 > COMPRESSION_LIMIT_N),
        },
        "peak_trunk_flexion_deg": _peak(c["trunk_flexion_deg"], t),
        "riskiest_episodes": episodes,
        "unobserved_fraction": unobserved,
        "notes": notes,
        "config": dataclasses.asdict(cfg),
    }


def _round(x: float, nd: int = 3) -> float:
    return round(float(x), nd)
