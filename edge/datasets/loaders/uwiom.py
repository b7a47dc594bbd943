"""UW-IOM as released with the MTL-ERA code (`Data/UW`): 3D poses, frame-wise classes and REBA scores, and splits.

The published class order and train/val splits are kept as they are, so results compare with the paper's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.datasets.loaders.readers import PathLike, float_column, load_npy
from edge.datasets.sequence import Sequence
from edge.errors import InputError

# The index order of Labels/ClassNumber/NN.npy: the MTL-ERA config's class list. The poses agree: on the release's
# training videos the bend classes (9-12, 15) have a median trunk flexion of 36-53 deg, every other class -3..7 deg.
UWIOM_CLASSES: tuple[str, ...] = (
    "walking", "stand_reach_top", "box_stand_pick_up_top", "box_stand_place_mid", "standing",
    "rod_stand_pick_up_top", "rod_stand_place_mid", "box_stand_pick_up_mid", "rod_stand_pick_up_mid",
    "none_bend_none_none", "rod_bend_pick_up_low", "box_bend_place_low", "rod_bend_place_low",
    "box_stand_place_top", "rod_stand_place_top", "box_bend_pick_up_low", "box_walk_hold",
)
# The same classes as Labels/uniquelabelnames.npy spells them (object_posture_action_height, "pick-up"), in the
# index order above. The file itself holds them sorted alphabetically, each ending in "\n": not the index order.
UWIOM_RELEASE_NAMES: tuple[str, ...] = (
    "none_walk_none_none", "none_stand_reach_top", "box_stand_pick-up_top", "box_stand_place_mid",
    "none_stand_none_none", "rod_stand_pick-up_top", "rod_stand_place_mid", "box_stand_pick-up_mid",
    "rod_stand_pick-up_mid", "none_bend_none_none", "rod_bend_pick-up_low", "box_bend_place_low",
    "rod_bend_place_low", "box_stand_place_top", "rod_stand_place_top", "box_bend_pick-up_low", "box_walk_hold_none",
)
# Nominally about 12 fps (Kinect); per-subject rates of 7.8-10.6 fps were measured from raw timestamps. Treated as
# 10 fps: define windows in seconds and expect timing errors of up to ~25 % per subject.
UWIOM_FPS = 10.0


def _uwiom_dir(root: PathLike) -> Path:
    root = Path(root)
    for candidate in (root, root / "UW", root / "Data" / "UW"):
        if (candidate / "Poses").is_dir():
            return candidate
    raise InputError(f"{root}: no UW-IOM data (expected Poses/ in it, in UW/ or in Data/UW/)")


def _split_ids(path: Path) -> tuple[str, ...]:
    ids = load_npy(path, "UW-IOM split file")
    if ids.ndim != 1 or ids.dtype.kind != "U":
        raise InputError(f"{path}: expected a 1-D array of video id strings, got {ids.dtype} {ids.shape}")
    return tuple(str(v).strip() for v in ids)


def uwiom_splits(root: PathLike) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The published train and val video ids (`EDTCN/TrainValSplits/train.npy`, `val.npy`)."""
    folder = _uwiom_dir(root) / "EDTCN" / "TrainValSplits"
    train, val = _split_ids(folder / "train.npy"), _split_ids(folder / "val.npy")
    both = sorted(set(train) & set(val))
    if both:
        raise InputError(f"{folder}: videos {', '.join(both)} are in both train.npy and val.npy")
    return train, val


def _check_uwiom_names(folder: Path) -> None:
    """The release's label name file must name the 17 published classes (in its own spelling, any order)."""
    path = folder / "Labels" / "uniquelabelnames.npy"
    if not path.exists():
        return
    names = load_npy(path, "label name file")
    if names.dtype.kind != "U":
        raise InputError(f"{path}: expected an array of label name strings, got {names.dtype}")
    found = [str(n).strip() for n in np.ravel(names)]
    expected = set(UWIOM_RELEASE_NAMES)
    if len(found) != len(expected) or set(found) != expected:
        extra, missing = sorted(set(found) - expected), sorted(expected - set(found))
        raise InputError(f"{path}: {len(found)} label names differ from the 17 published UW-IOM classes "
                         f"(unexpected: {extra or 'none'}; missing: {missing or 'none'})")


def load_uwiom(root: PathLike) -> list[Sequence]:
    """UW-IOM videos from the MTL-ERA release; `root` is `Data/UW`, `Data`, or the folder holding `Data/UW`.

    Per video NN: `Poses/NN_pose3d.npy` (T, 15, 3) metres with z up -> layout uwiom15, up (0, 0, 1);
    `Labels/ClassNumber/NN.npy` (T,) class ids in the published index order (`UWIOM_CLASSES`);
    `Labels/uniquelabelnames.npy`, when present, must hold the 17 classes in the release's spelling
    (`UWIOM_RELEASE_NAMES`; sorted, newline-terminated, as released); the names shown are `UWIOM_CLASSES`;
    `RebaScoreFrameWise/NN.txt` -> targets["reba_total"]; metadata["split"] from `EDTCN/TrainValSplits`.
    Frame rate: `UWIOM_FPS` (10, see there).
    """
    folder = _uwiom_dir(root)
    _check_uwiom_names(folder)
    train, val = uwiom_splits(folder)
    pose_files = sorted((folder / "Poses").glob("*_pose3d.npy"))
    if not pose_files:
        raise InputError(f"{folder / 'Poses'}: no NN_pose3d.npy files")
    sequences = []
    for pose_path in pose_files:
        video = pose_path.name[: -len("_pose3d.npy")]
        joints = load_npy(pose_path, "pose file")
        if joints.dtype.kind != "f" or joints.ndim != 3 or joints.shape[1:] != (15, 3) or len(joints) == 0:
            raise InputError(f"{pose_path}: expected float (T, 15, 3) joints, got {joints.dtype} {joints.shape}")
        label_path = folder / "Labels" / "ClassNumber" / f"{video}.npy"
        labels = load_npy(label_path, "class label file")
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise InputError(f"{label_path}: expected integer class ids (T,), got {labels.dtype} {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(UWIOM_CLASSES)):
            raise InputError(f"{label_path}: class ids must be 0..{len(UWIOM_CLASSES) - 1}, "
                             f"found {labels.min()}..{labels.max()}")
        reba_path = folder / "RebaScoreFrameWise" / f"{video}.txt"
        reba = float_column(reba_path, "REBA score file")
        if not (len(joints) == len(labels) == len(reba)):
            raise InputError(f"UW-IOM video {video}: lengths differ: poses {len(joints)}, labels {len(labels)}, "
                             f"REBA {len(reba)} frames")
        if video in train:
            split = "train"
        elif video in val:
            split = "val"
        else:
            raise InputError(f"UW-IOM video {video} is in neither train.npy nor val.npy")
        sequences.append(Sequence(
            layout="uwiom15", fps=UWIOM_FPS, joints=joints.astype(np.float64), up=np.array([0.0, 0.0, 1.0]),
            activity=labels.astype(np.int64), activity_names=UWIOM_CLASSES, targets={"reba_total": reba},
            metadata={"source": "uwiom", "video": video, "split": split, "pose_path": str(pose_path),
                      "label_path": str(label_path), "reba_path": str(reba_path)}))
    return sequences
