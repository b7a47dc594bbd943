"""Small vectorised vector helpers shared by kinematics, posing and inverse dynamics (arrays of shape (..., 3))."""

from __future__ import annotations

import numpy as np


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product along the last axis, broadcasting (several times faster than np.cross on (S, T, 3) arrays)."""
    if a.shape != b.shape:  # live scoring crosses one frame's equal-shaped vectors: no broadcast to pay for
        a, b = np.broadcast_arrays(a, b)
    out = np.empty(a.shape)
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def unit(v: np.ndarray) -> np.ndarray:
    """Unit vectors; a zero-length vector becomes NaN so that it reads as unknown downstream, never as zero."""
    v = np.asarray(v)
    n = np.sqrt((v * v).sum(axis=-1, keepdims=True))  # np.linalg.norm's own arithmetic, without its overhead
    long_enough = n > 1e-12
    out = np.full(v.shape, np.nan, dtype=np.result_type(v.dtype, np.float16))
    return np.divide(v, n, out=out, where=long_enough)


def reject(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The part of `v` perpendicular to the unit vector `axis`."""
    return v - dot(v, axis)[..., None] * axis


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unsigned angle between vectors, degrees, robust near 0 and 180 (atan2 of |a x b| and a.b)."""
    return np.degrees(np.arctan2(np.linalg.norm(cross(a, b), axis=-1), dot(a, b)))


def signed_angle_deg(a: np.ndarray, b: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle from `a` to `b` about the unit `axis` (right-hand rule), degrees, after projecting both onto the plane."""
    a_p = reject(a, axis)
    b_p = reject(b, axis)
    return np.degrees(np.arctan2(dot(axis, cross(a_p, b_p)), dot(a_p, b_p)))


def asin_deg(x: np.ndarray) -> np.ndarray:
    return np.degrees(np.arcsin(np.clip(x, -1.0, 1.0)))


def rotation_about(axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about unit axes (..., 3) by angles (...), Rodrigues' formula."""
    axis = np.asarray(axis, dtype=np.float64)
    angle_rad = np.asarray(angle_rad, dtype=np.float64)
    shape = np.broadcast_shapes(axis.shape[:-1], angle_rad.shape)
    axis = np.broadcast_to(axis, shape + (3,))
    c, s = np.cos(angle_rad)[..., None, None], np.sin(angle_rad)[..., None, None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros(shape)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    outer = axis[..., :, None] * axis[..., None, :]
    return c * np.eye(3) + s * k + (1.0 - c) * outer


def frame_from_up(up: np.ndarray) -> np.ndarray:
    """A rotation matrix whose third column is `up` (maps the z axis onto `up`); used to pose and to re-express."""
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = helper - np.dot(helper, up) * up
    x /= np.linalg.norm(x)
    y = np.cross(up, x)
    return np.stack([x, y, up], axis=1)
