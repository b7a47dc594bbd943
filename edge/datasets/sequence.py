"""One sequence format for every data set, real or synthetic.

A `Sequence` is one recording of one person: 3D joints (T, J, 3) in metres with an up vector, and/or 2D keypoints
(T, J, 3) as pixel x, y and confidence; the layout; the frame rate; frame-wise activity ids with their names;
frame-wise ergonomic targets (REBA/RULA totals and partials, any name -> (T,)); an optional quality score (for
exercise assessment); and free-form metadata (subject, video id, source, camera...).

`save_sequence` and `load_sequence` are exact inverses (NPZ, no pickles). `resample`, `windows` and
`split_by` are pure functions returning new sequences.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.skeletons import get_layout

UNKNOWN_ACTIVITY = -1
_FORMAT = 1


@dataclass(frozen=True, eq=False)
class Sequence:
    layout: str
    fps: float
    joints: np.ndarray | None = None  # (T, J, 3) metres
    up: np.ndarray | None = None  # (3,) unit vector against gravity, in the joints' frame
    keypoints2d: np.ndarray | None = None  # (T, J, 3): x, y pixels and confidence
    activity: np.ndarray | None = None  # (T,) int, UNKNOWN_ACTIVITY where unlabelled
    activity_names: tuple[str, ...] = ()
    targets: dict = field(default_factory=dict)  # name -> (T,) float
    quality: float | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        lay = get_layout(self.layout)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"sequence fps must be positive, got {self.fps}")
        if self.joints is None and self.keypoints2d is None:
            raise InputError("a sequence needs joints (3D) or keypoints2d")
        lengths = set()
        for name in ("joints", "keypoints2d"):
            value = getattr(self, name)
            if value is not None:
                if value.ndim != 3 or value.shape[1:] != (lay.num_joints, 3):
                    raise InputError(f"{name} must have shape (frames, {lay.num_joints}, 3) for {self.layout}, "
                                     f"got {value.shape}")
                lengths.add(value.shape[0])
        if self.joints is not None and self.up is None:
            raise InputError("3D joints need an up vector")
        if self.activity is not None:
            lengths.add(len(self.activity))
            if self.activity.size and self.activity.max(initial=-1) >= len(self.activity_names):
                raise InputError(f"activity id {int(self.activity.max())} has no name "
                                 f"({len(self.activity_names)} names)")
        for name, values in self.targets.items():
            lengths.add(len(values))
        if len(lengths) > 1:
            raise InputError(f"sequence arrays differ in length: {sorted(lengths)}")

    @property
    def num_frames(self) -> int:
        return len(self.joints if self.joints is not None else self.keypoints2d)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps


def save_sequence(seq: Sequence, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"format": np.int64(_FORMAT), "layout": np.str_(seq.layout), "fps": np.float64(seq.fps),
              "activity_names": np.array(seq.activity_names, dtype=str),
              "metadata": np.str_(json.dumps(seq.metadata, sort_keys=True))}
    for name in ("joints", "up", "keypoints2d", "activity"):
        value = getattr(seq, name)
        if value is not None:
            arrays[name] = value
    if seq.quality is not None:
        arrays["quality"] = np.float64(seq.quality)
    for name, values in seq.targets.items():
        arrays[f"target/{name}"] = values
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_sequence(path: str | os.PathLike) -> Sequence:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such sequence file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if "format" not in files or int(data["format"]) != _FORMAT:
                raise InputError(f"{path}: not an ergo-edge sequence file (format {_FORMAT})")
            get = lambda k: data[k] if k in files else None  # noqa: E731
            return Sequence(
                layout=str(data["layout"]), fps=float(data["fps"]), joints=get("joints"), up=get("up"),
                keypoints2d=get("keypoints2d"), activity=get("activity"),
                activity_names=tuple(str(n) for n in data["activity_names"]),
                targets={k[len("target/"):]: data[k] for k in sorted(files) if k.startswith("target/")},
                quality=float(data["quality"]) if "quality" in files else None,
                metadata=json.loads(str(data["metadata"])))
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable sequence file ({exc})") from None


def resample(seq: Sequence, fps: float) -> Sequence:
    """The sequence at another frame rate: coordinates and targets linearly interpolated (NaN stays NaN where a
    neighbour is NaN), activity labels from the nearest frame."""
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"target fps must be positive, got {fps}")
    n = seq.num_frames
    t_old = np.arange(n) / seq.fps
    n_new = max(int(np.floor((n - 1) * fps / seq.fps)) + 1, 1)
    t_new = np.arange(n_new) / fps
    pos = t_new * seq.fps
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    w = (pos - lo)

    def interp(a: np.ndarray) -> np.ndarray:
        shape = (-1,) + (1,) * (a.ndim - 1)
        return a[lo] * (1 - w).reshape(shape) + a[hi] * w.reshape(shape)

    nearest = np.clip(np.rint(pos).astype(int), 0, n - 1)
    del t_old
    return replace(
        seq, fps=float(fps),
        joints=None if seq.joints is None else interp(seq.joints),
        keypoints2d=None if seq.keypoints2d is None else interp(seq.keypoints2d),
        activity=None if seq.activity is None else seq.activity[nearest],
        targets={k: interp(np.asarray(v, dtype=np.float64)) for k, v in seq.targets.items()})


def _slice(seq: Sequence, start: int, stop: int) -> Sequence:
    cut = lambda a: None if a is None else a[start:stop]  # noqa: E731
    meta = dict(seq.metadata, window_start_frame=start)
    return replace(seq, joints=cut(seq.joints), keypoints2d=cut(seq.keypoints2d), activity=cut(seq.activity),
                   targets={k: v[start:stop] for k, v in seq.targets.items()}, metadata=meta)


def windows(seq: Sequence, length_s: float, stride_s: float) -> list[Sequence]:
    """Windows of `length_s` seconds every `stride_s` seconds (the last partial window is dropped)."""
    length = int(round(length_s * seq.fps))
    stride = int(round(stride_s * seq.fps))
    if length < 1 or stride < 1:
        raise InputError(f"window length and stride must be at least one frame at {seq.fps} fps")
    return [_slice(seq, s, s + length) for s in range(0, seq.num_frames - length + 1, stride)]


def split_by(seqs: list[Sequence], key: str, held_out: list) -> tuple[list[Sequence], list[Sequence]]:
    """Split by a metadata key (subject, video...): sequences whose key is in `held_out` go to the second list,
    so no subject or video is on both sides."""
    held = {str(v) for v in held_out}
    missing = [i for i, s in enumerate(seqs) if key not in s.metadata]
    if missing:
        raise InputError(f"sequence {missing[0]} has no metadata key {key!r}")
    train = [s for s in seqs if str(s.metadata[key]) not in held]
    test = [s for s in seqs if str(s.metadata[key]) in held]
    return train, test
