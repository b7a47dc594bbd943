"""Augmentations of skeleton sequences: pure functions returning new `Sequence`s.

Geometric ones act on the 3D joints about one pivot per sequence, the mean mid-hip over frames (a single pivot keeps
the motion a rigid or similar transform of the original, so velocities stay consistent). 2D keypoints are changed
where that has an image-space meaning (scale, mirror, dropped joints, speed) and left as they are otherwise
(a rotation about the up axis has no image-space equivalent without a camera). Each function records itself in
metadata["augmentations"].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edge.datasets.sequence import Sequence, resample
from edge.errors import InputError
from edge.geometry import reject, rotation_about, unit
from edge.skeletons import get_layout


def _record(seq: Sequence, op: str, **params) -> dict:
    return dict(seq.metadata, augmentations=[*seq.metadata.get("augmentations", []), {"op": op, **params}])


def _hips(seq: Sequence) -> tuple[int, int]:
    lay = get_layout(seq.layout)
    return lay.index("left_hip"), lay.index("right_hip")


def _pivot3d(seq: Sequence) -> np.ndarray:
    left, right = _hips(seq)
    mid = 0.5 * (seq.joints[:, left] + seq.joints[:, right])
    ok = np.isfinite(mid).all(axis=1)
    if not ok.any():
        raise InputError("cannot augment: the hips are missing in every frame")
    return mid[ok].mean(axis=0)


def _pivot2d(seq: Sequence) -> np.ndarray:
    left, right = _hips(seq)
    kp = seq.keypoints2d
    ok = (kp[:, left, 2] > 0) & (kp[:, right, 2] > 0) & np.isfinite(kp[:, [left, right], :2]).all(axis=(1, 2))
    if not ok.any():
        return np.nanmean(kp[:, :, :2].reshape(-1, 2), axis=0)  # no hips seen: the keypoints' centroid
    return 0.5 * (kp[ok, left, :2] + kp[ok, right, :2]).mean(axis=0)


def _pivot2d_first(seq: Sequence) -> float:
    left, right = _hips(seq)
    kp = seq.keypoints2d
    ok = np.flatnonzero((kp[:, left, 2] > 0) & (kp[:, right, 2] > 0) & np.isfinite(kp[:, [left, right], 0]).all(1))
    if len(ok):
        return float(0.5 * (kp[ok[0], left, 0] + kp[ok[0], right, 0]))
    return float(np.nanmean(kp[..., 0]))


def rotate_about_up(seq: Sequence, angle_deg: float) -> Sequence:
    """3D joints turned by `angle_deg` about the sequence's up axis through the mean mid-hip (right-hand rule)."""
    if seq.joints is None:
        raise InputError("rotate_about_up needs 3D joints")
    rot = rotation_about(unit(np.asarray(seq.up, dtype=np.float64)), np.radians(angle_deg))
    pivot = _pivot3d(seq)
    joints = (seq.joints - pivot) @ rot.T + pivot
    return replace(seq, joints=joints, metadata=_record(seq, "rotate_about_up", angle_deg=float(angle_deg)))


def tilt(seq: Sequence, angle_deg: float, azimuth_deg: float) -> Sequence:
    """3D joints tilted by `angle_deg` about the horizontal axis at `azimuth_deg` (measured about up from the first
    axis perpendicular to it), through the mean mid-hip: what a wrongly calibrated up vector (a camera's pitch or
    roll misjudged) does to every trunk and neck angle."""
    if seq.joints is None:
        raise InputError("tilt needs 3D joints")
    up = unit(np.asarray(seq.up, dtype=np.float64))
    first = unit(reject(np.eye(3)[int(np.argmin(np.abs(up)))], up))  # a horizontal axis
    axis = rotation_about(up, np.radians(azimuth_deg)) @ first
    rot = rotation_about(axis, np.radians(angle_deg))
    pivot = _pivot3d(seq)
    joints = (seq.joints - pivot) @ rot.T + pivot
    return replace(seq, joints=joints,
                   metadata=_record(seq, "tilt", angle_deg=float(angle_deg), azimuth_deg=float(azimuth_deg)))


def scale(seq: Sequence, factor: float) -> Sequence:
    """Joints scaled by `factor` about the mean mid-hip (3D) and 2D keypoints about theirs; targets unchanged."""
    if not (np.isfinite(factor) and factor > 0):
        raise InputError(f"scale factor must be positive, got {factor}")
    joints = kp = None
    if seq.joints is not None:
        pivot = _pivot3d(seq)
        joints = (seq.joints - pivot) * factor + pivot
    if seq.keypoints2d is not None:
        kp = seq.keypoints2d.copy()
        pivot2 = _pivot2d(seq)
        kp[..., :2] = (kp[..., :2] - pivot2) * factor + pivot2
    return replace(seq, joints=joints, keypoints2d=kp, metadata=_record(seq, "scale", factor=float(factor)))


def _swap_side(name: str) -> str:
    """`reba_upper_arm_left` <-> `reba_upper_arm_right`, `left_x` <-> `right_x` (whole `_`-separated words)."""
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
    return "_".join(swap.get(word, word) for word in name.split("_"))


