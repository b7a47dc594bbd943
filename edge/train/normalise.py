"""The normalisation every model input goes through, in numpy (no torch), so that training, evaluation, export and
the device do the same thing from the `NormConfig` a checkpoint stores.

3D joints (T, J, 3) in metres with an up vector become:
1. turned so that up is +z (the shortest rotation taking the up vector to +z);
2. moved so that the root, the pelvis (a layout's own, else the mid-hip), is at the origin: in every frame
   (`root = "frame"`), or the first frame's root in all frames (`"first"`, keeping the path), or not at all;
3. divided by the body scale (`scale = "sequence"`): median pelvis-to-neck plus the mean over sides of the median
   hip-to-knee and knee-to-ankle lengths, medians over the sequence's frames where the joints are seen.
Joints not seen stay NaN here (the batch turns them into 0, see edge.train.batches).

2D keypoints (T, J, 3: x, y pixels and confidence) are put in the person's box per frame: the box of the seen
keypoints (confidence > 0), its centre at 0, its longer side 1; confidence kept, unseen keypoints 0.
"""

from __future__ import annotations

import numpy as np

from edge.errors import InputError
from edge.skeletons import get_layout, to_canonical
from edge.train.config import NormConfig

_Z = np.array([0.0, 0.0, 1.0])


def rotation_to_z(up: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R with R @ up = +z, the shortest one (about up x z); half a turn about x for up = -z."""
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    axis = np.cross(u, _Z)
    s, c = np.linalg.norm(axis), float(u @ _Z)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * cross + (1 - c) * cross @ cross


def _median_length(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        lengths = np.linalg.norm(a - b, axis=-1)
    lengths = lengths[np.isfinite(lengths)]
    return float(np.median(lengths)) if lengths.size else float("nan")


def body_scale(joints: np.ndarray, layout: str) -> float:
    """Median trunk plus mean median thigh and shank length (metres) of (T, J, 3) joints; NaN if not seen."""
    points = to_canonical(joints, get_layout(layout))
    trunk = _median_length(points["neck"], points["pelvis"])
    legs = [_median_length(points[f"{s}_hip"], points[f"{s}_knee"]) + _median_length(points[f"{s}_knee"],
                                                                                      points[f"{s}_ankle"])
            for s in ("left", "right")]
    legs = [v for v in legs if np.isfinite(v)]
    return trunk + float(np.mean(legs)) if legs and np.isfinite(trunk) else float("nan")


def normalise_joints(joints: np.ndarray, up: np.ndarray, layout: str, config: NormConfig,
                     what: str = "sequence") -> tuple[np.ndarray, float]:
    """(normalised float32 joints, the body scale used (1.0 with `scale = "none"`)). `what` names the sequence in
    errors."""
    rotated = np.asarray(joints, dtype=np.float64) @ rotation_to_z(up).T
    scale = 1.0
    if config.scale == "sequence":
        scale = body_scale(rotated, layout)
        if not (np.isfinite(scale) and scale > 0.05):
            raise InputError(f"{what}: no frame shows the pelvis, neck and a leg, so the body scale is unknown "
                             "(data.norm.scale = \"none\" trains without it)")
    if config.root != "none":
        root = to_canonical(rotated, get_layout(layout))["pelvis"]
        if config.root == "first":
            seen = np.flatnonzero(np.isfinite(root).all(axis=1))
            if not seen.size:
                raise InputError(f"{what}: the pelvis is never seen, so there is no root to centre on")
            root = np.broadcast_to(root[seen[0]], root.shape)
        rotated = rotated - root[:, None, :]
    return (rotated / scale).astype(np.float32), scale


def normalise_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """(T, J, 3) pixel keypoints with confidence -> box-normalised x, y and confidence, float32 (module doc)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    xy, conf = kp[..., :2], np.nan_to_num(kp[..., 2], nan=0.0)
    seen = (conf > 0) & np.isfinite(xy).all(axis=-1)
    big = np.where(seen[..., None], xy, np.inf)
    small = np.where(seen[..., None], xy, -np.inf)
    lo, hi = big.min(axis=1), small.max(axis=1)  # (T, 2); inf/-inf where nothing is seen
    any_seen = seen.any(axis=1)
    centre = np.where(any_seen[:, None], (lo + hi) / 2, 0.0)
    size = np.where(any_seen, np.max(np.where(any_seen[:, None], hi - lo, 1.0), axis=1), 1.0)
    size = np.maximum(size, 1e-6)
    out = np.zeros(kp.shape, dtype=np.float32)
    out[..., :2] = np.where(seen[..., None], (xy - centre[:, None, :]) / size[:, None, None], 0.0)
    out[..., 2] = np.where(seen, conf, 0.0)
    return out


def denormalise_joints(joints: np.ndarray, scale: float) -> np.ndarray:
    """Normalised joints back in metres (still root-relative and z up): for errors in metres."""
    return np.asarray(joints, dtype=np.float64) * scale
