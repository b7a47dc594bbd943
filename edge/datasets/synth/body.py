"""A synthetic person's body: posed landmarks with the person's own segment proportions, standing on the floor.

The posing model (`edge/datasets/synth/posing.py`) gives one body shape; each person scales its segments along
themselves, child after parent, so every direction (hence every angle kinematics measures) is kept. The floor
contact rule lives here because the kneeling program must aim for it.
"""

from __future__ import annotations

import functools

import numpy as np

from edge.datasets.synth.posing import Posture, posed_landmarks
from edge.datasets.synth.timeline import POSTURE_FIELDS

SIDES = ("left", "right")
UP = np.array([0.0, 0.0, 1.0])  # the world's up: bodies stand on the floor z = 0

# The segments a person scales, and (landmark, parent, segment) in an order where parents come first.
SEGMENTS = ("pelvis_width", "thigh", "shank", "foot", "trunk", "head", "shoulder_width", "upper_arm", "forearm",
            "hand")
_HEAD_POINTS = ("head", "upper_neck", "head_top", "nose", "left_ear", "left_eye", "left_eye_inner", "left_eye_outer",
                "right_ear", "right_eye", "right_eye_inner", "right_eye_outer", "mouth_left", "mouth_right")
_TREE: tuple[tuple[str, str, str], ...] = (
    *((p, "pelvis", "trunk") for p in ("spine_mid", "neck")),
    *((p, "neck", "head") for p in _HEAD_POINTS),
    *(item for s in SIDES for item in (
        (f"{s}_hip", "pelvis", "pelvis_width"), (f"{s}_knee", f"{s}_hip", "thigh"),
        (f"{s}_ankle", f"{s}_knee", "shank"), (f"{s}_heel", f"{s}_ankle", "foot"),
        (f"{s}_toe", f"{s}_ankle", "foot"), (f"{s}_shoulder", "neck", "shoulder_width"),
        (f"{s}_elbow", f"{s}_shoulder", "upper_arm"), (f"{s}_wrist", f"{s}_elbow", "forearm"),
        *((f"{s}_{p}", f"{s}_wrist", "hand") for p in ("hand", "index", "pinky", "thumb", "hand_tip")))),
)

KNEE_RADIUS = 0.03  # knee centre above the floor when kneeling, fraction of stature


@functools.lru_cache(maxsize=1)
def standing_geometry() -> tuple[float, float, float]:
    """Thigh and shank lengths and the ankle's height above the floor, as fractions of stature, measured on the
    posing model (so they follow it)."""
    lm = {k: v[0] for k, v in posed_landmarks(Posture(), height_m=1.0).items()}
    return (float(np.linalg.norm(lm["left_knee"] - lm["left_hip"])),
            float(np.linalg.norm(lm["left_ankle"] - lm["left_knee"])), float(lm["left_ankle"][2]))


def body_landmarks(tracks: dict, height_m: float, proportions: dict) -> tuple[list[str], np.ndarray]:
    """All landmarks (T, M, 3), world z up, floor at z = 0, at the tracked floor position; `proportions` scales
    each of `SEGMENTS`."""
    posture = Posture(**{name: tracks[name] for name in POSTURE_FIELDS})
    old = posed_landmarks(posture, height_m=height_m)
    new = {"pelvis": old["pelvis"]}
    for name, parent, segment in _TREE:
        new[name] = new[parent] + proportions[segment] * (old[name] - old[parent])
    missing = set(old) - set(new)
    if missing:
        raise RuntimeError(f"posing landmarks without a segment: {sorted(missing)}")
    names = list(old)
    points = np.stack([new[name] for name in names], axis=1)
    # Floor contact: the lower of an ankle (at its standing height) and a knee (its radius, when kneeling).
    ankles = [names.index("left_ankle"), names.index("right_ankle")]
    knees = [names.index("left_knee"), names.index("right_knee")]
    clearance = np.minimum(points[:, ankles, 2].min(axis=1) - standing_geometry()[2] * height_m,
                           points[:, knees, 2].min(axis=1) - KNEE_RADIUS * height_m)
    points[:, :, 2] -= clearance[:, None]
    points[:, :, 0] += tracks["x"][:, None]
    points[:, :, 1] += tracks["y"][:, None]
    return names, points


__all__ = ["KNEE_RADIUS", "SEGMENTS", "SIDES", "UP", "body_landmarks", "standing_geometry"]
