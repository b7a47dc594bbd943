"""The checked readers every data set loader shares, and the frame-label encoding of labelled folders.

Each reader raises a one-line `InputError` naming the missing or bad file, so a loader never has to wrap a numpy or
csv error itself.
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from edge.datasets.sequence import UNKNOWN_ACTIVITY, Sequence
from edge.errors import InputError

PathLike = str | os.PathLike


# What numpy raises on a damaged .npy or .npz file (a truncated array, a zip that is not one, corrupt deflate data).
_NUMPY_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def load_npy(path: Path, what: str, archive: tuple[str, ...] = ()) -> np.ndarray:
    """A .npy array that must exist (with `archive`, the array of an .npz too: its one array or the first of `archive`
    names in it); pickled objects are refused."""
    if not path.is_file():
        raise InputError(f"missing {what}: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            return data
        with data:
            if not archive:
                raise InputError(f"{path}: an .npz archive, where {what} is one .npy array")
            keys = list(data.files)
            key = next((k for k in archive if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise InputError(f"{path}: several arrays ({', '.join(keys)}) and none named {' or '.join(archive)}")
            return data[key]
    except InputError:
        raise
    except _NUMPY_ERRORS as exc:
        raise InputError(f"{path}: not a readable numpy array ({exc})") from None


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a file that must exist (a byte-order mark, as spreadsheet exports write, is dropped)."""
    if not path.is_file():
        raise InputError(f"missing {what}: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what} ({exc})") from None


def float_column(path: Path, what: str) -> np.ndarray:
    """One float per line (blank lines ignored)."""
    values = []
    for number, line in enumerate(read_text(path, what).splitlines(), 1):
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


def numeric_rows(path: Path, what: str, columns: int) -> np.ndarray:
    """Rows of `columns` numbers separated by commas or whitespace; a trailing comma and one header row are allowed."""
    rows = []
    first = True
    for number, line in enumerate(read_text(path, what).splitlines(), 1):
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


def frame_labels_txt(path: Path, num_frames: int) -> list[str | None]:
    """One label name per line per frame; an empty line is an unlabelled frame."""
    labels = [line.strip() or None for line in read_text(path, "label file").splitlines()]
    if len(labels) != num_frames:
        raise InputError(f"{path}: {len(labels)} labels for {num_frames} frames")
    return labels


def frame_labels_csv(path: Path, num_frames: int, label_column: str | None = None) -> list[str | None]:
    """Frame labels from CSV: rows `frame,label` or `label`, or named columns after a header row.

    With a header, the frame column is `frame` (or `instance`) when present and the label column is `label_column`,
    else `label`, else the only other column. Frames not listed stay unlabelled; listed frames must be in range
    and unique. Without a frame column the rows must cover every frame in order.
    """
    rows = csv_rows(path, "label file")
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


def csv_rows(path: Path, what: str) -> list[list[str]]:
    """Non-empty CSV rows with stripped cells."""
    try:
        return [[c.strip() for c in row] for row in csv.reader(read_text(path, what).splitlines()) if any(
            c.strip() for c in row)]
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit: not a table of numbers and labels
        raise InputError(f"{path}: not a readable CSV {what} ({exc})") from None


def encode_labels(all_labels: dict[str, list[str | None] | None]
                  ) -> tuple[dict[str, np.ndarray | None], tuple[str, ...]]:
    """Label names across all videos, sorted (stable across runs), and the id array per video."""
    names = tuple(sorted({label for labels in all_labels.values() if labels for label in labels if label}))
    index = {name: i for i, name in enumerate(names)}
    out = {}
    for video, labels in all_labels.items():
        out[video] = None if labels is None else np.array(
            [UNKNOWN_ACTIVITY if label is None else index[label] for label in labels], dtype=np.int64)
    return out, names


def labelled_sequences(videos: dict[str, dict], labels: dict[str, list | None], layout: str, fps: float,
                       up: np.ndarray, source: str) -> list[Sequence]:
    """One sequence per video (`videos[video]` holds joints, targets and paths), ids from `encode_labels`."""
    ids, names = encode_labels(labels)
    return [Sequence(layout=layout, fps=float(fps), joints=v["joints"], up=up, activity=ids[video],
                     activity_names=names if ids[video] is not None else (), targets=v["targets"],
                     metadata={"source": source, "video": video, **v["paths"]})
            for video, v in videos.items()]
