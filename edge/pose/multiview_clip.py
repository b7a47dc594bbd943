"""Recorded clips from several calibrated cameras to one 3D skeleton per frame: the offline path that
`benchmarks/multiview_pose2sim.py` measures, built from the live pieces (`edge.pose.multiview`,
`edge.pose.skeleton_filter`).

`reconstruct_clip(rig, keypoints, scores, config)` is the entry point; before it, `estimate_views` runs BlazePose
over each camera's video. The steps, each measured on the 4-view pose2sim demo (numbers in the benchmark):
1. 2D per view (`estimate_views`): BlazePose tracked as in `ergoedge pose` without the One Euro filter (it lags),
   and the landmark model run a second time on the mirrored crop, mapped back, left and right exchanged, and
   averaged with the first (test-time flipping: the two readings' errors are partly independent).
2. Synchronisation (`sync_offsets`): recordings of one scene start at different frames (the demo's cam03 runs
   3 frames, 50 ms, apart from the other three); each camera's whole-frame shift is the one that makes the views
   agree best (median reprojection error), searched camera by camera. Quarter-frame shifts (interpolated
   keypoints) did no better on the demo.
3. Image offsets (`image_offsets`): each view's median reprojection residual over the clip, taken off its
   keypoints; it absorbs a calibration's small principal-point error and the model's bias from that viewpoint
   (the demo: 1-11 px per view; fitted on one half of the clip it cuts the other half's error by 1.2 px).
4. Triangulation per frame (`edge.pose.multiview.triangulate`), then `edge.pose.skeleton_filter`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.pose.cameras import CameraRig
from edge.pose.multiview import TriangulationConfig, swap_groups, triangulate
from edge.pose.skeleton_filter import SkeletonFilterConfig, filter_sequence


@dataclass(frozen=True)
class ClipConfig:
    layout: str = "blazepose33"
    max_sync_frames: int = 10  # the largest shift between cameras searched, in frames
    sync: bool = True
    image_offsets: bool = True
    triangulation: TriangulationConfig = field(default_factory=lambda: TriangulationConfig(score_power=2.0))
    filter: SkeletonFilterConfig = field(default_factory=SkeletonFilterConfig)

    def __post_init__(self) -> None:
        check_number(self.max_sync_frames, "max_sync_frames", integer=True, minimum=0, maximum=1000)


@dataclass(frozen=True, eq=False)
class ClipResult:
    """frames: the reference camera's frame index of each output row; joints (T, J, 3) triangulated; filtered
    (T, J, 3) after the skeleton filter; used/errors (T, V, J) per frame as `Triangulation` has them; shifts (V,)
    frames each camera was shifted by; offsets (V, 2) pixels taken off each view."""

    frames: np.ndarray
    joints: np.ndarray
    filtered: np.ndarray
    used: np.ndarray
    errors: np.ndarray
    shifts: np.ndarray
    offsets: np.ndarray


# -- 2D per view ---------------------------------------------------------------------------------------------


def estimate_views(videos: dict[str, str | os.PathLike], models_dir: str | None = None, backend: str = "auto",
                   flip: bool = True, max_frames: int | None = None, layout: str = "blazepose33") -> dict:
    """BlazePose on each camera's video (one person): name -> {"keypoints" (T, 33, 2), "scores" (T, 33),
    "world" (T, 33, 3) camera-aligned metres, "keypoints_unflipped" and "scores_unflipped" (the first reading
    alone), "fps"}; NaN / 0 where nobody was found."""
    from edge.artifacts import model_path
    from edge.inference.backends import open_backend
    from edge.pose.blazepose import BlazePose, BlazePoseConfig
    from edge.pose.frames import video_frames

    detector = open_backend(model_path("pose_detection", models_dir), backend)
    landmarks = open_backend(model_path("pose_landmark_full", models_dir), backend)
    out = {}
    for name, video in videos.items():
        pose = BlazePose(detector, landmarks, BlazePoseConfig(max_people=1))
        rows = []
        fps = 30.0
        for index, time_s, frame, fps in video_frames(Path(video)):
            if max_frames is not None and index >= max_frames:
                break
            people = pose(frame, time_s)
            if not people:
                rows.append((np.full((33, 2), np.nan), np.zeros(33), np.full((33, 3), np.nan),
                             np.full((33, 2), np.nan), np.zeros(33)))
                continue
            person = people[0]
            single = person.keypoints.astype(np.float64), person.scores.astype(np.float64)
            kp, sc = _with_flipped(pose, frame, person, layout) if flip else single
            rows.append((kp, sc, person.world.astype(np.float64), *single))
        if not rows:
            raise InputError(f"{video}: no frames")
        stacked = [np.stack([r[i] for r in rows]) for i in range(5)]
        out[name] = {"keypoints": stacked[0], "scores": stacked[1], "world": stacked[2],
                     "keypoints_unflipped": stacked[3], "scores_unflipped": stacked[4], "fps": float(fps)}
    return out


def _with_flipped(pose, frame: np.ndarray, person, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The person's keypoints averaged with the landmark model's reading of the mirrored crop. The crop is the
    track's ROI for the next frame (from this frame's own landmarks): BlazePose keeps it on its track."""
    from edge.pose.blazepose import NUM_LANDMARKS, Roi
    from edge.skeletons import get_layout

    roi = pose.track_roi(person.track_id)
    kp, sc = person.keypoints.astype(np.float64), person.scores.astype(np.float64)
    if roi is None:
        return kp, sc
    w = frame.shape[1]
    got = pose.landmarks_in(np.ascontiguousarray(frame[:, ::-1]), Roi(w - 1 - roi.cx, roi.cy, roi.size, -roi.rotation))
    if got is None:
        return kp, sc
    perm = get_layout(layout).mirror_permutation
    fkp = got["pixels"][:NUM_LANDMARKS].copy()
    fkp[:, 0] = w - 1 - fkp[:, 0]
    fkp, fsc = fkp[perm], got["visibility"][:NUM_LANDMARKS][perm]
    # The mirrored reading may itself exchange a body part's sides: align it with the first before averaging.
    for left, right in swap_groups(layout):
        both = np.concatenate([left, right])
        other = np.concatenate([right, left])
        if np.nanmean(np.linalg.norm(fkp[other] - kp[both], axis=1)) < np.nanmean(
                np.linalg.norm(fkp[both] - kp[both], axis=1)):
            fkp[both], fsc[both] = fkp[other].copy(), fsc[other].copy()
    return 0.5 * (kp + fkp), 0.5 * (sc + fsc)


