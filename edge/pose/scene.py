"""Scene calibration: the direction of gravity in a camera's 3D keypoint frame, saved per camera.

BlazePose world keypoints are camera-aligned (x right, y down, z away from the camera), so a tilted camera tilts
every trunk and neck angle. Two ways to know "up" in that frame:
- from a few seconds of a person standing upright: the mean direction from mid-ankle to mid-shoulder over the
  frames where the body is straightest (trunk in line with the legs, knees straight), or
- from the camera's pitch (tilted down positive) and roll (rotated clockwise, as seen from behind the camera,
  positive): up = (-sin(roll) cos(pitch), -cos(roll) cos(pitch), -sin(pitch)).
A level camera, the default when nothing is calibrated, has up = (0, -1, 0).

`calibrate_from_source` runs a pose estimator over a recording (`ergoedge calibrate-scene`); `up_from_pitch_roll`
takes the camera's tilt instead. Calibrations are JSON files `<scene dir>/<camera>.json`; the scene dir is
`--scene-dir`, else `$ERGOEDGE_SCENES`, else `${XDG_CONFIG_HOME:-~/.config}/ergo-edge/scenes`.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.geometry import angle_between_deg
from edge.paths import atomic_write, user_dir
from edge.pose.estimator import Estimator
from edge.pose.frames import IMAGE_SUFFIXES, read_image, video_frames
from edge.skeletons import get_layout

LEVEL_UP = (0.0, -1.0, 0.0)


@dataclass(frozen=True)
class SceneCalibration:
    camera: str
    up: tuple[float, float, float]
    method: str  # "standing", "pitch_roll" or "default"
    pitch_deg: float
    roll_deg: float
    frames_used: int = 0
    spread_deg: float = 0.0  # median angle between per-frame estimates and the result
    created: str = ""


def up_from_pitch_roll(pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Up in the camera frame of a camera pitched down by `pitch_deg` (-90..90) and rolled by `roll_deg`
    (-180..180)."""
    check_number(pitch_deg, "pitch (degrees)", minimum=-90, maximum=90)
    check_number(roll_deg, "roll (degrees)", minimum=-180, maximum=180)
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    return np.array([-math.sin(r) * math.cos(p), -math.cos(r) * math.cos(p), -math.sin(p)])


def pitch_roll_from_up(up: np.ndarray) -> tuple[float, float]:
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    pitch = math.degrees(math.asin(float(np.clip(-up[2], -1.0, 1.0))))
    roll = math.degrees(math.atan2(-up[0], -up[1]))
    return pitch, roll


def up_from_standing(world: np.ndarray, scores: np.ndarray | None = None, layout: str = "blazepose33",
                     min_score: float = 0.5, straightest: float = 0.3) -> tuple[np.ndarray, int, float]:
    """Up from world keypoints (T, J, 3) of a person standing upright: (unit up, frames used, spread in degrees).

    Only the `straightest` share of the frames counts (at least 3): those where the trunk is most in line with
    the legs and the knees are straightest, measured within the body so no up vector is needed. A person who
    bends or leans during part of the recording therefore does not tilt the result."""
    lay = get_layout(layout)
    world = np.asarray(world, dtype=np.float64)
    if world.ndim != 3 or world.shape[1:] != (lay.num_joints, 3):
        raise InputError(f"expected world keypoints of shape (frames, {lay.num_joints}, 3), got {world.shape}")
    names = ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee",
             "left_ankle", "right_ankle")
    idx = [lay.index(n) for n in names]
    ok = np.isfinite(world[:, idx]).all(axis=(1, 2))
    if scores is not None:
        ok &= (np.asarray(scores)[:, idx] >= min_score).all(axis=1)
    p = {n: world[:, i] for n, i in zip(names, idx)}
    shoulders = 0.5 * (p["left_shoulder"] + p["right_shoulder"])
    hips = 0.5 * (p["left_hip"] + p["right_hip"])
    ankles = 0.5 * (p["left_ankle"] + p["right_ankle"])
    with np.errstate(invalid="ignore"):
        bend = angle_between_deg(shoulders - hips, hips - ankles)
        knees = np.fmax(angle_between_deg(p["left_knee"] - p["left_hip"], p["left_ankle"] - p["left_knee"]),
                        angle_between_deg(p["right_knee"] - p["right_hip"], p["right_ankle"] - p["right_knee"]))
    if ok.sum() < 3:
        raise InputError(f"need at least 3 frames with shoulders, hips, knees and ankles clearly seen; "
                         f"found {int(ok.sum())}")
    crookedness = np.where(ok, bend + 0.5 * knees, np.inf)
    keep = max(3, int(round(straightest * ok.sum())))
    straight = np.zeros(len(world), dtype=bool)
    straight[np.argsort(crookedness, kind="stable")[:keep]] = True
    axis = shoulders[straight] - ankles[straight]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    # A robust mean direction: start from the per-component median, then average the inliers.
    up = np.median(axis, axis=0)
    up /= np.linalg.norm(up)
    angles = np.degrees(np.arccos(np.clip(axis @ up, -1.0, 1.0)))
    inliers = angles <= max(5.0, 3.0 * float(np.median(angles)))
    up = axis[inliers].mean(axis=0)
    up /= np.linalg.norm(up)
    spread = float(np.median(np.degrees(np.arccos(np.clip(axis @ up, -1.0, 1.0)))))
    return up, int(straight.sum()), spread


