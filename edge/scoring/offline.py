"""Scoring a whole recording: a 3D pose sequence in, per-frame REBA, RULA and L5/S1 columns and a summary out.

`score_sequence` is the one entry point; `edge.scoring.outputs.write_outputs` writes its result to `scores.csv`,
`summary.json` and `timeline.png`. How angles become worksheet answers (with the thresholds of `ScoreConfig`) is
`edge.scoring.methods`, the summary `edge.scoring.summary`; the activity terms come from `edge.ergonomics.activity`,
the L5/S1 load from `edge.ergonomics.l5s1`. A recording too long to hold all its columns at once is scored in parts,
with the same `frame_columns`, by `edge.scoring.chunked`.

Unobserved parts: a NaN angle means the part was not seen. The worksheet items that could not be observed are
listed per frame in the `unobserved` column and as fractions of the recording in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.ergonomics.activity import activity_flags
from edge.ergonomics.l5s1 import L5S1Result, l5s1_load
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
    a = joint_angles(joints, layout, up)
    act = activity_flags(a, fps, config.activity)
    cfg = config
    load = l5s1_load(to_canonical(joints, layout), up, fps, cfg.body, cfg.load_kg, cfg.l5s1)
    columns = frame_columns(a, act, load, 0, fps, cfg)
    return ScoreResult(columns=columns, summary=summarise(columns, fps, layout, cfg))


def frame_columns(angles: dict[str, np.ndarray], act: dict[str, np.ndarray], load: L5S1Result, first_frame: int,
                  fps: float, config: ScoreConfig, load_frames: slice = slice(None)) -> dict[str, np.ndarray]:
    """The per-frame columns, in CSV order, of consecutive frames from `first_frame` on: from their angles, activity
    flags and L5/S1 load (`load_frames` of it: a load computed with extra frames around them)."""
    num_frames = len(angles["trunk_flexion_deg"])
    columns: dict[str, np.ndarray] = {"time_s": np.arange(first_frame, first_frame + num_frames) / fps, **angles}
    columns.update(method_columns(angles, act, config))
    columns["l5s1_moment_nm"] = load.moment_magnitude[load_frames]
    columns["l5s1_moment_extension_nm"] = load.moment_extension[load_frames]
    columns["l5s1_moment_lateral_nm"] = load.moment_lateral[load_frames]
    columns["l5s1_moment_twist_nm"] = load.moment_twist[load_frames]
    columns["l5s1_compression_n"] = load.compression_n[load_frames]
    columns["unobserved"] = unobserved_items(angles, num_frames)
    return columns