# -- synchronisation and image offsets -----------------------------------------------------------------------


def _frame_range(shifts: np.ndarray, length: int) -> range:
    return range(max(0, -int(shifts.min())), length - max(0, int(shifts.max())))


def _median_error(rig, keypoints, scores, shifts, frames, config, layout) -> float:
    """Median reprojection error of all views over `frames`, every frame's joints in one batch (mirrored views
    corrected per frame, since they would move the median)."""
    V = len(shifts)
    idx = np.asarray(list(frames))[None, :] + shifts[:, None]  # (V, F)
    kp = keypoints[np.arange(V)[:, None], idx].reshape(V, -1, 2)
    sc = scores[np.arange(V)[:, None], idx].reshape(V, -1)
    J = keypoints.shape[2]
    groups = [(left + f * J, right + f * J) for f in range(idx.shape[1]) for left, right in swap_groups(layout)]
    tri = triangulate(rig.cameras, kp, sc, config, groups=groups)
    values = tri.errors[np.isfinite(tri.errors)]
    return float(np.median(values)) if values.size else float("inf")


def sync_offsets(rig: CameraRig, keypoints: np.ndarray, scores: np.ndarray, max_shift: int = 10,
                 layout: str = "blazepose33", every: int = 2) -> np.ndarray:
    """Frame shifts (V,) that synchronise the views (camera 0's is 0): view v's frame f + shift[v] shows the
    instant of camera 0's frame f. Searched one camera at a time, twice round, on every `every`-th frame, by the
    median reprojection error of all views (no view dropped, no refinement)."""
    V, T = keypoints.shape[:2]
    if T <= 2 * max_shift + 2:
        raise InputError(f"{T} frames are too few to search shifts of up to {max_shift} frames")
    config = TriangulationConfig(max_reprojection_px=1e9, refine_steps=0)
    shifts = np.zeros(V, dtype=int)
    frames = range(max_shift, T - max_shift, every)
    for _ in range(2):
        for v in range(1, V):
            best = None
            for d in range(-max_shift, max_shift + 1):
                trial = shifts.copy()
                trial[v] = d
                err = _median_error(rig, keypoints, scores, trial, frames, config, layout)
                if best is None or err < best[0] - 1e-9:
                    best = (err, d)
            shifts[v] = best[1]
    return shifts


def image_offsets(rig: CameraRig, keypoints: np.ndarray, scores: np.ndarray, shifts: np.ndarray,
                  config: TriangulationConfig, layout: str = "blazepose33", iterations: int = 3) -> np.ndarray:
    """(V, 2) pixels to take off each view's keypoints: the median residual of its used keypoints, iterated."""
    V, T = keypoints.shape[:2]
    offsets = np.zeros((V, 2))
    for _ in range(iterations):
        residuals: list[list[np.ndarray]] = [[] for _ in range(V)]
        for f in _frame_range(shifts, T):
            idx = f + shifts
            kp = keypoints[np.arange(V), idx] - offsets[:, None, :]
            tri = triangulate(rig.cameras, kp, scores[np.arange(V), idx], config, layout=layout)
            for v in range(V):
                d = kp[v][tri.order[v]] - rig.cameras[v].project(tri.points)
                residuals[v].append(d[tri.used[v] & np.isfinite(d).all(axis=1)])
        step = np.array([np.median(np.concatenate(r), axis=0) if sum(len(x) for x in r) else np.zeros(2)
                         for r in residuals])
        offsets += step
    return offsets


