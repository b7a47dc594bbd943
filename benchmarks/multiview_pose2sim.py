"""Several cameras, one 3D skeleton: measured on the real 4-view pose2sim demo (issue 14, deliverable 3).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multiview_pose2sim.py [--footage DIR] [--ablation] [--held-out 50]

Prints JSON:
- `baseline`: the issue's anchor: BlazePose 2D keypoints as `ergoedge pose` gives them (One Euro filter on), one
  confidence-weighted DLT per joint, a view whose reprojection error exceeds 25 px dropped.
- `pipeline`: `edge.pose.multiview_clip.reconstruct_clip` with its defaults on keypoints from `estimate_views`
  (flip-averaged crops, no One Euro), i.e. synchronised views, image offsets, weighted DLT + Gauss-Newton,
  mirrored views corrected, views beyond 25 px dropped, then the skeleton filter (3 frames look-ahead, soft bone
  lengths).
- reprojection error (median, p90) over the views each point was made from and over every view; bone-length std
  over the clip (the 8 long limb bones; before and after the skeleton filter); per view, the median difference
  between that camera's own calibrated trunk flexion / twist (its BlazePose world landmarks against gravity from
  the calibration) and the triangulated one.
- `one_camera_roots`: per camera, how far from the pipeline's triangulated mid-hip that camera alone places it
  (`edge.pose.placement`, calibrated), and how far once moved by the gap between the two at the previous frame,
  as `edge.pose.rig_people` moves a root one camera places after the person was triangulated (cm, median / p90).
- with --ablation, the pipeline with each step turned off in turn.
- with --held-out N, the rig refined on the first N frames (`ergoedge calibrate-cameras --refine`'s correction) and
  checked on the rest, against no correction and a correction fitted on the checked frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CAMERAS = ("cam01", "cam02", "cam03", "cam04")


def video_sizes(folder: Path) -> dict[str, tuple[int, int]]:
    import cv2

    sizes = {}
    for name in CAMERAS:
        cap = cv2.VideoCapture(str(folder / f"{name}.mp4"))
        sizes[name] = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
    return sizes


def product_keypoints(folder: Path, max_frames: int | None) -> dict:
    """Per camera what `ergoedge pose` gives (BlazePose, One Euro on): keypoints, scores, world."""
    from edge.pose.estimator import EstimatorSpec, open_estimator
    from edge.pose.frames import video_frames

    out = {}
    for name in CAMERAS:
        est = open_estimator(EstimatorSpec())
        kp, sc, world = [], [], []
        for index, time_s, frame, _fps in video_frames(folder / f"{name}.mp4"):
            if max_frames is not None and index >= max_frames:
                break
            people = est(frame, time_s)
            p = people[0] if people else None
            kp.append(p.keypoints if p else np.full((33, 2), np.nan))
            sc.append(p.scores if p else np.zeros(33))
            world.append(p.world if p else np.full((33, 3), np.nan))
        out[name] = {"keypoints": np.array(kp, float), "scores": np.array(sc, float), "world": np.array(world, float)}
    return out


def baseline(rig, views: dict) -> dict:
    from edge.pose.multiview import TriangulationConfig, triangulate
    from edge.pose.multiview_clip import bone_length_std_cm, reprojection_stats

    config = TriangulationConfig(max_reprojection_px=25.0, score_power=1.0, refine_steps=0, fix_swaps=False)
    kp = np.stack([views[n]["keypoints"] for n in CAMERAS])
    sc = np.stack([views[n]["scores"] for n in CAMERAS])
    tris = [triangulate(rig.cameras, kp[:, f], sc[:, f], config) for f in range(kp.shape[1])]
    joints = np.stack([t.points for t in tris])
    used, errors = np.stack([t.used for t in tris]), np.stack([t.errors for t in tris])
    result = {"reprojection": reprojection_stats(used, errors), "bone_length_std": bone_length_std_cm(joints)}
    result["per_view"] = per_view_angles(rig, views, joints, np.arange(len(joints)), np.zeros(len(CAMERAS), int))
    return result


def per_view_angles(rig, views: dict, joints: np.ndarray, frames: np.ndarray, shifts: np.ndarray) -> dict:
    """Median |single view - triangulated| trunk flexion and twist per camera, the single view's world landmarks
    scored against gravity from the calibration (up in that camera's frame)."""
    from edge.pose.multiview_clip import trunk_angles

    multi = trunk_angles(joints, rig.up)
    out = {}
    for v, name in enumerate(CAMERAS):
        cam = rig.camera(name)
        single = trunk_angles(views[name]["world"][frames + shifts[v]], cam.up_in_camera(rig.up))
        out[name] = {}
        for key in ("trunk_flexion_deg", "trunk_twist_deg"):
            diff = single[key] - multi[key]
            if key == "trunk_twist_deg":
                diff = (diff + 180.0) % 360.0 - 180.0
            out[name][key.replace("_deg", "_median_abs_diff_deg")] = float(np.nanmedian(np.abs(diff)))
    return out


def pipeline(rig, views: dict, fps: float, config) -> dict:
    from edge.pose.multiview_clip import bone_length_std_cm, reconstruct_clip, reprojection_stats

    kp = np.stack([views[n]["keypoints"] for n in CAMERAS])
    sc = np.stack([views[n]["scores"] for n in CAMERAS])
    start = time.perf_counter()
    res = reconstruct_clip(rig, kp, sc, fps, config)
    seconds = time.perf_counter() - start
    # The filtered skeleton's own reprojection error, against the same (offset) keypoints.
    filtered_err = np.stack([np.linalg.norm(rig.cameras[v].project(res.filtered) -
                                            (kp[v, res.frames + res.shifts[v]] - res.offsets[v]), axis=-1)
                             for v in range(len(CAMERAS))], axis=1)
    used = res.used
    order_free = np.where(used, filtered_err, np.nan)
    return {
        "reprojection": reprojection_stats(used, res.errors),
        "reprojection_after_filter_median_px": float(np.nanmedian(order_free)),
        "bone_length_std": bone_length_std_cm(res.joints),
        "bone_length_std_after_filter": bone_length_std_cm(res.filtered),
        "shifts_frames": res.shifts.tolist(),
        "image_offsets_px": np.round(res.offsets, 2).tolist(),
        "frames": int(len(res.frames)),
        "per_view": per_view_angles(rig, views, res.filtered, res.frames, res.shifts),
        "seconds": round(seconds, 2),
    }


def held_out(rig, views: dict, fps: float, half: int) -> dict:
    """The correction `ergoedge calibrate-cameras --refine` makes, fitted on frames [0, half) (with their sync
    shifts) and checked on the rest: against no correction and against one fitted on the checked frames."""
    from edge.pose.multiview_clip import ClipConfig, bone_length_std_cm, reconstruct_clip, reprojection_stats
    from edge.pose.rig_refine import moved_principal_points

    kp = np.stack([views[n]["keypoints"] for n in CAMERAS])
    sc = np.stack([views[n]["scores"] for n in CAMERAS])
    fit = reconstruct_clip(rig, kp[:, :half], sc[:, :half], fps, ClipConfig(max_sync_frames=6))
    idx = np.arange(half, kp.shape[1] - fit.shifts.max())
    later_kp = np.stack([kp[v, idx + fit.shifts[v]] for v in range(len(CAMERAS))])
    later_sc = np.stack([sc[v, idx + fit.shifts[v]] for v in range(len(CAMERAS))])
    refined = moved_principal_points(rig, {n: fit.offsets[v] for v, n in enumerate(CAMERAS)})
    plain = ClipConfig(sync=False, image_offsets=False)
    out = {}
    for name, (cams, config) in {"refined_on_first_half": (refined, plain), "no_correction": (rig, plain),
                                 "fitted_on_these_frames": (rig, replace(plain, image_offsets=True))}.items():
        res = reconstruct_clip(cams, later_kp, later_sc, fps, config)
        out[name] = {"reprojection": reprojection_stats(res.used, res.errors),
                     "bone_length_std_median_cm": bone_length_std_cm(res.joints)["median_cm"]}
    return {"fit_frames": half, "checked_frames": int(len(idx)), **out}


def one_camera_roots(rig, views: dict, fps: float) -> dict:
    from edge.pose.multiview_clip import ClipConfig, reconstruct_clip
    from edge.pose.placement import camera_translation

    kp = np.stack([views[n]["keypoints"] for n in rig.names])
    sc = np.stack([views[n]["scores"] for n in rig.names])
    res = reconstruct_clip(rig, kp, sc, fps, ClipConfig())
    hips = res.filtered[:, [23, 24]].mean(axis=1)  # BlazePose's hips: the world keypoints' origin
    out = {}
    for v, cam in enumerate(rig.cameras):
        view, frames = views[cam.name], res.frames + res.shifts[v]
        placed = np.array([camera_translation(view["world"][f], cam.normalise(view["keypoints_unflipped"][f]),
                                              view["scores_unflipped"][f]) for f in frames])
        gaps = hips - (placed - cam.t) @ cam.R  # triangulated minus placed, world frame
        gaps = gaps[np.isfinite(gaps).all(axis=1)]
        alone = 100 * np.linalg.norm(gaps, axis=1)
        moved = 100 * np.linalg.norm(np.diff(gaps, axis=0), axis=1)
        out[cam.name] = {"frames": int(len(gaps)),
                         "placed_cm": [round(float(np.median(alone)), 1), round(float(np.percentile(alone, 90)), 1)],
                         "moved_by_last_gap_cm": [round(float(np.median(moved)), 1),
                                                  round(float(np.percentile(moved, 90)), 1)]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--footage", default=str(REPO / "build" / "footage" / "pose2sim"))
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--ablation", action="store_true", help="also run the pipeline with each step off")
    parser.add_argument("--held-out", type=int, metavar="FRAMES",
                        help="also refine the rig on the first FRAMES frames and check on the rest")
    args = parser.parse_args()
    from edge.pose.cameras import read_qca
    from edge.pose.multiview_clip import ClipConfig, estimate_views

    folder = Path(args.footage)
    rig = read_qca(folder / "Calib.qca.txt", video_sizes(folder))
    start = time.perf_counter()
    product = product_keypoints(folder, args.max_frames)
    views = estimate_views({n: folder / f"{n}.mp4" for n in CAMERAS}, max_frames=args.max_frames)
    pose_seconds = time.perf_counter() - start
    fps = views["cam01"]["fps"]
    report = {"clip": str(folder), "cameras": list(CAMERAS), "fps": fps, "pose_seconds": round(pose_seconds, 1),
              "baseline": baseline(rig, product), "pipeline": pipeline(rig, views, fps, ClipConfig()),
              "one_camera_roots": one_camera_roots(rig, views, fps)}
    if args.held_out:
        report["held_out"] = held_out(rig, views, fps, args.held_out)
    if args.ablation:
        base = ClipConfig()
        variants = {
            "no_flip": (estimate_views({n: folder / f"{n}.mp4" for n in CAMERAS}, flip=False,
                                       max_frames=args.max_frames), base),
            "no_sync": (views, replace(base, sync=False)),
            "no_image_offsets": (views, replace(base, image_offsets=False)),
            "no_swap_fix": (views, replace(base, triangulation=replace(base.triangulation, fix_swaps=False))),
            "threshold_20px": (views, replace(base, triangulation=replace(base.triangulation,
                                                                          max_reprojection_px=20.0))),
        }
        report["ablation"] = {}
        for name, (v, cfg) in variants.items():
            r = pipeline(rig, v, fps, cfg)
            report["ablation"][name] = {"reprojection": r["reprojection"], "bone_length_std": r["bone_length_std"],
                                        "bone_length_std_after_filter": r["bone_length_std_after_filter"]}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
