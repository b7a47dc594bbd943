"""A generic folder of per-video pose arrays with optional frame labels and REBA scores: `load_generic`.

For data sets without a loader of their own: export them to one of our layouts and this reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.datasets.loaders.readers import (
    PathLike,
    float_column,
    frame_labels_csv,
    frame_labels_txt,
    labelled_sequences,
    load_npy,
)
from edge.datasets.sequence import Sequence
from edge.errors import InputError
from edge.skeletons import get_layout, parse_up


def _generic_joints(path: Path, num_joints: int) -> np.ndarray:
    # `ergoedge pose` writes both: its joints placed in the camera's space, as the run gives them to an activity model
    # that reads the pelvis's path, and hip-centred.
    data = load_npy(path, "pose file", archive=("camera_joints", "joints"))
    if data.dtype.kind not in "fiu" or data.ndim != 3 or data.shape[1:] != (num_joints, 3) or len(data) == 0:
        raise InputError(f"{path}: expected numeric (T, {num_joints}, 3) joints, got {data.dtype} {data.shape}")
    return data.astype(np.float64)


def load_generic(root: PathLike, layout: str, fps: float, up) -> list[Sequence]:
    """A folder of per-video pose arrays with optional frame labels; one sequence per video, sorted by name.

    - `<root>/<video>.npy` or `.npz` (T, J, 3) joints in metres in `layout` order (an .npz holds one array or an
      array named `camera_joints` or `joints`, taken in that order: `ergoedge pose`'s keypoints.npz has both);
    - optional `<video>.labels.txt` (one label name per line, one line per frame, empty = unlabelled) or
      `<video>.labels.csv` (`frame,label` rows, see `frame_labels_csv`);
    - optional `<video>.reba.txt` (one REBA score per line) -> targets["reba_total"].
    Activity names are collected across all videos and sorted, so ids are stable for the same set of names.
    """
    root = Path(root)
    lay = get_layout(layout)
    up_vec = parse_up(up)
    if not root.is_dir():
        raise InputError(f"no such folder: {root}")
    files: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.suffix in (".npy", ".npz") and path.is_file():
            if path.stem in files:
                raise InputError(f"{root}: both {files[path.stem].name} and {path.name}; keep one per video")
            files[path.stem] = path
    if not files:
        raise InputError(f"{root}: no <video>.npy or .npz pose files")
    videos, labels = {}, {}
    for video, path in files.items():
        joints = _generic_joints(path, lay.num_joints)
        paths, targets = {"pose_path": str(path)}, {}
        txt, csv_path, reba = (root / f"{video}.labels.txt", root / f"{video}.labels.csv", root / f"{video}.reba.txt")
        if txt.exists() and csv_path.exists():
            raise InputError(f"{root}: both {txt.name} and {csv_path.name}; keep one")
        labels[video] = None
        if txt.exists():
            labels[video], paths["label_path"] = frame_labels_txt(txt, len(joints)), str(txt)
        elif csv_path.exists():
            labels[video], paths["label_path"] = frame_labels_csv(csv_path, len(joints)), str(csv_path)
        if reba.exists():
            targets["reba_total"] = float_column(reba, "REBA score file")
            if len(targets["reba_total"]) != len(joints):
                raise InputError(f"{reba}: {len(targets['reba_total'])} scores for {len(joints)} frames")
            paths["reba_path"] = str(reba)
        videos[video] = {"joints": joints, "targets": targets, "paths": paths}
    return labelled_sequences(videos, labels, layout, fps, up_vec, "generic")
