"""Joint angles per frame from 3D joints of any supported layout, vectorised over frames.

Frames of reference (all built per frame):
- Pelvis frame: `up` is the given gravity-up vector; `left` is the hip line (right hip -> left hip) made horizontal;
  `forward = left x up`; `right = -left`. For a person facing +y with z up: forward +y, right +x.
- Trunk frame: axis `u` from the pelvis (mid-hip) to the neck; `left_t` is the shoulder line made perpendicular to
  `u`; `forward_t = left_t x u`.

Angle conventions (degrees):
- trunk_flexion: angle of the trunk axis from `up` in the sagittal plane, forward positive (negative = extension).
- trunk_side_bend: angle of the trunk axis out of the sagittal plane, toward the right positive.
- trunk_twist: shoulder line against hip line about the trunk axis, shoulders turned to the left positive.
- neck_*: the same three for the neck->head vector, measured in the trunk frame; twist uses the ear line, so it is
  only known for layouts with ears.
- upper_arm_flexion: elevation of the upper arm from the trunk's downward axis (0 = hanging), negative when the arm
  points backward below shoulder level and more backward than outward (extension). upper_arm_abduction: angle of
  the arm out of the trunk's sagittal plane, outward positive. Scoring reads elevation as "flexion" so that an arm
  raised sideways counts like one raised forward, and adds the abduction adjustment on top.
- shoulder_raise: elevation of the shoulder above the neck point, along the trunk axis. Where a layout has no neck
  joint (BlazePose, COCO) the neck is the mid-shoulder point, so only a one-sided raise is measurable.
- elbow_flexion, knee_flexion: 0 = straight.
- wrist_flexion (unsigned): needs a hand point; wrist_deviation (unsigned) needs index and pinky points.
- wrist_lateral_ratio: the wrist's sideways distance from the body midline, outward positive, in shoulder half-widths
  (negative = across the midline).
- foot_height_difference_m: left ankle minus right ankle along `up` (one foot raised = unilateral support).

A value that cannot be computed (layout lacks the point, or the point is NaN in that frame) is NaN: unknown, never 0.
"""

from __future__ import annotations

import numpy as np

from edge.geometry import angle_between_deg, asin_deg, cross, dot, reject, signed_angle_deg, unit
from edge.skeletons import Layout, to_canonical

SIDES = ("left", "right")
BODY_ANGLES = (
    "trunk_flexion_deg", "trunk_side_bend_deg", "trunk_twist_deg",
    "neck_flexion_deg", "neck_side_bend_deg", "neck_twist_deg",
)
SIDE_ANGLES = (
    "upper_arm_flexion_deg", "upper_arm_abduction_deg", "shoulder_raise_deg", "elbow_flexion_deg",
    "wrist_flexion_deg", "wrist_deviation_deg", "wrist_lateral_ratio", "knee_flexion_deg",
)
ANGLE_NAMES: tuple[str, ...] = BODY_ANGLES + tuple(
    f"{side}_{name}" for side in SIDES for name in SIDE_ANGLES
) + ("foot_height_difference_m",)

_INF = float("inf")
# What each value can be, from the function that makes it (the conventions above): atan2 and signed angles
# -180..180, arcsin -90..90, unsigned angles between vectors 0..180; ratios and lengths are unbounded.
_SPANS = {"trunk_flexion_deg": (-180.0, 180.0), "trunk_side_bend_deg": (-90.0, 90.0),
          "trunk_twist_deg": (-180.0, 180.0), "neck_flexion_deg": (-180.0, 180.0), "neck_side_bend_deg": (-90.0, 90.0),
          "neck_twist_deg": (-180.0, 180.0), "upper_arm_flexion_deg": (-180.0, 180.0),
          "upper_arm_abduction_deg": (-90.0, 90.0), "shoulder_raise_deg": (-90.0, 90.0),
          "elbow_flexion_deg": (0.0, 180.0), "wrist_flexion_deg": (0.0, 180.0), "wrist_deviation_deg": (0.0, 90.0),
          "wrist_lateral_ratio": (-_INF, _INF), "knee_flexion_deg": (0.0, 180.0),
          "foot_height_difference_m": (-_INF, _INF)}
ANGLE_RANGES: dict[str, tuple[float, float]] = {
    name: _SPANS[name.removeprefix("left_").removeprefix("right_")] for name in ANGLE_NAMES}


def _nan(num_frames: int) -> np.ndarray:
    return np.full(num_frames, np.nan)


def joint_angles(joints: np.ndarray, layout: Layout, up: np.ndarray) -> dict[str, np.ndarray]:
    """All angles in `ANGLE_NAMES`, each a float array (T,), from joints (T, J, 3) in metres."""
    return angles_from_points(to_canonical(joints, layout), up)


