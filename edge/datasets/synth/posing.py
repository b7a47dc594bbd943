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
    left_hip_abduction: object = 0.0  # the leg out to its side (a wider stance), the knee bending in its plane
    right_hip_abduction: object = 0.0
    heading: object = 0.0


def _frames(posture: Posture) -> int:
    """How many frames the posture describes: the one length of its array fields (scalars fit any)."""
    lengths = {np.size(getattr(posture, f.name)) for f in fields(posture)} - {1}
    if len(lengths) > 1:
        raise ValueError(f"posture arrays have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 1


def _angle(posture: Posture, name: str, n: int) -> np.ndarray:
    """Field `name` of `posture` in radians, as (n,)."""
    return np.broadcast_to(np.radians(np.asarray(getattr(posture, name), dtype=np.float64)), (n,))


def _vector(v, n: int) -> np.ndarray:
    """One direction repeated for n frames, (n, 3)."""
    return np.broadcast_to(np.asarray(v, dtype=np.float64), (n, 3))


def _bent_frame(
    up: np.ndarray, left: np.ndarray, fwd: np.ndarray, flexion: np.ndarray, side_bend: np.ndarray,
    twist: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, left, forward) of a segment bent from its parent's frame: flexion about the left axis, side bend about
    forward, twist about up (composed as R = R_left(flex) R_fwd(side) R_up(twist)), so that kinematics reads each
    angle back."""
    r = np.einsum(
        "tij,tjk,tkl->til",
        rotation_about(left, flexion),
        rotation_about(fwd, side_bend),
        rotation_about(up, twist),
    )
    bent_up = np.einsum("tij,tj->ti", r, up)
    bent_left = np.einsum("tij,tj->ti", r, left)
    return bent_up, bent_left, cross(bent_left, bent_up)


def _legs(posture: Posture, n: int, height_m: float, z: np.ndarray, fwd: np.ndarray, left: np.ndarray,
          pelvis: np.ndarray) -> dict[str, np.ndarray]:
    """Hips, knees, ankles, heels and toes of both legs; the hip and knee flex in the leg's plane: the sagittal
    plane turned out to the leg's side by the hip abduction."""
    lm: dict[str, np.ndarray] = {}
    for side, s in (("left", left), ("right", -left)):
        hip = pelvis + _HIP_HALF * height_m * s
        a = _angle(posture, f"{side}_hip_flexion", n)
        k = _angle(posture, f"{side}_knee_flexion", n)
        thigh = -np.cos(a)[:, None] * z + np.sin(a)[:, None] * fwd
        shank = -np.cos(a - k)[:, None] * z + np.sin(a - k)[:, None] * fwd
        b = _angle(posture, f"{side}_hip_abduction", n)
        if np.any(b):
            thigh = np.cos(b)[:, None] * thigh + np.sin(b)[:, None] * s
            shank = np.cos(b)[:, None] * shank + np.sin(b)[:, None] * s
        knee = hip + _THIGH * height_m * thigh
        ankle = knee + _SHANK * height_m * shank
        lm[f"{side}_hip"], lm[f"{side}_knee"], lm[f"{side}_ankle"] = hip, knee, ankle
        lm[f"{side}_heel"] = ankle - 0.025 * height_m * fwd - 0.035 * height_m * z
        lm[f"{side}_toe"] = ankle + 0.08 * height_m * fwd - 0.035 * height_m * z
    return lm


def _head(
    height_m: float, neck: np.ndarray, u_h: np.ndarray, left_h: np.ndarray, fwd_h: np.ndarray
) -> dict[str, np.ndarray]:
    """Head, face and ear landmarks in the head frame (up `u_h`, left `left_h`, forward `fwd_h`) above `neck`."""
    lm: dict[str, np.ndarray] = {}
    head = neck + (_HEAD_H - _SHOULDER_H) * height_m * u_h
    lm["head"] = head
    lm["upper_neck"] = neck + 0.35 * (head - neck)
    lm["head_top"] = neck + (1.0 - _SHOULDER_H) * height_m * u_h
    lm["nose"] = head + 0.055 * height_m * fwd_h - 0.01 * height_m * u_h
    for side, s in (("left", left_h), ("right", -left_h)):
        lm[f"{side}_ear"] = head + 0.043 * height_m * s
        lm[f"{side}_eye"] = head + 0.045 * height_m * fwd_h + 0.018 * height_m * s
        lm[f"{side}_eye_inner"] = head + 0.045 * height_m * fwd_h + 0.010 * height_m * s
        lm[f"{side}_eye_outer"] = head + 0.043 * height_m * fwd_h + 0.026 * height_m * s
    lm["mouth_left"] = head + 0.05 * height_m * fwd_h - 0.03 * height_m * u_h + 0.015 * height_m * left_h
    lm["mouth_right"] = head + 0.05 * height_m * fwd_h - 0.03 * height_m * u_h - 0.015 * height_m * left_h
    return lm


def _arm(posture: Posture, side: str, n: int, height_m: float, neck: np.ndarray, u: np.ndarray, fwd_t: np.ndarray,
         out: np.ndarray) -> dict[str, np.ndarray]:
    """Shoulder to fingertips of one arm, from the trunk frame (up `u`, forward `fwd_t`, `out` toward this side)."""
    shoulder = neck + _SHOULDER_HALF * height_m * out + np.asarray(
        np.broadcast_to(getattr(posture, f"{side}_shoulder_raise_m"), (n,)), dtype=np.float64
    )[:, None] * u
    phi, theta = _angle(posture, f"{side}_upper_arm_flexion", n), _angle(posture, f"{side}_upper_arm_abduction", n)
    arm = np.cos(theta)[:, None] * (-np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * fwd_t)
    arm = arm + np.sin(theta)[:, None] * out
    elbow = shoulder + _UPPER_ARM * height_m * arm
    # The forearm bends toward forward-and-up of the trunk, whatever the arm's direction.
    bend = reject(fwd_t + u, arm)
    bend = np.where(np.linalg.norm(bend, axis=-1, keepdims=True) > 1e-6, bend, reject(out, arm))
    bend = unit(bend)
    e = _angle(posture, f"{side}_elbow_flexion", n)
    forearm = np.cos(e)[:, None] * arm + np.sin(e)[:, None] * bend
    wrist = elbow + _FOREARM * height_m * forearm
    # Hand frame: the palm faces the way the forearm bends (the bend direction turned with the forearm);
    # `across` runs from pinky to index.
    palm = np.cos(e)[:, None] * bend - np.sin(e)[:, None] * arm
    across = cross(forearm, palm)
    w = _angle(posture, f"{side}_wrist_flexion", n)
    hand_dir = np.cos(w)[:, None] * forearm + np.sin(w)[:, None] * palm
    d = _angle(posture, f"{side}_wrist_deviation", n)
    hand_dir, across = (
        np.cos(d)[:, None] * hand_dir + np.sin(d)[:, None] * across,
        np.cos(d)[:, None] * across - np.sin(d)[:, None] * hand_dir,
    )
    hand = wrist + _HAND * height_m * hand_dir
    return {
        f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist, f"{side}_hand": hand,
        f"{side}_index": hand + 0.02 * height_m * across,
        f"{side}_pinky": hand - 0.02 * height_m * across,
        f"{side}_thumb": wrist + 0.03 * height_m * hand_dir + 0.03 * height_m * across,
        f"{side}_hand_tip": wrist + _HAND_TIP * height_m * hand_dir,
    }


def posed_landmarks(
    posture: Posture, height_m: float = 1.75, up=(0.0, 0.0, 1.0), origin=(0.0, 0.0, 0.0)
) -> dict[str, np.ndarray]:
    """Landmark name -> (T, 3) positions of the posed body, feet on the floor through `origin`."""
    n = _frames(posture)
    # Body frame in a z-up world: facing +y at heading 0, left = -x.
    z = _vector([0.0, 0.0, 1.0], n)
    heading = _angle(posture, "heading", n)
    fwd = np.einsum("tij,tj->ti", rotation_about(z, heading), _vector([0.0, 1.0, 0.0], n))
    left = np.einsum("tij,tj->ti", rotation_about(z, heading), _vector([-1.0, 0.0, 0.0], n))

    pelvis = np.zeros((n, 3))
    lm = _legs(posture, n, height_m, z, fwd, left, pelvis)
    lm["pelvis"] = pelvis
    u, left_t, fwd_t = _bent_frame(z, left, fwd, _angle(posture, "trunk_flexion", n),
                                   _angle(posture, "trunk_side_bend", n), _angle(posture, "trunk_twist", n))
    trunk_len = (_SHOULDER_H - _HIP_H) * height_m
    neck = pelvis + trunk_len * u
    lm["neck"] = neck
    lm["spine_mid"] = pelvis + 0.5 * trunk_len * u
    u_h, left_h, fwd_h = _bent_frame(u, left_t, fwd_t, _angle(posture, "neck_flexion", n),
                                     _angle(posture, "neck_side_bend", n), _angle(posture, "neck_twist", n))
    lm.update(_head(height_m, neck, u_h, left_h, fwd_h))
    for side, out in (("left", left_t), ("right", -left_t)):
        lm.update(_arm(posture, side, n, height_m, neck, u, fwd_t, out))

    # Stand the lowest ankle at its height above the floor (z = 0), then place the body in the requested frame.
    ankles_z = np.minimum(lm["left_ankle"][:, 2], lm["right_ankle"][:, 2])
    lift = (_ANKLE_H * height_m - ankles_z)[:, None] * np.array([0.0, 0.0, 1.0])
    to_world = frame_from_up(np.asarray(up, dtype=np.float64))
    origin = np.asarray(origin, dtype=np.float64)
    return {name: (pos + lift) @ to_world.T + origin for name, pos in lm.items()}


def posed_joints(
    posture: Posture, layout: Layout, height_m: float = 1.75, up=(0.0, 0.0, 1.0), origin=(0.0, 0.0, 0.0)
) -> np.ndarray:
    """The posed body as (T, J, 3) joints of `layout`."""
    lm = posed_landmarks(posture, height_m, up, origin)
    return np.stack([lm[name] for name in layout.joints], axis=1)
