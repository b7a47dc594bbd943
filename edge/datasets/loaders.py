"""Loaders for the published skeleton data sets, each returning one `Sequence` per video or recording.

No data set ships with the project; users bring their own copies and these loaders read the published layouts
(see notes/datasets.md). Every loader checks what it reads and raises a one-line `InputError` that names the
missing or bad file. Every sequence carries metadata: `source`, ids (video, subject...) and the paths it came from.

- `load_uwiom(root)`: UW-IOM as released with the MTL-ERA code (`Data/UW`).
- `load_generic(root, layout, fps, up)`: a folder of per-video pose arrays with optional frame label files.
- `load_tum_kitchen(root, layout=...)`: TUM Kitchen after export to one of our layouts (CSV, millimetres).
- `load_kimore(root)`: KIMORE Kinect v2 recordings with clinical total scores as quality.
- `load_ui_prmd(root, modality=...)`: UI-PRMD segmented repetitions, correct (quality 1) and incorrect (0).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from edge.datasets.sequence import UNKNOWN_ACTIVITY, Sequence
from edge.errors import InputError
from edge.skeletons import get_layout, parse_up

PathLike = str | os.PathLike

# --------------------------------------------------------------------------------------------------------------
# Shared readers


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"missing {what}: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable numpy array ({exc})") from None


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise InputError(f"missing {what}: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what} ({exc})") from None


def _float_column(path: Path, what: str) -> np.ndarray:
    """One float per line (blank lines ignored)."""
    values = []
    for number, line in enumerate(_read_text(path, what).splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        try:
            values.append(float(text))
        except ValueError:
            raise InputError(f"{path}:{number}: expected one number per line, got {text[:40]!r}") from None
    return np.asarray(values, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_rows(path: Path, what: str, columns: int) -> np.ndarray:
    """Rows of `columns` numbers separated by commas or whitespace; a trailing comma and one header row are allowed."""
    rows = []
    first = True
    for number, line in enumerate(_read_text(path, what).splitlines(), 1):
        text = line.strip().rstrip(",").strip()
        if not text:
            continue
        cells = re.split(r"\s*,\s*|\s+", text)
        if first and not _is_number(cells[0]):
            first = False
            continue  # header row
        first = False
        if len(cells) != columns:
            raise InputError(f"{path}:{number}: {len(cells)} values, expected {columns} for {what}")
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise InputError(f"{path}:{number}: non-numeric value in {what}") from None
    if not rows:
        raise InputError(f"{path}: no frames in {what}")
    return np.asarray(rows, dtype=np.float64)


def _frame_labels_txt(path: Path, num_frames: int) -> list[str | None]:
    """One label name per line per frame; an empty line is an unlabelled frame."""
    labels = [line.strip() or None for line in _read_text(path, "label file").splitlines()]
    if len(labels) != num_frames:
        raise InputError(f"{path}: {len(labels)} labels for {num_frames} frames")
    return labels


def _frame_labels_csv(path: Path, num_frames: int, label_column: str | None = None) -> list[str | None]:
    """Frame labels from CSV: rows `frame,label` or `label`, or named columns after a header row.

    With a header, the frame column is `frame` (or `instance`) when present and the label column is `label_column`,
    else `label`, else the only other column. Frames not listed stay unlabelled; listed frames must be in range
    and unique. Without a frame column the rows must cover every frame in order.
    """
    rows = _csv_rows(path, "label file")
    if not rows:
        raise InputError(f"{path}: empty label file")
    frame_col, label_col = None, 0
    first = rows[0]
    if not re.fullmatch(r"[+-]?\d+", first[0]) and (len(first) > 1 or label_column or first[0].lower() == "label"):
        header = [c.lower() for c in first]
        rows = rows[1:]
        frame_col = next((header.index(n) for n in ("frame", "instance") if n in header), None)
        if label_column is not None:
            if label_column.lower() not in header:
                raise InputError(f"{path}: no column {label_column!r} (columns: {', '.join(first)})")
            label_col = header.index(label_column.lower())
        elif "label" in header:
            label_col = header.index("label")
        else:
            others = [i for i in range(len(header)) if i != frame_col]
            if len(others) != 1:
                raise InputError(f"{path}: several label columns ({', '.join(first)}); choose one with label_column")
            label_col = others[0]
    elif len(first) == 2:
        frame_col, label_col = 0, 1
    elif len(first) != 1:
        raise InputError(f"{path}: expected rows 'frame,label' or 'label', got {len(first)} columns")
    if frame_col is None:
        if len(rows) != num_frames:
            raise InputError(f"{path}: {len(rows)} labels for {num_frames} frames")
        return [row[label_col] or None if label_col < len(row) else None for row in rows]
    labels: list[str | None] = [None] * num_frames
    seen = set()
    for row in rows:
        try:
            frame = int(row[frame_col])
        except (ValueError, IndexError):
            raise InputError(f"{path}: bad frame number in row {row}") from None
        if not 0 <= frame < num_frames:
            raise InputError(f"{path}: frame {frame} is outside 0..{num_frames - 1}")
        if frame in seen:
            raise InputError(f"{path}: frame {frame} is labelled twice")
        seen.add(frame)
        labels[frame] = (row[label_col] if label_col < len(row) else "") or None
    return labels


def _csv_rows(path: Path, what: str) -> list[list[str]]:
    """Non-empty CSV rows with stripped cells."""
    return [[c.strip() for c in row] for row in csv.reader(_read_text(path, what).splitlines()) if any(
        c.strip() for c in row)]


def _encode(all_labels: dict[str, list[str | None] | None]) -> tuple[dict[str, np.ndarray | None], tuple[str, ...]]:
    """Label names across all videos, sorted (stable across runs), and the id array per video."""
    names = tuple(sorted({label for labels in all_labels.values() if labels for label in labels if label}))
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for video, labels in all_labels.items():
        out[video] = None if labels is None else np.array(
            [UNKNOWN_ACTIVITY if label is None else index[label] for label in labels], dtype=np.int64)
    return out, names


# --------------------------------------------------------------------------------------------------------------
# UW-IOM (MTL-ERA release)

# The index order of Labels/ClassNumber/NN.npy, as published (notes/datasets.md). Labels/uniquelabelnames.npy holds
# the same names sorted alphabetically, which is NOT this order.
UWIOM_CLASSES: tuple[str, ...] = (
    "walking", "stand_reach_top", "box_stand_pick_up_top", "box_stand_place_mid", "standing",
    "rod_stand_pick_up_top", "rod_stand_place_mid", "box_stand_pick_up_mid", "rod_stand_pick_up_mid",
    "none_bend_none_none", "rod_bend_pick_up_low", "box_bend_place_low", "rod_bend_place_low",
    "box_stand_place_top", "rod_stand_place_top", "box_bend_pick_up_low", "box_walk_hold",
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
    ids = _load_npy(path, "UW-IOM split file")
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
    path = folder / "Labels" / "uniquelabelnames.npy"
    if not path.exists():
        return
    names = _load_npy(path, "label name file")
    found = {str(n).strip() for n in np.ravel(names)}
    if names.size != len(UWIOM_CLASSES) or found != set(UWIOM_CLASSES):
        extra, missing = sorted(found - set(UWIOM_CLASSES)), sorted(set(UWIOM_CLASSES) - found)
        raise InputError(f"{path}: label names differ from the published UW-IOM classes "
                         f"(unexpected: {extra or 'none'}; missing: {missing or 'none'})")


def load_uwiom(root: PathLike) -> list[Sequence]:
    """UW-IOM videos from the MTL-ERA release; `root` is `Data/UW`, `Data`, or the folder holding `Data/UW`.

    Per video NN: `Poses/NN_pose3d.npy` (T, 15, 3) metres with z up -> layout uwiom15, up (0, 0, 1);
    `Labels/ClassNumber/NN.npy` (T,) class ids in the published index order (`UWIOM_CLASSES`);
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
        joints = _load_npy(pose_path, "pose file")
        if joints.dtype.kind != "f" or joints.ndim != 3 or joints.shape[1:] != (15, 3) or len(joints) == 0:
            raise InputError(f"{pose_path}: expected float (T, 15, 3) joints, got {joints.dtype} {joints.shape}")
        label_path = folder / "Labels" / "ClassNumber" / f"{video}.npy"
        labels = _load_npy(label_path, "class label file")
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise InputError(f"{label_path}: expected integer class ids (T,), got {labels.dtype} {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(UWIOM_CLASSES)):
            raise InputError(f"{label_path}: class ids must be 0..{len(UWIOM_CLASSES) - 1}, "
                             f"found {labels.min()}..{labels.max()}")
        reba_path = folder / "RebaScoreFrameWise" / f"{video}.txt"
        reba = _float_column(reba_path, "REBA score file")
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


# --------------------------------------------------------------------------------------------------------------
# Generic folder of pose arrays + labels, and TUM Kitchen


def _generic_joints(path: Path, num_joints: int) -> np.ndarray:
    data = _load_npy(path, "pose file")
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.files)
            key = "joints" if "joints" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise InputError(f"{path}: several arrays ({', '.join(keys)}) and none named 'joints'")
            data = data[key]
    if data.dtype.kind not in "fiu" or data.ndim != 3 or data.shape[1:] != (num_joints, 3) or len(data) == 0:
        raise InputError(f"{path}: expected numeric (T, {num_joints}, 3) joints, got {data.dtype} {data.shape}")
    return data.astype(np.float64)


