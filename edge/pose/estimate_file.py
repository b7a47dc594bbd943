"""`ergoedge pose`: run a pose estimator (`edge.pose.estimator`) over an image or a video and write what it sees.

`estimate_file` is the one entry point; it writes, into the output directory:
- `keypoints.json`: every frame's people (track id, score, box, keypoints with scores, world keypoints);
- `keypoints.npz`: the same as arrays per track (NaN where a track is absent), plus `joints`/`fps`/`layout`/`up`
  for the most-seen person, so the file can be scored directly with `ergoedge score`; with world keypoints also
  `camera` (per track) and `camera_joints` (that person): the world keypoints placed in the camera's space
  (`edge.pose.placement`, a pinhole camera of `placement.fov_deg`), as `ergoedge run` places them for an activity
  model that reads the pelvis's path (what the `folder` data set trains on when it is there);
- `annotated.jpg` or `annotated.mp4`: the frame(s) with skeletons drawn.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from edge.datasets.sequence import MISSING_UNOBSERVED
from edge.errors import InputError
from edge.paths import atomic_path, atomic_write, output_dir
from edge.pose.estimator import Estimator
from edge.pose.frames import IMAGE_SUFFIXES, read_image, video_frames
from edge.pose.placement import PlacementConfig, pinhole, placed_track
from edge.pose.types import Person


def estimate_file(source: str | os.PathLike, out_dir: str | os.PathLike, estimator: Estimator,
                  up: np.ndarray | None = None, draw: bool = True, max_frames: int | None = None,
                  placement: PlacementConfig = PlacementConfig()) -> dict:
    """Run `estimator` on an image or video file; write keypoints and an annotated copy. Returns a summary."""
    from edge.pose.draw import draw_people

    path = Path(source)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, expected an image or a video")
    out = output_dir(out_dir)
    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    annotated = out / ("annotated.jpg" if is_image else "annotated.mp4")
    for target in (annotated, out / "keypoints.json", out / "keypoints.npz"):
        if target.exists() and target.samefile(path):
            raise InputError(f"{path} is where `pose` writes its {target.name}: give another --out")
    estimator.reset()
    records: list[list[Person]] = []
    fps = 0.0
    writer = None
    # The annotated copy is written under a temporary name and renamed once whole (edge.paths.atomic_path): an
    # interrupted or failed run leaves the previous result as it was.
    with contextlib.ExitStack() as stack:
        if is_image:
            frame = read_image(path)
            out.mkdir(parents=True, exist_ok=True)  # only once there is something to write
            people = estimator(frame, 0.0)
            records.append(people)
            size = frame.shape[1], frame.shape[0]
            if draw:
                import cv2

                tmp = stack.enter_context(atomic_path(annotated, suffix=annotated.suffix))
                if not cv2.imwrite(str(tmp), draw_people(frame.copy(), people)):
                    raise InputError(f"cannot write {annotated}")
        else:
            for index, time_s, frame, fps in video_frames(path):
                if max_frames is not None and index >= max_frames:
                    break
                out.mkdir(parents=True, exist_ok=True)
                people = estimator(frame, time_s)
                records.append(people)
                size = frame.shape[1], frame.shape[0]
                if draw:
                    if writer is None:
                        tmp = stack.enter_context(atomic_path(annotated, suffix=annotated.suffix))
                        writer = _video_writer(tmp, fps, size)
                        stack.callback(writer.release)  # before the rename: callbacks run last in, first out
                    writer.write(draw_people(frame.copy(), people))
        summary = _write_keypoints(out, path, records, fps, estimator.layout, size, up, estimator.runtime,
                                   placement)
    summary["annotated"] = str(annotated) if draw else None
    summary["runtime"] = estimator.runtime
    return summary


def _video_writer(path: Path, fps: float, size: tuple[int, int]):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise InputError(f"{path}: cannot open a video writer (mp4v)")
    return writer


def _write_keypoints(out: Path, source: Path, records: list[list[Person]], fps: float, layout: str,
                     size: tuple[int, int], up: np.ndarray | None, runtime: str = "",
                     placement: PlacementConfig = PlacementConfig()) -> dict:
    from edge.skeletons import get_layout

    num_joints = get_layout(layout).num_joints
    track_ids = sorted({p.track_id for people in records for p in people})
    col = {t: i for i, t in enumerate(track_ids)}
    frames, tracks = len(records), len(track_ids)
    keypoints = np.full((frames, tracks, num_joints, 2), np.nan, dtype=np.float32)
    scores = np.zeros((frames, tracks, num_joints), dtype=np.float32)
    world = np.full((frames, tracks, num_joints, 3), np.nan, dtype=np.float32)
    has_world = any(p.world is not None for people in records for p in people)
    frame_json = []
    for f, people in enumerate(records):
        entries = []
        for p in people:
            c = col[p.track_id]
            keypoints[f, c], scores[f, c] = p.keypoints, p.scores
            if p.world is not None:
                world[f, c] = p.world
            entries.append({
                "track_id": int(p.track_id), "score": round(float(p.score), 4),
                "box": [round(float(v), 1) for v in p.box],
                "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                              for (x, y), s in zip(p.keypoints, p.scores)],
                "world": None if p.world is None else [[round(float(v), 4) for v in xyz] for xyz in p.world],
            })
        frame_json.append({"index": f, "time_s": round(f / fps, 4) if fps else 0.0, "people": entries})
    up_vec = None if up is None else [float(v) for v in np.asarray(up)]
    doc = {
        "source": str(source), "layout": layout, "runtime": runtime, "fps": fps, "width": size[0], "height": size[1],
        "keypoints_3d": has_world, "up": up_vec,
        # Without world keypoints, angles come from image coordinates: approximate except in the image plane.
        "approximated_2d": [] if has_world else ["all angles (image-plane projection)", "l5s1 (no metric 3D)"],
        "frames": frame_json,
    }
    atomic_write(out / "keypoints.json", json.dumps(doc) + "\n")

    arrays = dict(track_ids=np.asarray(track_ids, dtype=np.int64), keypoints=keypoints, scores=scores,
                  fps=np.float64(fps or 0.0), layout=layout, image_size=np.asarray(size, dtype=np.int64))
    if has_world:
        arrays["world"] = world
        camera = pinhole(size[0], size[1], placement.fov_deg)
        arrays["camera"] = np.stack([placed_track(world[:, c], keypoints[:, c], scores[:, c], camera, placement)
                                     for c in range(tracks)], axis=1).astype(np.float32)  # world: a track at least
        arrays["camera_fov_deg"] = np.float64(placement.fov_deg)
        if tracks:
            main = int(np.argmax(np.isfinite(world[:, :, 0, 0]).sum(axis=0)))
            arrays["joints"] = world[:, main]
            arrays["camera_joints"] = arrays["camera"][:, main]
            arrays["main_track"] = np.int64(track_ids[main])
            arrays["missing"] = MISSING_UNOBSERVED  # NaN where the person was not seen: `ergoedge score` takes it as is
        if up_vec is not None:
            arrays["up"] = ",".join(f"{v:.6f}" for v in up_vec)
    with atomic_path(out / "keypoints.npz", suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    seen = [len(people) for people in records]
    return {"frames": frames, "tracks": tracks, "frames_with_people": int(sum(1 for n in seen if n)),
            "keypoints_json": str(out / "keypoints.json"), "keypoints_npz": str(out / "keypoints.npz")}
