"""The summary of a scored recording: time in each REBA risk level and RULA action level, peaks, the riskiest
episodes (REBA at or above `ScoreConfig.high_risk_reba`, compression over the NIOSH action limit), and which
worksheet items could not be observed."""

from __future__ import annotations

import dataclasses

import numpy as np

from edge.ergonomics.l5s1 import COMPRESSION_LIMIT_N
from edge.ergonomics.reba import risk_bands
from edge.scoring.methods import ScoreConfig
from edge.signals import true_runs
from edge.skeletons import Layout, neck_is_derived

# Which angle, when unknown, makes which worksheet item unobserved.
OBSERVED_BY = {
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


def unobserved_items(angles: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
    """Per frame, the worksheet items that could not be observed, ';'-joined (built once per distinct pattern)."""
    names = list(OBSERVED_BY)
    missing = np.stack([np.isnan(angles[OBSERVED_BY[n]]) for n in names], axis=1)
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


def summarise(c: dict[str, np.ndarray], fps: float, layout: Layout, cfg: ScoreConfig) -> dict:
    """The summary of the per-frame columns `c` of a recording at `fps` (what `summary.json` holds)."""
    n = len(c["time_s"])
    dt = 1.0 / fps
    reba, rula, comp, t = c["reba_total"], c["rula_grand"], c["l5s1_compression_n"], c["time_s"]
    reba_or_0, comp_or_0 = np.nan_to_num(reba, nan=0.0), np.nan_to_num(comp, nan=0.0)  # unknown is never a risk

    def seconds(mask) -> float:
        return round(float(np.count_nonzero(mask)) * dt, 3)

    reba_time = {band.name: seconds((reba >= band.low) & (reba <= band.high)) for band in risk_bands()}
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
    for item, angle in OBSERVED_BY.items():
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