def _finish(videos: dict[str, dict], labels: dict[str, list | None], layout: str, fps: float, up: np.ndarray,
            source: str) -> list[Sequence]:
    ids, names = _encode(labels)
    return [Sequence(layout=layout, fps=float(fps), joints=v["joints"], up=up, activity=ids[video],
                     activity_names=names if ids[video] is not None else (), targets=v["targets"],
                     metadata={"source": source, "video": video, **v["paths"]})
            for video, v in videos.items()]


def load_generic(root: PathLike, layout: str, fps: float, up) -> list[Sequence]:
    """A folder of per-video pose arrays with optional frame labels; one sequence per video, sorted by name.

    - `<root>/<video>.npy` or `.npz` (T, J, 3) joints in metres in `layout` order (an .npz holds one array or an
      array named `joints`);
    - optional `<video>.labels.txt` (one label name per line, one line per frame, empty = unlabelled) or
      `<video>.labels.csv` (`frame,label` rows, see `_frame_labels_csv`);
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
            labels[video], paths["label_path"] = _frame_labels_txt(txt, len(joints)), str(txt)
        elif csv_path.exists():
            labels[video], paths["label_path"] = _frame_labels_csv(csv_path, len(joints)), str(csv_path)
        if reba.exists():
            targets["reba_total"] = _float_column(reba, "REBA score file")
            if len(targets["reba_total"]) != len(joints):
                raise InputError(f"{reba}: {len(targets['reba_total'])} scores for {len(joints)} frames")
            paths["reba_path"] = str(reba)
        videos[video] = {"joints": joints, "targets": targets, "paths": paths}
    return _finish(videos, labels, layout, fps, up_vec, "generic")


TUM_KITCHEN_FPS = 25.0


def load_tum_kitchen(root: PathLike, layout: str = "h36m17", fps: float = TUM_KITCHEN_FPS, up="z",
                     label_column: str | None = None) -> list[Sequence]:
    """TUM Kitchen sequences AFTER export to one of our layouts (assumption: see below).

    TUM's own skeleton has 28 joints, which is none of our layouts, so poses must first be exported (joint subset
    or regression) to `layout`. This loader then reads, per sequence:
    - `<root>/<seq>.csv`: one frame per row, 3 columns (x, y, z) per joint in `layout` order, millimetres as in the
      TUM release (converted to metres); one header row is allowed;
    - optional `<root>/<seq>_labels.csv`: frame labels as rows `frame,label` or `label`, or with a header naming
      the columns; TUM's tiered files (`instance,left_hand,right_hand,trunk`) need `label_column`.
    TUM's world frame has z up and 25 Hz, the defaults here. Activity names are sorted across sequences.
    """
    root = Path(root)
    lay = get_layout(layout)
    up_vec = parse_up(up)
    if not root.is_dir():
        raise InputError(f"no such folder: {root}")
    pose_files = sorted(p for p in root.glob("*.csv") if not p.stem.endswith("_labels"))
    if not pose_files:
        raise InputError(f"{root}: no <seq>.csv pose files")
    videos, labels = {}, {}
    for path in pose_files:
        seq = path.stem
        rows = _numeric_rows(path, f"{layout} poses ({lay.num_joints} joints x 3, mm)", 3 * lay.num_joints)
        joints = rows.reshape(len(rows), lay.num_joints, 3) / 1000.0
        paths = {"pose_path": str(path)}
        label_path = root / f"{seq}_labels.csv"
        labels[seq] = None
        if label_path.exists():
            labels[seq] = _frame_labels_csv(label_path, len(joints), label_column)
            paths["label_path"] = str(label_path)
        videos[seq] = {"joints": joints, "targets": {}, "paths": paths}
    return _finish(videos, labels, layout, fps, up_vec, "tum_kitchen")


# --------------------------------------------------------------------------------------------------------------
# KIMORE

KIMORE_FPS = 30.0


def _kimore_scores(path: Path, exercise: int) -> dict[str, float]:
    """Clinical scores for one exercise from a ClinicalAssessment CSV: header row, then the subject's row."""
    rows = _csv_rows(path, "clinical score file")
    if len(rows) != 2:
        raise InputError(f"{path}: expected a header row and one row of scores, got {len(rows)} rows")
    header, values = rows
    scores = {}
    for i, name in enumerate(header):
        kind = re.search(r"(?<![a-z])(TS|PO|CF)(?![a-z])", name, re.IGNORECASE)
        number = re.search(r"(?:ex|es|exercise)\s*#?\s*(\d+)", name, re.IGNORECASE)
        if kind and number and int(number.group(1)) == exercise and i < len(values) and values[i]:
            try:
                scores[kind.group(1).upper()] = float(values[i])
            except ValueError:
                raise InputError(f"{path}: column {name!r} is not a number: {values[i]!r}") from None
    if "TS" not in scores or not np.isfinite(scores["TS"]):
        raise InputError(f"{path}: no total score (TS) column for exercise {exercise}")
    return scores


