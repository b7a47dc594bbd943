"""`ergoedge calibrate-scene`: gravity's direction for a camera from a person standing upright in its view."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.pose.estimate import IMAGE_SUFFIXES, Estimator, read_image, video_frames
from edge.pose.scene import SceneCalibration, make_calibration, up_from_standing


def calibrate_from_source(source: str, camera: str, estimator: Estimator, seconds: float = 3.0) -> SceneCalibration:
    """Run the estimator over the first `seconds` of `source` (or the image) and estimate up from the most-seen
    person's world keypoints."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if estimator.layout != "blazepose33":
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
    up, used, spread = up_from_standing(np.asarray(world), np.asarray(scores))
    return make_calibration(camera, up, "standing", frames_used=used, spread_deg=spread)
