"""TUM Kitchen sequences after export to one of our layouts (CSV in millimetres, optional frame labels)."""

from __future__ import annotations

from pathlib import Path

from edge.datasets.loaders.readers import (
    PathLike,
    frame_labels_csv,
    labelled_sequences,
    numeric_rows,
)
from edge.datasets.sequence import Sequence
from edge.errors import InputError
from edge.skeletons import get_layout, parse_up

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
        rows = numeric_rows(path, f"{layout} poses ({lay.num_joints} joints x 3, mm)", 3 * lay.num_joints)
        joints = rows.reshape(len(rows), lay.num_joints, 3) / 1000.0
        paths = {"pose_path": str(path)}
        label_path = root / f"{seq}_labels.csv"
        labels[seq] = None
        if label_path.exists():
            labels[seq] = frame_labels_csv(label_path, len(joints), label_column)
            paths["label_path"] = str(label_path)
        videos[seq] = {"joints": joints, "targets": {}, "paths": paths}
    return labelled_sequences(videos, labels, layout, fps, up_vec, "tum_kitchen")