def _one_file(folder: Path, pattern: str, what: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        if not found and pattern.endswith(".csv") and list(folder.glob(pattern[:-4] + ".xls*")):
            raise InputError(f"{folder}: only a spreadsheet for {what}; .xlsx is not supported, save it as CSV")
        raise InputError(f"{folder}: expected one {pattern} ({what}), found {len(found)}")
    return found[0]


def load_kimore(root: PathLike) -> list[Sequence]:
    """KIMORE recordings (Kinect v2, 25 joints, 30 Hz) with the clinical total score as quality.

    Layout assumed (as in the release, spreadsheets converted to CSV):
    `<root>/<group...>/<subject>/Es<k>/Raw/JointPosition*.csv`: one frame per line, 25 joints x 4 values
    (x, y, z in metres, tracking state), comma separated, trailing comma allowed; joints whose state is 0 (not
    tracked) become NaN. `<root>/<group...>/<subject>/Es<k>/Label/ClinicalAssessment*.csv`: a header row with
    TS, PO and CF columns per exercise (e.g. `clinical TS Ex#1`) and one row of values; the TS of exercise k is the
    quality, PO and CF go to metadata. The `.xlsx` files of the release are not read: convert them to CSV.
    Orientation files are ignored. Kinect camera space: layout kinect25, y up.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"no such folder: {root}")
    exercise_dirs = sorted(p for p in root.rglob("Es*") if p.is_dir() and re.fullmatch(r"Es\d+", p.name))
    if not exercise_dirs:
        raise InputError(f"{root}: no <group>/<subject>/Es<k> folders")
    sequences = []
    for folder in exercise_dirs:
        exercise = int(folder.name[2:])
        pos_path = _one_file(folder / "Raw", "JointPosition*.csv", "joint positions")
        rows = _numeric_rows(pos_path, "KIMORE joint positions (25 joints x x,y,z,state)", 100)
        values = rows.reshape(len(rows), 25, 4)
        joints = np.where(values[:, :, 3:] == 0, np.nan, values[:, :, :3])
        score_path = _one_file(folder / "Label", "ClinicalAssessment*.csv", "clinical scores")
        scores = _kimore_scores(score_path, exercise)
        subject = folder.parent.name
        group = folder.parent.parent.relative_to(root).as_posix()
        meta = {"source": "kimore", "group": group, "subject": subject, "exercise": exercise,
                "pose_path": str(pos_path), "score_path": str(score_path),
                **{f"clinical_{k.lower()}": v for k, v in scores.items()}}
        sequences.append(Sequence(layout="kinect25", fps=KIMORE_FPS, joints=joints, up=np.array([0.0, 1.0, 0.0]),
                                  quality=scores["TS"], metadata=meta))
    return sequences


# --------------------------------------------------------------------------------------------------------------
# UI-PRMD

# The 22 joints of a UI-PRMD positions/angles file, in column order (UI-PRMD paper, Kinect v2 data): a BVH-like
# hierarchy whose joints sit at the START of the named segment ("left_upper_arm" is the shoulder). Each row holds
# the waist position, then every other joint's offset from its parent in the parent's local frame.
UIPRMD_JOINTS: tuple[str, ...] = (
    "waist", "spine", "chest", "neck", "head", "head_tip",
    "left_collar", "left_upper_arm", "left_forearm", "left_hand",
    "right_collar", "right_upper_arm", "right_forearm", "right_hand",
    "left_upper_leg", "left_lower_leg", "left_foot", "left_toes",
    "right_upper_leg", "right_lower_leg", "right_foot", "right_toes",
)
UIPRMD_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 4, 2, 6, 7, 8, 2, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20)
# Correspondence with kinect25, from the segment lengths of the published files: chest = SpineShoulder (our neck);
# UI-PRMD "neck" is ~1 cm above the chest (no counterpart), its "head" ~6 cm above = Kinect Neck (our upper_neck)
# and "head_tip" = Kinect Head. Collars have no counterpart; kinect25's hands, hand tips and thumbs stay NaN.
UIPRMD_TO_KINECT25: dict[str, str] = {
    "waist": "pelvis", "spine": "spine_mid", "chest": "neck", "head": "upper_neck", "head_tip": "head",
    **{f"{s}_{a}": f"{s}_{b}" for s in ("left", "right") for a, b in (
        ("upper_arm", "shoulder"), ("forearm", "elbow"), ("hand", "wrist"), ("upper_leg", "hip"),
        ("lower_leg", "knee"), ("foot", "ankle"), ("toes", "toe"))},
}
UIPRMD_FPS = {"kinect": 30.0, "vicon": 100.0}
_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
_UIPRMD_NAME = re.compile(r"m(\d{2})_s(\d{2})_e(\d{2})_positions(_inc)?\.txt", re.IGNORECASE)


def _axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    out = np.zeros(angle_rad.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i], out[..., i, j], out[..., j, i], out[..., j, j] = c, -s, s, c
    return out


def euler_matrices(angles_deg: np.ndarray, order: str = "zyx") -> np.ndarray:
    """Rotation matrices (..., 3, 3) from Euler angles (..., 3) in degrees given as (about x, about y, about z).

    `order` is the matrix product left to right: "zyx" is Rz(z) @ Ry(y) @ Rx(x), as the UI-PRMD authors' visualiser.
    """
    if sorted(order) != ["x", "y", "z"]:
        raise InputError(f"bad Euler order {order!r}: use a permutation of 'xyz'")
    rad = np.radians(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), rad.shape[:-1] + (3, 3))
    for name in order:
        axis = "xyz".index(name)
        out = out @ _axis_rotation(axis, rad[..., axis])
    return out


def uiprmd_absolute(relative: np.ndarray, angles: np.ndarray | None = None, euler_order: str = "zyx") -> np.ndarray:
    """Absolute positions (T, 22, 3) from UI-PRMD rows (T, 66): root absolute, others relative to their parent.

    With `angles` (the matching `_angles.txt` rows, degrees), forward kinematics: a joint's global rotation is its
    parent's global rotation times its own Euler rotation, and each offset is turned by its parent's global
    rotation before it is added. Without angles, offsets are taken as already global and simply summed along the
    parent chain (only right for data exported that way: the published files need their angles).
    """
    rel = np.asarray(relative, dtype=np.float64).reshape(len(relative), 22, 3)
    out = np.empty_like(rel)
    out[:, 0] = rel[:, 0]
    if angles is None:
        for j in range(1, 22):
            out[:, j] = out[:, UIPRMD_PARENTS[j]] + rel[:, j]
        return out
    local = euler_matrices(np.asarray(angles, dtype=np.float64).reshape(len(rel), 22, 3), euler_order)
    rot = np.empty_like(local)
    rot[:, 0] = local[:, 0]
    for j in range(1, 22):
        parent = UIPRMD_PARENTS[j]  # parents come before children
        rot[:, j] = rot[:, parent] @ local[:, j]
        out[:, j] = out[:, parent] + np.einsum("tij,tj->ti", rot[:, parent], rel[:, j])
    return out


def _infer_unit(absolute: np.ndarray, path: Path) -> str:
    """The length unit that makes the median thigh (hip to knee) 0.25-0.65 m."""
    thighs = [np.linalg.norm(absolute[:, UIPRMD_JOINTS.index(f"{s}_lower_leg")]
                             - absolute[:, UIPRMD_JOINTS.index(f"{s}_upper_leg")], axis=-1) for s in ("left", "right")]
    thigh = float(np.nanmedian(np.concatenate(thighs)))
    for unit, factor in _UNITS.items():
        if 0.25 <= thigh * factor <= 0.65:
            return unit
    raise InputError(f"{path}: median thigh length {thigh:.3g} fits no length unit (m, cm, mm); pass length_unit")


def _angles_partner(path: Path) -> list[Path]:
    """Where the angles of a positions file can be: `../Angles/<name>` (release layout), then beside it."""
    def swap(text: str) -> str:  # keep the case: Positions -> Angles, positions -> angles
        return re.sub("positions", lambda m: "Angles" if m.group()[0] == "P" else "angles", text, flags=re.IGNORECASE)
    return [path.parent.parent / swap(path.parent.name) / swap(path.name), path.parent / swap(path.name)]


def load_ui_prmd(root: PathLike, modality: str = "kinect", *, use_angles: bool = True, euler_order: str = "zyx",
                 length_unit: str | None = None, up="y", fps: float | None = None) -> list[Sequence]:
    """UI-PRMD segmented repetitions of one modality (`kinect` or `vicon`), mapped to kinect25.

    Files: `m<NN>_s<NN>_e<NN>_positions.txt` (and `_positions_inc.txt`) anywhere under `root` inside a folder named
    like the modality (release: `Segmented Movements/Kinect/Positions/`, `Incorrect Segmented Movements/...`),
    one frame per line, 66 numbers (22 joints x 3, `UIPRMD_JOINTS` order), with the matching `_angles.txt` in the
    sibling `Angles/` folder (or beside it). Positions are rebuilt by `uiprmd_absolute` (forward kinematics with
    the angles; `use_angles=False` just sums offsets), then mapped by `UIPRMD_TO_KINECT25` (unmatched kinect25
    joints NaN). Quality is 1.0 for correct and 0.0 for incorrect repetitions (folder `Incorrect...` or `_inc`).
    Units: inferred per file from the thigh length unless `length_unit` is given (the Kinect files are in cm).
    Frame rate: 30 Hz Kinect, 100 Hz Vicon. Up: y (Kinect camera convention; the Vicon axes are not verified).
    """
    root = Path(root)
    modality = modality.lower()
    if modality not in UIPRMD_FPS:
        raise InputError(f"unknown UI-PRMD modality {modality!r}: use kinect or vicon")
    if length_unit is not None and length_unit not in _UNITS:
        raise InputError(f"unknown length unit {length_unit!r}: use m, cm or mm")
    if not root.is_dir():
        raise InputError(f"no such folder: {root}")
    files = sorted(p for p in root.rglob("*.txt") if _UIPRMD_NAME.fullmatch(p.name)
                   and modality in (part.lower() for part in p.resolve().parts))
    if not files:
        raise InputError(f"{root}: no m<NN>_s<NN>_e<NN>_positions.txt files under a {modality} folder")
    layout = get_layout("kinect25")
    up_vec = parse_up(up)
    pairs = [(UIPRMD_JOINTS.index(src), layout.index(dst)) for src, dst in UIPRMD_TO_KINECT25.items()]
    sequences = []
    for path in files:
        movement, subject, repetition, inc = _UIPRMD_NAME.fullmatch(path.name).groups()
        relative = _numeric_rows(path, "UI-PRMD positions (22 joints x 3)", 66)
        meta = {"source": "ui_prmd", "modality": modality, "movement": f"m{movement}", "subject": f"s{subject}",
                "repetition": f"e{repetition}", "pose_path": str(path)}
        angles = None
        if use_angles:
            candidates = _angles_partner(path)
            angle_path = next((c for c in candidates if c.is_file()), None)
            if angle_path is None:
                raise InputError(f"missing UI-PRMD angles file for {path.name}: {candidates[0]}")
            angles = _numeric_rows(angle_path, "UI-PRMD angles (22 joints x 3)", 66)
            if len(angles) != len(relative):
                raise InputError(f"{angle_path}: {len(angles)} frames, but {path.name} has {len(relative)}")
            meta["angles_path"] = str(angle_path)
        absolute = uiprmd_absolute(relative, angles, euler_order)
        unit = length_unit or _infer_unit(absolute, path)
        joints = np.full((len(absolute), layout.num_joints, 3), np.nan)
        for src, dst in pairs:
            joints[:, dst] = absolute[:, src] * _UNITS[unit]
        correct = not (inc or any(part.lower().startswith("incorrect") for part in path.resolve().parts))
        meta.update(correct=correct, length_unit=unit,
                    reconstruction="forward_kinematics" if use_angles else "summed_offsets")
        sequences.append(Sequence(layout="kinect25", fps=float(fps or UIPRMD_FPS[modality]), joints=joints, up=up_vec,
                                  quality=1.0 if correct else 0.0, metadata=meta))
    sequences.sort(key=lambda s: (s.metadata["movement"], s.metadata["subject"], s.metadata["repetition"],
                                  not s.metadata["correct"]))
    return sequences