def mirror(seq: Sequence) -> Sequence:
    """The mirror-image person: reflected across the body's sagittal plane and left/right joints and targets swapped.

    3D: the plane holds the up axis and the first frame's facing, through its mid-hip (normal: that frame's hip line
    made horizontal), so the body's midline stays in place. 2D: x reflected about the first seen mid-hip x.
    Mirroring twice gives back the original.
    """
    perm = get_layout(seq.layout).mirror_permutation
    joints = kp = None
    if seq.joints is not None:
        left, right = _hips(seq)
        up = unit(np.asarray(seq.up, dtype=np.float64))
        ok = np.flatnonzero(np.isfinite(seq.joints[:, [left, right]]).all(axis=(1, 2)))
        if not len(ok):
            raise InputError("cannot mirror: the hips are missing in every frame")
        first = seq.joints[ok[0]]
        normal = unit(reject(first[left] - first[right], up))
        centre = 0.5 * (first[left] + first[right])
        offset = (seq.joints - centre) @ normal
        joints = (seq.joints - 2.0 * offset[..., None] * normal)[:, perm]
    if seq.keypoints2d is not None:
        kp = seq.keypoints2d.copy()
        kp[..., 0] = 2.0 * _pivot2d_first(seq) - kp[..., 0]
        kp = kp[:, perm]
    targets = {_swap_side(name): values for name, values in seq.targets.items()}
    return replace(seq, joints=joints, keypoints2d=kp, targets=targets, metadata=_record(seq, "mirror"))


def drop_joints(seq: Sequence, rng: np.random.Generator, p: float) -> Sequence:
    """Each joint in each frame missing with probability `p`: 3D set to NaN, 2D confidence set to 0 (same joints)."""
    if not 0.0 <= p <= 1.0:
        raise InputError(f"drop probability must be in [0, 1], got {p}")
    shape = (seq.num_frames, get_layout(seq.layout).num_joints)
    drop = rng.random(shape) < p
    joints = kp = None
    if seq.joints is not None:
        joints = np.where(drop[..., None], np.nan, seq.joints)
    if seq.keypoints2d is not None:
        kp = seq.keypoints2d.copy()
        kp[..., 2] = np.where(drop, 0.0, kp[..., 2])
    return replace(seq, joints=joints, keypoints2d=kp, metadata=_record(seq, "drop_joints", p=float(p)))


def change_speed(seq: Sequence, factor: float) -> Sequence:
    """The motion played `factor` times faster (factor 2: half the duration) at the same labelled frame rate."""
    if not (np.isfinite(factor) and factor > 0):
        raise InputError(f"speed factor must be positive, got {factor}")
    faster = resample(seq, seq.fps / factor)
    return replace(faster, fps=seq.fps, metadata=_record(seq, "change_speed", factor=float(factor)))


@dataclass(frozen=True)
class AugmentConfig:
    """What `random_augment` draws. Set a range to (1, 1), a probability or an angle to 0 to turn a step off."""

    rotate_deg: float = 180.0  # rotation about up, uniform in [-rotate_deg, rotate_deg]
    scale_range: tuple[float, float] = (0.9, 1.1)  # body size, uniform
    mirror_p: float = 0.5  # probability of a mirror image
    drop_p: float = 0.02  # per joint and frame
    speed_range: tuple[float, float] = (0.9, 1.1)  # playback speed, log-uniform
    tilt_deg: float = 0.0  # a misjudged up vector: tilt uniform in [0, tilt_deg] about a random horizontal axis

    def __post_init__(self):
        for name in ("rotate_deg", "tilt_deg"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.tilt_deg > 45:
            raise InputError(f"tilt_deg must be at most 45, got {self.tilt_deg}")
        for name in ("scale_range", "speed_range"):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi and np.isfinite(hi)):
                raise InputError(f"{name} must be (low, high) with 0 < low <= high, got {(lo, hi)}")
        for name in ("mirror_p", "drop_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def random_augment(seq: Sequence, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()) -> Sequence:
    """Speed, rotation and tilt (3D only), scale, mirror and dropped joints, each drawn from `config` with `rng`
    (a step that is off draws nothing)."""
    lo, hi = config.speed_range
    if hi > lo or lo != 1.0:
        seq = change_speed(seq, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    if config.rotate_deg > 0 and seq.joints is not None:
        seq = rotate_about_up(seq, float(rng.uniform(-config.rotate_deg, config.rotate_deg)))
    if config.tilt_deg > 0 and seq.joints is not None:
        seq = tilt(seq, float(rng.uniform(0.0, config.tilt_deg)), float(rng.uniform(0.0, 360.0)))
    lo, hi = config.scale_range
    if hi > lo or lo != 1.0:
        seq = scale(seq, float(rng.uniform(lo, hi)))
    if rng.random() < config.mirror_p:
        seq = mirror(seq)
    if config.drop_p > 0:
        seq = drop_joints(seq, rng, config.drop_p)
    return seq
