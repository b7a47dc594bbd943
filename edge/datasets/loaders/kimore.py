"""KIMORE Kinect v2 rehabilitation recordings, with the clinical total score of each exercise as quality."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edge.datasets.loaders.readers import PathLike, csv_rows, numeric_rows
from edge.datasets.sequence import Sequence
from edge.errors import InputError

KIMORE_FPS = 30.0


def _kimore_scores(path: Path, exercise: int) -> dict[str, float]:
    """Clinical scores for one exercise from a ClinicalAssessment CSV: header row, then the subject's row."""
    rows = csv_rows(path, "clinical score file")
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
        rows = numeric_rows(pos_path, "KIMORE joint positions (25 joints x x,y,z,state)", 100)
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