# -- the clip ------------------------------------------------------------------------------------------------


def reconstruct_clip(rig: CameraRig, keypoints: np.ndarray, scores: np.ndarray, fps: float,
                     config: ClipConfig = ClipConfig()) -> ClipResult:
    """3D joints of one person over a clip: keypoints (V, T, J, 2) distorted pixels and scores (V, T, J), the
    views in `rig.cameras` order."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    V = len(rig.cameras)
    if keypoints.ndim != 4 or keypoints.shape[0] != V or scores.shape != keypoints.shape[:3]:
        raise InputError(f"expected keypoints ({V}, T, J, 2) and scores ({V}, T, J), got {keypoints.shape} and "
                         f"{scores.shape}")
    if not fps > 0:
        raise InputError(f"fps must be above 0, got {fps}")
    T = keypoints.shape[1]
    layout, tri_cfg = config.layout, config.triangulation
    shifts = (sync_offsets(rig, keypoints, scores, config.max_sync_frames, layout) if config.sync and V > 1
              else np.zeros(V, dtype=int))
    offsets = (image_offsets(rig, keypoints, scores, shifts, tri_cfg, layout) if config.image_offsets
               else np.zeros((V, 2)))
    frames = np.array(list(_frame_range(shifts, T)))
    points, used, errors = [], [], []
    for f in frames:
        idx = f + shifts
        tri = triangulate(rig.cameras, keypoints[np.arange(V), idx] - offsets[:, None, :],
                          scores[np.arange(V), idx], tri_cfg, layout=layout)
        points.append(tri.points)
        used.append(tri.used)
        errors.append(tri.errors)
    joints = np.stack(points)
    filtered = filter_sequence(joints, frames / fps, layout, config.filter)
    return ClipResult(frames=frames, joints=joints, filtered=filtered, used=np.stack(used),
                      errors=np.stack(errors), shifts=shifts, offsets=offsets)


# -- what is measured ---------------------------------------------------------------------------------------


def reprojection_stats(used: np.ndarray, errors: np.ndarray) -> dict[str, float]:
    """Median and 90th percentile reprojection error (pixels) over the views each point was made from, and over
    every view that had the keypoint (dropped views included), with the share of those views used."""
    kept = errors[used & np.isfinite(errors)]
    every = errors[np.isfinite(errors)]
    return {"median_px": float(np.median(kept)), "p90_px": float(np.percentile(kept, 90)),
            "all_views_median_px": float(np.median(every)), "all_views_p90_px": float(np.percentile(every, 90)),
            "views_used": float(used.sum() / max(np.isfinite(errors).sum(), 1))}


def bone_length_std_cm(joints: np.ndarray, layout: str = "blazepose33") -> dict[str, float]:
    """Each limb bone's standard deviation of length over the clip (cm; frames where it is unknown skipped):
    the median over bones and the worst bone."""
    from edge.pose.skeleton_filter import limb_bones
    from edge.skeletons import get_layout

    lay = get_layout(layout)
    # The eight long bones: upper arm, forearm, thigh, shank, each side (hand and foot points are too short to
    # say much).
    names = ("shoulder", "elbow", "hip", "knee")
    bones = [(a, b) for a, b in limb_bones(layout) if any(lay.joints[a].endswith(n) for n in names)]
    stds = {f"{lay.joints[a]}-{lay.joints[b]}": float(np.nanstd(np.linalg.norm(joints[:, b] - joints[:, a],
                                                                               axis=-1)) * 100.0)
            for a, b in bones}
    values = np.array(list(stds.values()))
    return {"median_cm": float(np.median(values)), "worst_cm": float(values.max()), "per_bone_cm": stds}


def trunk_angles(joints: np.ndarray, up: np.ndarray, layout: str = "blazepose33") -> dict[str, np.ndarray]:
    """Trunk flexion and twist (degrees, `edge.kinematics`) of joints (T, J, 3) against `up`."""
    from edge.kinematics import joint_angles
    from edge.skeletons import get_layout

    angles = joint_angles(np.asarray(joints, dtype=np.float64), get_layout(layout), np.asarray(up))
    return {"trunk_flexion_deg": angles["trunk_flexion_deg"], "trunk_twist_deg": angles["trunk_twist_deg"]}


__all__ = ["ClipConfig", "ClipResult", "estimate_views", "sync_offsets", "image_offsets", "reconstruct_clip",
           "reprojection_stats", "bone_length_std_cm", "trunk_angles"]
