"""Forward kinematics: a body of a given height posed by joint angles, as landmarks or any layout's joints.

Used to build skeletons with known angles (tests, examples) and the example sequence that set-up generates. The
angles follow the conventions of `edge.kinematics`, so that measuring a posed body returns the angles it was posed
with. Segment proportions are fractions of stature (Drillis & Contini, as tabulated by Winter); head and hand
details are rough, enough for keypoint layouts.

Every angle field takes a scalar or an array of shape (T,); the result has T frames.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from edge.geometry import cross, frame_from_up, reject, rotation_about, unit
from edge.skeletons import Layout

# Heights and lengths as fractions of stature.
_ANKLE_H, _HIP_H, _SHOULDER_H, _HEAD_H = 0.039, 0.530, 0.818, 0.936
_THIGH, _SHANK = 0.245, 0.246
_HIP_HALF, _SHOULDER_HALF = 0.05, 0.1295
_UPPER_ARM, _FOREARM, _HAND, _HAND_TIP = 0.186, 0.146, 0.05, 0.108


@dataclass(frozen=True)
class Posture:
    """Joint angles in degrees (see `edge.kinematics` for signs); shoulder raise in metres along the trunk."""

    trunk_flexion: object = 0.0
    trunk_side_bend: object = 0.0
    trunk_twist: object = 0.0
    neck_flexion: object = 0.0
    neck_side_bend: object = 0.0
    neck_twist: object = 0.0
    left_upper_arm_flexion: object = 0.0
    right_upper_arm_flexion: object = 0.0
    left_upper_arm_abduction: object = 0.0
    right_upper_arm_abduction: object = 0.0
    left_shoulder_raise_m: object = 0.0
    right_shoulder_raise_m: object = 0.0
    left_elbow_flexion: object = 0.0
    right_elbow_flexion: object = 0.0
    left_wrist_flexion: object = 0.0
    right_wrist_flexion: object = 0.0
    left_wrist_deviation: object = 0.0
    right_wrist_deviation: object = 0.0
    left_hip_flexion: object = 0.0
    right_hip_flexion: object = 0.0
    left_knee_flexion: object = 0.0
    right_knee_flexion: object = 0.0
    heading: object = 0.0


def _frames(posture: Posture) -> int:
    lengths = {np.size(getattr(posture, f.name)) for f in fields(posture)} - {1}
    if len(lengths) > 1:
        raise ValueError(f"posture arrays have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 1


def posed_landmarks(
    posture: Posture, height_m: float = 1.75, up=(0.0, 0.0, 1.0), origin=(0.0, 0.0, 0.0)
) -> dict[str, np.ndarray]:
    """Landmark name -> (T, 3) positions of the posed body, feet on the floor through `origin`."""
    n = _frames(posture)

    def ang(name: str) -> np.ndarray:
        return np.broadcast_to(np.radians(np.asarray(getattr(posture, name), dtype=np.float64)), (n,))

    def col(v) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), (n, 3))

    def rot(axis: np.ndarray, angle: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.einsum("tij,tj->ti", rotation_about(axis, angle), v)

    H = height_m
    # Body frame in a z-up world: facing +y at heading 0, left = -x.
    z = col([0.0, 0.0, 1.0])
    heading = ang("heading")
    fwd = rot(z, heading, col([0.0, 1.0, 0.0]))
    left = rot(z, heading, col([-1.0, 0.0, 0.0]))
    right = -left

    lm: dict[str, np.ndarray] = {}
    pelvis = np.zeros((n, 3))
    for side, s in (("left", left), ("right", right)):
        hip = pelvis + _HIP_HALF * H * s
        a = ang(f"{side}_hip_flexion")
        k = ang(f"{side}_knee_flexion")
        thigh = -np.cos(a)[:, None] * z + np.sin(a)[:, None] * fwd
        shank = -np.cos(a - k)[:, None] * z + np.sin(a - k)[:, None] * fwd
        knee = hip + _THIGH * H * thigh
        ankle = knee + _SHANK * H * shank
        lm[f"{side}_hip"], lm[f"{side}_knee"], lm[f"{side}_ankle"] = hip, knee, ankle
        lm[f"{side}_heel"] = ankle - 0.025 * H * fwd - 0.035 * H * z
        lm[f"{side}_toe"] = ankle + 0.08 * H * fwd - 0.035 * H * z
    lm["pelvis"] = pelvis

    # Trunk: flexion about the left axis, side bend about forward, twist about up (applied in that order of
    # composition: R = R_left(flex) R_fwd(side) R_up(twist)), so that kinematics reads each angle back.
    r_trunk = np.einsum(
        "tij,tjk,tkl->til",
        rotation_about(left, ang("trunk_flexion")),
        rotation_about(fwd, ang("trunk_side_bend")),
        rotation_about(z, ang("trunk_twist")),
    )
    u = np.einsum("tij,tj->ti", r_trunk, z)
    left_t = np.einsum("tij,tj->ti", r_trunk, left)
    fwd_t = cross(left_t, u)
    trunk_len = (_SHOULDER_H - _HIP_H) * H
    neck = pelvis + trunk_len * u
    lm["neck"] = neck
    lm["spine_mid"] = pelvis + 0.5 * trunk_len * u

    r_neck = np.einsum(
        "tij,tjk,tkl->til",
        rotation_about(left_t, ang("neck_flexion")),
        rotation_about(fwd_t, ang("neck_side_bend")),
        rotation_about(u, ang("neck_twist")),
    )
    u_h = np.einsum("tij,tj->ti", r_neck, u)
    left_h = np.einsum("tij,tj->ti", r_neck, left_t)
    fwd_h = cross(left_h, u_h)
    head = neck + (_HEAD_H - _SHOULDER_H) * H * u_h
    lm["head"] = head
    lm["upper_neck"] = neck + 0.35 * (head - neck)
    lm["head_top"] = neck + (1.0 - _SHOULDER_H) * H * u_h
    lm["nose"] = head + 0.055 * H * fwd_h - 0.01 * H * u_h
    for side, s in (("left", left_h), ("right", -left_h)):
        lm[f"{side}_ear"] = head + 0.043 * H * s
        lm[f"{side}_eye"] = head + 0.045 * H * fwd_h + 0.018 * H * s
        lm[f"{side}_eye_inner"] = head + 0.045 * H * fwd_h + 0.010 * H * s
        lm[f"{side}_eye_outer"] = head + 0.043 * H * fwd_h + 0.026 * H * s
    lm["mouth_left"] = head + 0.05 * H * fwd_h - 0.03 * H * u_h + 0.015 * H * left_h
    lm["mouth_right"] = head + 0.05 * H * fwd_h - 0.03 * H * u_h - 0.015 * H * left_h

    for side, out in (("left", left_t), ("right", -left_t)):
        shoulder = neck + _SHOULDER_HALF * H * out + np.asarray(
            np.broadcast_to(getattr(posture, f"{side}_shoulder_raise_m"), (n,)), dtype=np.float64
        )[:, None] * u
        phi, theta = ang(f"{side}_upper_arm_flexion"), ang(f"{side}_upper_arm_abduction")
        arm = np.cos(theta)[:, None] * (-np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * fwd_t)
        arm = arm + np.sin(theta)[:, None] * out
        elbow = shoulder + _UPPER_ARM * H * arm
        # The forearm bends toward forward-and-up of the trunk, whatever the arm's direction.
        bend = reject(fwd_t + u, arm)
        bend = np.where(np.linalg.norm(bend, axis=-1, keepdims=True) > 1e-6, bend, reject(out, arm))
        bend = unit(bend)
        e = ang(f"{side}_elbow_flexion")
        forearm = np.cos(e)[:, None] * arm + np.sin(e)[:, None] * bend
        wrist = elbow + _FOREARM * H * forearm
        # Hand frame: the palm faces the way the forearm bends (the bend direction turned with the forearm);
        # `across` runs from pinky to index.
        palm = np.cos(e)[:, None] * bend - np.sin(e)[:, None] * arm
        across = cross(forearm, palm)
        w = ang(f"{side}_wrist_flexion")
        hand_dir = np.cos(w)[:, None] * forearm + np.sin(w)[:, None] * palm
        d = ang(f"{side}_wrist_deviation")
        hand_dir, across = (
            np.cos(d)[:, None] * hand_dir + np.sin(d)[:, None] * across,
            np.cos(d)[:, None] * across - np.sin(d)[:, None] * hand_dir,
        )
        hand = wrist + _HAND * H * hand_dir
        lm[f"{side}_shoulder"], lm[f"{side}_elbow"], lm[f"{side}_wrist"] = shoulder, elbow, wrist
        lm[f"{side}_hand"] = hand
        lm[f"{side}_index"] = hand + 0.02 * H * across
        lm[f"{side}_pinky"] = hand - 0.02 * H * across
        lm[f"{side}_thumb"] = wrist + 0.03 * H * hand_dir + 0.03 * H * across
        lm[f"{side}_hand_tip"] = wrist + _HAND_TIP * H * hand_dir

    # Stand the lowest ankle at its height above the floor (z = 0), then place the body in the requested frame.
    ankles_z = np.minimum(lm["left_ankle"][:, 2], lm["right_ankle"][:, 2])
    lift = (_ANKLE_H * H - ankles_z)[:, None] * np.array([0.0, 0.0, 1.0])
    to_world = frame_from_up(np.asarray(up, dtype=np.float64))
    origin = np.asarray(origin, dtype=np.float64)
    return {name: (pos + lift) @ to_world.T + origin for name, pos in lm.items()}


def posed_joints(
    posture: Posture, layout: Layout, height_m: float = 1.75, up=(0.0, 0.0, 1.0), origin=(0.0, 0.0, 0.0)
) -> np.ndarray:
    """The posed body as (T, J, 3) joints of `layout`."""
    lm = posed_landmarks(posture, height_m, up, origin)
    return np.stack([lm[name] for name in layout.joints], axis=1)
