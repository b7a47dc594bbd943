"""The fixed camera of a synthetic recording and the 2D keypoints a pose estimator would report through it.

Projection through a pinhole camera looking at the work cell, Gaussian jitter, a correlated wobble, lower
confidence for limbs on the far side and for the face seen from behind, occlusion episodes (one limb
low-confidence and displaced for 0.5-2 s), and dropped keypoints (confidence 0, x and y NaN).
"""

from __future__ import annotations

import math

import numpy as np

from edge.datasets.synth.body import SIDES, UP
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.noise import correlated_noise
from edge.datasets.synth.person import Person


def draw_camera(rng: np.random.Generator, cfg: SynthConfig, distance: float, person: Person, radius: float) -> dict:
    """A fixed pinhole camera at `distance` from the work cell's centre, looking at it at mid-body height."""
    aim_z = 0.5 * person.height_m
    lo, hi = cfg.camera_pitch_deg
    for _ in range(100):
        height = float(rng.uniform(*cfg.camera_height_m))
        pitch = math.degrees(math.atan2(height - aim_z, distance))
        if lo <= pitch <= hi:
            break
    else:  # no height in range gives a pitch in range at this distance: keep the pitch, move the camera
        pitch = float(np.clip(pitch, lo, hi))
        height = aim_z + distance * math.tan(math.radians(pitch))
    azimuth = float(rng.uniform(0.0, 2.0 * math.pi))
    centre = np.array([distance * math.cos(azimuth), distance * math.sin(azimuth), height])
    forward = np.array([0.0, 0.0, aim_z]) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, UP)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # world -> camera (x right, y down, z forward)
    width, img_h = cfg.image_size
    nearest = max(distance - radius, 0.8)
    fit = 0.9 * img_h * nearest / (person.height_m + 0.15)  # a person at the nearest station fits the height
    focal = float(rng.uniform(cfg.focal_px[0], max(cfg.focal_px[0], min(cfg.focal_px[1], fit))))
    k = np.array([[focal, 0.0, width / 2.0], [0.0, focal, img_h / 2.0], [0.0, 0.0, 1.0]])
    return {"K": k, "R": rotation, "position": centre, "pitch_deg": pitch, "height_m": height,
            "distance_m": distance, "image_size": [int(width), int(img_h)]}


_FACE = ("nose", "left_eye", "left_eye_inner", "left_eye_outer", "right_eye", "right_eye_inner", "right_eye_outer",
         "mouth_left", "mouth_right")
_LIMBS = {
    **{f"{s}_arm": (f"{s}_elbow", f"{s}_wrist", f"{s}_hand", f"{s}_index", f"{s}_pinky", f"{s}_thumb",
                    f"{s}_hand_tip") for s in SIDES},
    **{f"{s}_leg": (f"{s}_knee", f"{s}_ankle", f"{s}_heel", f"{s}_toe") for s in SIDES},
    "face": _FACE,
}


def keypoints2d(rng: np.random.Generator, cfg: SynthConfig, names: list[str], points: np.ndarray, cam: dict,
                fps: float) -> np.ndarray:
    """(T, M, 3) x, y, confidence of every landmark as a pose estimator would report them."""
    n, m = points.shape[:2]
    cam_pts = (points - cam["position"]) @ cam["R"].T
    depth = cam_pts[..., 2]
    k = cam["K"]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = k[0, 0] * cam_pts[..., :2] / depth[..., None] + k[:2, 2]
    # Estimator errors grow with the person's size in the image: px figures are for a person 500 px tall.
    pelvis = names.index("pelvis")
    scale = np.clip(k[0, 0] * cfg.height_m[1] / np.maximum(depth[:, pelvis], 0.1) / 500.0, 0.3, 3.0)[:, None, None]
    uv += scale * (rng.normal(0.0, cfg.keypoint_jitter_px, (n, m, 2))
                   + cfg.wobble_px * correlated_noise(rng, (n, m, 2), fps, cfg.wobble_hz))

    conf = np.clip(rng.normal(0.92, 0.04, (n, m)), 0.0, 1.0)
    # Self-occlusion: the side turned away from the camera, and the face seen from behind, are less certain.
    left = points[:, names.index("left_hip"), :2] - points[:, names.index("right_hip"), :2]
    left /= np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-9)
    forward = np.stack([-left[:, 1], left[:, 0]], axis=-1)  # left x up, on the floor plane
    to_cam = cam["position"][:2] - points[:, pelvis, :2]
    to_cam /= np.maximum(np.linalg.norm(to_cam, axis=-1, keepdims=True), 1e-9)
    toward_left = np.einsum("ti,ti->t", left, to_cam)
    facing = np.einsum("ti,ti->t", forward, to_cam)
    is_left = np.array([nm.startswith("left_") for nm in names])
    is_right = np.array([nm.startswith("right_") for nm in names])
    is_face = np.isin(names, _FACE)
    conf -= 0.35 * np.maximum(-toward_left, 0.0)[:, None] * is_left
    conf -= 0.35 * np.maximum(toward_left, 0.0)[:, None] * is_right
    conf -= 0.5 * np.maximum(-facing, 0.0)[:, None] * is_face
    width, img_h = cam["image_size"]
    outside = (uv[..., 0] < 0) | (uv[..., 0] >= width) | (uv[..., 1] < 0) | (uv[..., 1] >= img_h)
    conf = np.where(outside, 0.3 * conf, conf)

    # Occlusion episodes: a limb behind an object or the body, guessed with low confidence and off by a few px.
    minutes = n / fps / 60.0
    limbs = list(_LIMBS)
    for _ in range(int(rng.poisson(cfg.occlusions_per_min * minutes))):
        cols = [names.index(p) for p in _LIMBS[limbs[int(rng.integers(len(limbs)))]] if p in names]
        start = int(rng.integers(0, n))
        stop = min(n, start + max(1, int(round(rng.uniform(*cfg.occlusion_s) * fps))))
        conf[start:stop, cols] *= rng.uniform(0.1, 0.4)
        uv[start:stop, cols] += scale[start:stop] * rng.normal(0.0, 8.0, (1, len(cols), 2))

    dropped = (rng.random((n, m)) < cfg.dropout_prob) | ~(depth > 0.1)
    conf = np.clip(conf, 0.0, 1.0)
    conf[dropped] = 0.0
    uv[dropped] = np.nan
    return np.concatenate([uv, conf[..., None]], axis=-1)


__all__ = ["draw_camera", "keypoints2d"]