def angles_from_points(p: dict[str, np.ndarray], up: np.ndarray) -> dict[str, np.ndarray]:
    """Angles from canonical points (name -> (T, 3)); see the module docstring for conventions."""
    up = np.asarray(up, dtype=np.float64)
    num_frames = p["pelvis"].shape[0]
    out: dict[str, np.ndarray] = {}

    left = unit(reject(p["left_hip"] - p["right_hip"], up))
    forward = cross(left, up)
    trunk = p["neck"] - p["pelvis"]
    u = unit(trunk)
    out["trunk_flexion_deg"] = np.degrees(np.arctan2(dot(trunk, forward), dot(trunk, up)))
    out["trunk_side_bend_deg"] = asin_deg(dot(u, -left))
    shoulder_line = p["left_shoulder"] - p["right_shoulder"]
    out["trunk_twist_deg"] = signed_angle_deg(p["left_hip"] - p["right_hip"], shoulder_line, u)

    left_t = unit(reject(shoulder_line, u))
    forward_t = cross(left_t, u)
    if "head" in p:
        neck = p["head"] - p["neck"]
        out["neck_flexion_deg"] = np.degrees(np.arctan2(dot(neck, forward_t), dot(neck, u)))
        out["neck_side_bend_deg"] = asin_deg(dot(unit(neck), -left_t))
        if "left_ear" in p and "right_ear" in p:
            out["neck_twist_deg"] = signed_angle_deg(shoulder_line, p["left_ear"] - p["right_ear"], unit(neck))
        else:
            out["neck_twist_deg"] = _nan(num_frames)
    else:
        for name in ("neck_flexion_deg", "neck_side_bend_deg", "neck_twist_deg"):
            out[name] = _nan(num_frames)

    mid_shoulder = 0.5 * (p["left_shoulder"] + p["right_shoulder"])
    half_width = 0.5 * np.linalg.norm(shoulder_line, axis=-1)
    for side, outward in (("left", left_t), ("right", -left_t)):
        shoulder, elbow, wrist = p[f"{side}_shoulder"], p[f"{side}_elbow"], p[f"{side}_wrist"]
        arm = unit(elbow - shoulder)
        below = -dot(arm, u)
        ahead = dot(arm, forward_t)
        out_of_plane = dot(arm, outward)
        elevation = np.degrees(np.arctan2(np.linalg.norm(cross(arm, -u), axis=-1), below))
        extension = (ahead < 0) & (below > 0) & (-ahead > out_of_plane)
        out[f"{side}_upper_arm_flexion_deg"] = np.where(extension, -elevation, elevation)
        out[f"{side}_upper_arm_abduction_deg"] = asin_deg(out_of_plane)
        out[f"{side}_shoulder_raise_deg"] = asin_deg(dot(unit(shoulder - p["neck"]), u))
        forearm = wrist - elbow
        out[f"{side}_elbow_flexion_deg"] = angle_between_deg(elbow - shoulder, forearm)
        out[f"{side}_wrist_flexion_deg"], out[f"{side}_wrist_deviation_deg"] = _wrist(p, side, forearm, num_frames)
        out[f"{side}_wrist_lateral_ratio"] = dot(wrist - mid_shoulder, outward) / half_width
        out[f"{side}_knee_flexion_deg"] = angle_between_deg(
            p[f"{side}_knee"] - p[f"{side}_hip"], p[f"{side}_ankle"] - p[f"{side}_knee"]
        )
    out["foot_height_difference_m"] = dot(p["left_ankle"] - p["right_ankle"], up)
    return {name: out[name] for name in ANGLE_NAMES}


def _wrist(p: dict[str, np.ndarray], side: str, forearm: np.ndarray, num_frames: int):
    """Wrist flexion and deviation (unsigned) from the hand frame; NaN where the layout has no hand points."""
    hand_point = p.get(f"{side}_hand")
    if hand_point is None:
        return _nan(num_frames), _nan(num_frames)
    hand = hand_point - p[f"{side}_wrist"]
    index, pinky = p.get(f"{side}_index"), p.get(f"{side}_pinky")
    if index is None or pinky is None:
        # One hand point: the bend mixes flexion and deviation; report it as flexion, deviation unknown.
        return angle_between_deg(forearm, hand), _nan(num_frames)
    h = unit(hand)
    across = unit(reject(index - pinky, h))
    normal = cross(h, across)
    f = unit(forearm)
    flexion = np.abs(np.degrees(np.arctan2(dot(f, normal), dot(f, h))))
    deviation = np.abs(asin_deg(dot(f, across)))
    return flexion, deviation