def calibrate_from_source(source: str, camera: str, estimator: Estimator, seconds: float = 3.0) -> SceneCalibration:
    """Run the estimator over the first `seconds` of `source` (or the image) and estimate up from the most-seen
    person's world keypoints."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not estimator.keypoints_3d:
        raise InputError("scene calibration needs 3D world keypoints: use the default BlazePose model")
    if seconds <= 0:
        raise InputError(f"--seconds must be positive, got {seconds}")
    estimator.reset()
    by_track: dict[int, tuple[list, list]] = {}
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frames = [(0, 0.0, read_image(path), 0.0)]
    else:
        frames = video_frames(path)
    for _index, time_s, frame, _fps in frames:
        if time_s > seconds:
            break
        for person in estimator(frame, time_s):
            if person.world is None:
                continue
            world, scores = by_track.setdefault(person.track_id, ([], []))
            world.append(person.world)
            scores.append(person.scores)
    if not by_track:
        raise InputError(f"{path}: no person found in the first {seconds:g} s; calibration needs someone standing")
    world, scores = max(by_track.values(), key=lambda ws: len(ws[0]))
    up, used, spread = up_from_standing(np.asarray(world), np.asarray(scores), layout=estimator.layout)
    return make_calibration(camera, up, "standing", frames_used=used, spread_deg=spread)


def scene_dir(override: str | os.PathLike | None = None) -> Path:
    return user_dir("scenes", override)


def calibration_path(camera: str, directory: str | os.PathLike | None = None) -> Path:
    """Where the scene calibration of `camera` lives (in `directory`, else the user's scene directory)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", camera or ""):
        raise InputError(f"camera name {camera!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return scene_dir(directory) / f"{camera}.json"


def make_calibration(camera: str, up: np.ndarray, method: str, frames_used: int = 0,
                     spread_deg: float = 0.0) -> SceneCalibration:
    up = np.asarray(up, dtype=np.float64)
    up = up / np.linalg.norm(up)
    pitch, roll = pitch_roll_from_up(up)
    return SceneCalibration(camera=camera, up=tuple(round(float(v), 6) for v in up), method=method,
                            pitch_deg=round(pitch, 3), roll_deg=round(roll, 3), frames_used=frames_used,
                            spread_deg=round(spread_deg, 3),
                            created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def save_calibration(calibration: SceneCalibration, directory: str | os.PathLike | None = None) -> Path:
    path = calibration_path(calibration.camera, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(asdict(calibration), indent=2) + "\n")


def load_calibration(camera: str, directory: str | os.PathLike | None = None) -> SceneCalibration:
    """The saved calibration of `camera`, or the level-camera default when there is none."""
    path = calibration_path(camera, directory)
    if not path.exists():
        return SceneCalibration(camera=camera, up=LEVEL_UP, method="default", pitch_deg=0.0, roll_deg=0.0)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["up"] = tuple(float(v) for v in data["up"])  # JSON has lists; the dataclass holds a tuple
        calibration = SceneCalibration(**data)
        up = np.asarray(calibration.up, dtype=np.float64)
        if up.shape != (3,) or not np.isfinite(up).all() or np.linalg.norm(up) < 1e-6:
            raise ValueError("bad up vector")
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise InputError(f"{path}: not a valid scene calibration ({exc}); run `ergoedge calibrate-scene` again") \
            from None
    return calibration
