"""KIMORE Kinect v2 rehabilitation recordings, with the clinical total score of each exercise as quality."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from edge.datasets.loaders.readers import PathLike, csv_rows, numeric_rows
from edge.datasets.sequence import Sequence
from edge.errors import InputError

KIMORE_FPS = 30.0
log = logging.getLogger(__name__)
_SCORE_KIND = re.compile(r"(?<![a-z])(TS|PO|CF)(?![a-z])", re.IGNORECASE)  # total, posture, control


def _score_rows(path: Path) -> list[list[str]]:
    """A ClinicalAssessment file's rows as text: the release's .xlsx (its first sheet, read with openpyxl) or a CSV
    saved from it."""
    if path.suffix.lower() != ".xlsx":
        return csv_rows(path, "clinical score file")
    try:
        import openpyxl
    except ImportError:
        raise InputError(f"{path}: reading .xlsx needs openpyxl (pip install '.[train]'), or save it as CSV") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl's own errors: the file is not a workbook
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0]
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    return [row for row in rows if any(cell.strip() for cell in row)]


def _kimore_scores(path: Path, exercise: int) -> dict[str, float]:
    """Clinical scores for one exercise: a header row, then the subject's row. Columns are found by name (e.g.
    `clinical TS Ex#1`); a header that names none of them is read by position as the release lays it out (subject
    ID, then TS, PO and CF of exercises 1-5)."""
    rows = _score_rows(path)
    if len(rows) != 2:
        raise InputError(f"{path}: expected a header row and one row of scores, got {len(rows)} rows")
    header, values = rows
    columns = {}
    for i, name in enumerate(header):
        kind = _SCORE_KIND.search(name)
        number = re.search(r"(?:ex|es|exercise)\s*#?\s*(\d+)", name, re.IGNORECASE)
        if kind and number and int(number.group(1)) == exercise:
            columns[kind.group(1).upper()] = i
    if not columns and len(header) >= 16 and not any(_SCORE_KIND.search(name) for name in header):
        columns = {kind: 1 + 5 * k + exercise - 1 for k, kind in enumerate(("TS", "PO", "CF"))}
    scores = {}
    for kind, i in columns.items():
        if i < len(values) and values[i].strip():
            try:
                scores[kind] = float(values[i])
            except ValueError:
                raise InputError(f"{path}: column {header[i]!r} is not a number: {values[i]!r}") from None
    if "TS" not in scores or not np.isfinite(scores["TS"]):
        raise InputError(f"{path}: no total score (TS) column for exercise {exercise}")
    return scores


def _score_file(folder: Path) -> Path:
    found = sorted(p for p in folder.glob("ClinicalAssessment*") if p.suffix.lower() in (".xlsx", ".csv"))
    if len(found) != 1:
        raise InputError(f"{folder}: expected one ClinicalAssessment*.xlsx or .csv (clinical scores), found "
                         f"{len(found)}")
    return found[0]


def load_kimore(root: PathLike) -> list[Sequence]:
    """KIMORE recordings (Kinect v2, 25 joints, 30 Hz) with the clinical total score as quality.

    Layout as in the release: `<root>/<group...>/<subject>/Es<k>/Raw/JointPosition*.csv`: one frame per line, 25
    joints x 4 values (x, y, z in metres, tracking state), comma separated, trailing comma allowed, blank lines
    skipped; joints whose state is 0 (not tracked) become NaN. `<root>/<group...>/<subject>/Es<k>/Label/
    ClinicalAssessment*.xlsx` (or a CSV saved from it): a header row with TS, PO and CF columns per exercise and one
    row of values (`_kimore_scores`); the TS of exercise k is the quality, PO and CF go to metadata. An exercise
    folder without its joint positions (some of the release's are incomplete) is left out with a warning naming it.
    Orientation files are ignored. Kinect camera space: layout kinect25, y up.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"no such folder: {root}")
    exercise_dirs = sorted(p for p in root.rglob("Es*") if p.is_dir() and re.fullmatch(r"Es\d+", p.name))
    if not exercise_dirs:
        raise InputError(f"{root}: no <group>/<subject>/Es<k> folders")
    sequences, incomplete = [], []
    for folder in exercise_dirs:
        exercise = int(folder.name[2:])
        positions = sorted((folder / "Raw").glob("JointPosition*.csv"))
        if len(positions) > 1:
            raise InputError(f"{folder / 'Raw'}: expected one JointPosition*.csv, found {len(positions)}")
        if not positions or not positions[0].read_bytes().strip():
            incomplete.append(folder.relative_to(root).as_posix())
            continue
        pos_path = positions[0]
        rows = numeric_rows(pos_path, "KIMORE joint positions (25 joints x x,y,z,state)", 100)
        values = rows.reshape(len(rows), 25, 4)
        joints = np.where(values[:, :, 3:] == 0, np.nan, values[:, :, :3])
        score_path = _score_file(folder / "Label")
        scores = _kimore_scores(score_path, exercise)
        subject = folder.parent.name
        group = folder.parent.parent.relative_to(root).as_posix()
        meta = {"source": "kimore", "group": group, "subject": subject, "exercise": exercise,
                "pose_path": str(pos_path), "score_path": str(score_path),
                **{f"clinical_{k.lower()}": v for k, v in scores.items()}}
        sequences.append(Sequence(layout="kinect25", fps=KIMORE_FPS, joints=joints, up=np.array([0.0, 1.0, 0.0]),
                                  quality=scores["TS"], metadata=meta))
    if incomplete:
        log.warning("KIMORE: %d exercise folder(s) without joint positions left out: %s", len(incomplete),
                    ", ".join(incomplete[:10]) + (" ..." if len(incomplete) > 10 else ""))
    if not sequences:
        raise InputError(f"{root}: no exercise folder holds joint positions (Es<k>/Raw/JointPosition*.csv)")
    return sequences
