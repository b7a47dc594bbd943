"""Scoring a whole recording: a 3D pose sequence in, per-frame REBA, RULA and L5/S1 columns and a summary out.

`score_sequence` is the one entry point; `edge.scoring.outputs.write_outputs` writes its result to `scores.csv`,
`summary.json` and `timeline.png`. How angles become worksheet answers (with the thresholds of `ScoreConfig`) is
`edge.scoring.methods`, the summary `edge.scoring.summary`; the activity terms come from `edge.ergonomics.activity`, the L5/S1 load from
`edge.ergonomics.l5s1`.

Unobserved parts: a NaN angle means the part was not seen. The worksheet items that could not be observed are
listed per frame in the `unobserved` column and as fractions of the recording in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.ergonomics.activity import activity_flags
from edge.ergonomics.l5s1 import l5s1_load
from edge.kinematics import joint_angles
from edge.scoring.methods import ScoreConfig, method_columns
from edge.scoring.summary import summarise, unobserved_items
from edge.skeletons import Layout, to_canonical


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
    columns["unobserved"] = unobserved_items(a, num_frames)

    summary = summarise(columns, fps, layout, cfg)
    return ScoreResult(columns=columns, summary=summary)
