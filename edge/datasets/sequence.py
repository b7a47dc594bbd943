"""One sequence format for every data set, real or synthetic.

A `Sequence` is one recording of one person: 3D joints (T, J, 3) in metres with an up vector, and/or 2D keypoints
(T, J, 3) as pixel x, y and confidence; the layout; the frame rate; frame-wise activity ids with their names;
frame-wise ergonomic targets (REBA/RULA totals and partials, any name -> (T,)); an optional quality score (for
exercise assessment); and free-form metadata (subject, video id, source, camera...).

`save_sequence` and `load_sequence` are exact inverses (NPZ, no pickles); `load_sequence` also reads plain pose
files (a `.npy` of joints, or the `.npz` that `ergoedge pose` writes), and `scorable_joints` checks 3D joints
before scoring. `resample`, `windows` and `split_by` are pure functions returning new sequences.

Size cap: `load_sequence` reads every array's header first (the .npy file's, or each member's of an .npz) and
refuses, before reading any data, a header that is not well formed, an array of more than `MAX_FRAMES` frames
(2,000,000: 18.5 hours at 30 fps), and a file whose arrays declare more than `MAX_FILE_BYTES` together (1.58 GB:
float64 joints of the widest layout, BlazePose's 33, at `MAX_FRAMES`). A small compressed file that would inflate
beyond that is refused at once.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.paths import atomic_path
from edge.signals import seen_median
from edge.skeletons import get_layout, parse_up, to_canonical

UNKNOWN_ACTIVITY = -1
_FORMAT = 1
# A standing adult's pelvis-to-neck distance is about 0.5 m: outside these bounds the joints are not a body in
# metres; no coordinate of a workplace recording lies farther than _MAX_COORDINATE_M from its origin.
_MAX_TRUNK_M = 1.5
_MIN_TRUNK_M = 0.1
_MAX_COORDINATE_M = 1000.0
# Frame rates a recording may have: a slow Kinect logs a few frames a second, a fast camera a few hundred.
MIN_FPS, MAX_FPS = 1.0, 1000.0
# A file's `missing` field with this value says that NaN joints are joints the pose model did not see.
MISSING_UNOBSERVED = "unobserved"
# The longest recording read: 18.5 hours at 30 fps, a 12-hour shift at 46 fps. Scoring it needs the joints as stored
# plus about 120 bytes a frame (edge.scoring.chunked).
MAX_FRAMES = 2_000_000
# What the arrays of one file may declare together: float64 joints of the widest layout (33 points) at MAX_FRAMES.
MAX_FILE_BYTES = MAX_FRAMES * 33 * 3 * 8


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
        check_number(self.fps, "sequence fps", minimum=MIN_FPS, maximum=MAX_FPS)
        if self.joints is None and self.keypoints2d is None:
            raise InputError("a sequence needs joints (3D) or keypoints2d")
        lengths = set()
        for name in ("joints", "keypoints2d"):
            value = getattr(self, name)
            if value is not None:
                if value.dtype.kind not in "fiu":
                    raise InputError(f"{name} must be numbers, got dtype {value.dtype}")
                if value.ndim != 3 or value.shape[1:] != (lay.num_joints, 3):
                    raise InputError(f"{name} must have shape (frames, {lay.num_joints}, 3) for {self.layout}, "
                                     f"got {value.shape}")
                lengths.add(value.shape[0])
        if self.joints is not None and self.up is None:
            raise InputError("3D joints need an up vector")
        if self.up is not None and (np.shape(self.up) != (3,) or np.asarray(self.up).dtype.kind not in "fiu"):
            raise InputError(f"the up vector must be 3 numbers, got {np.asarray(self.up)!r}")
        for name, values in (("activity", self.activity), *((f"target {k!r}", v) for k, v in self.targets.items())):
            if values is not None and np.ndim(values) != 1:
                raise InputError(f"{name} must have one value a frame (shape (frames,)), got shape {np.shape(values)}")
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
    with atomic_path(path, suffix=".npz") as tmp:  # numpy would add .npz to a name without it
        np.savez_compressed(tmp, **arrays)
    return path


def load_sequence(path: str | os.PathLike, layout: str | None = None, up: str | np.ndarray | None = None,
                  fps: float | None = None) -> Sequence:
    """A sequence file (`save_sequence`), or a plain pose file: `.npy` (T, J, 3) in metres, or `.npz` with `joints`
    and optional `fps`, `layout`, `up` (what `ergoedge pose` writes). `layout`, `up` and `fps` given here win over
    the stored values; a plain pose file needs all three, stored or given."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, expected a .npy or .npz file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; expected .npy or .npz")
    _check_magic(path, suffix)
    _check_declared_sizes(path, suffix)
    try:
        if suffix == ".npy":
            return _pose_sequence(path, np.load(path, allow_pickle=False), {}, layout, up, fps)
        with np.load(path, allow_pickle=False) as data:
            if "format" in data.files:
                seq = _stored_sequence(path, data)
                changes = {k: v for k, v in (("layout", layout), ("fps", fps)) if v is not None}
                if up is not None:
                    changes["up"] = parse_up(up)
                return replace(seq, **changes) if changes else seq
            if "joints" not in data.files:
                raise InputError(f"{path}: not an ergo-edge sequence or pose file: no 'joints' array "
                                 f"(found: {', '.join(data.files) or 'nothing'})")
            stored = {k: _single(data, k, path) for k in ("fps", "layout", "up", "missing") if k in data.files}
            return _pose_sequence(path, data["joints"], stored, layout, up, fps)
    except InputError:
        raise
    # TypeError and IndexError: a stored field of the wrong shape (format or fps as an array, names as one string)
    except (ValueError, TypeError, IndexError, OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{path}: not a readable sequence or numpy {suffix} file ({exc})") from None


# How each file type begins: a file that begins otherwise is not one, whatever its name says.
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK\x03\x04"}


def _check_magic(path: Path, suffix: str) -> None:
    if not path.is_file():
        raise InputError(f"{path} is not a regular file, expected a {suffix} file")
    with open(path, "rb") as f:
        head = f.read(len(_MAGIC[suffix]))
    if head != _MAGIC[suffix]:
        kind = "a zip archive of numpy arrays" if suffix == ".npz" else "a numpy array file"
        raise InputError(f"{path}: not a readable numpy {suffix} file (a {suffix} file is {kind}; this one "
                         f"begins otherwise)")


def _check_declared_sizes(path: Path, suffix: str) -> None:
    """Refuse, from the headers alone, a malformed header, an array of more than MAX_FRAMES frames, and arrays
    that declare more than MAX_FILE_BYTES together: numpy would allocate what a header declares before reading."""
    total = 0
    for name, shape, size in _declared_arrays(path, suffix):
        if shape and shape[0] > MAX_FRAMES:
            raise InputError(f"{path}: {name} declares {shape[0]:,} frames (shape {shape}); at most {MAX_FRAMES:,} "
                             f"frames ({MAX_FRAMES / 30 / 3600:.1f} h at 30 fps) are read: split the recording")
        total += size
    if total > MAX_FILE_BYTES:
        raise InputError(f"{path}: its arrays declare {_bytes_text(total)}; at most {_bytes_text(MAX_FILE_BYTES)} "
                         f"are read from one file: split the recording")


def _declared_arrays(path: Path, suffix: str) -> list[tuple[str, tuple, int]]:
    """(name, shape, bytes) of every array in a .npy or .npz file, read from the headers only."""
    from numpy.lib import format as npy

    found = []
    try:
        if suffix == ".npy":
            with open(path, "rb") as f:
                return [("the array", *_array_header(f, f"{path}"))]
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with archive.open(info) as member:
                    if member.read(len(npy.MAGIC_PREFIX)) != npy.MAGIC_PREFIX:
                        # Not an array: np.load would hand over the member's bytes as they are.
                        found.append((f"'{name}'", (), info.file_size))
                        continue
                    member.seek(0)
                    found.append((f"'{name}'", *_array_header(member, f"{path}: '{name}'")))
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        # NotImplementedError: an unsupported compression method; RuntimeError: an encrypted member.
        raise InputError(f"{path}: not a readable sequence or numpy {suffix} file ({exc})") from None
    return found


def _array_header(stream, where: str) -> tuple[tuple, int]:
    """The shape and byte size that a .npy header declares, or an InputError saying the header is malformed."""
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"format version {version[0]}.{version[1]}; 1.0, 2.0 and 3.0 are read")
        # 3.0 is laid out as 2.0 with a UTF-8 header, which differs only in non-ASCII field names of structured
        # dtypes: the shape and item size read the same.
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read(stream)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser lets its tokenizer's errors through
        raise InputError(f"{where}: malformed numpy array header ({type(exc).__name__}: {exc})") from None
    if any(d < 0 for d in shape):
        raise InputError(f"{where}: malformed numpy array header (negative dimension in shape {shape})")
    return tuple(shape), math.prod(shape) * dtype.itemsize


def _bytes_text(size: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} bytes"


def _stored_sequence(path: Path, data) -> Sequence:
    if int(data["format"]) != _FORMAT:
        raise InputError(f"{path}: not an ergo-edge sequence file (format {_FORMAT})")
    files = set(data.files)
    get = lambda k: data[k] if k in files else None  # noqa: E731
    return Sequence(
        layout=str(data["layout"]), fps=float(data["fps"]), joints=get("joints"), up=get("up"),
        keypoints2d=get("keypoints2d"), activity=get("activity"),
        activity_names=tuple(str(n) for n in data["activity_names"]),
        targets={k[len("target/"):]: data[k] for k in sorted(files) if k.startswith("target/")},
        quality=float(data["quality"]) if "quality" in files else None,
        metadata=json.loads(str(data["metadata"])))


def _single(archive, key: str, path: Path) -> np.ndarray:
    value = archive[key]
    if value.shape not in ((), (1,)) and key != "up":
        raise InputError(f"{path}: '{key}' must be a single value, got shape {value.shape}")
    return value


def _pose_sequence(path: Path, joints: np.ndarray, stored: dict, layout, up, fps) -> Sequence:
    """A plain pose file's joints with its layout, up vector and frame rate (given, else stored), checked."""
    layout_name = layout
    if layout_name is None and "layout" in stored:
        layout_name = str(stored["layout"].reshape(-1)[0])
    if layout_name is None:
        raise InputError(f"{path}: no layout given; pass --layout (e.g. --layout coco17)")
    lay = get_layout(layout_name)
    if up is not None:
        up_vec = parse_up(up)
    elif "up" in stored:
        stored_up = stored["up"]
        up_vec = parse_up(str(stored_up.reshape(-1)[0]) if stored_up.dtype.kind in "US" else stored_up)
    else:
        raise InputError(f"{path}: no up vector given; pass --up (e.g. --up z, --up -y or --up 0,0,1)")
    if fps is None and "fps" in stored:
        try:
            fps = float(stored["fps"].reshape(-1)[0])
        except (TypeError, ValueError):
            raise InputError(f"{path}: stored fps is not a number") from None
    if fps is None:
        raise InputError(f"{path}: no frame rate given; pass --fps")
    check_number(fps, "frame rate", minimum=MIN_FPS, maximum=MAX_FPS)
    if joints.dtype.kind not in "fiu":
        raise InputError(f"{path}: joints must be numbers, got dtype {joints.dtype}")
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise InputError(f"{path}: joints must have shape (frames, joints, 3), got {joints.shape}")
    if joints.shape[1] != lay.num_joints:
        raise InputError(
            f"{path}: joints have {joints.shape[1]} points per frame but layout {lay.name} has {lay.num_joints}")
    metadata = {"source": str(path)}
    if "missing" in stored:
        metadata["missing"] = str(stored["missing"].reshape(-1)[0])
    return Sequence(layout=lay.name, fps=float(fps), joints=joints, up=up_vec, metadata=metadata)


def scorable_joints(seq: Sequence, allow_missing: bool = False) -> np.ndarray:
    """The sequence's 3D joints as float64 metres, checked for scoring (`check_scorable`)."""
    check_scorable(seq, allow_missing)
    return seq.joints.astype(np.float64)


# Frames checked at a time: a long recording is checked in bounded memory, never copied whole.
_CHECK_FRAMES = 32_768


def check_scorable(seq: Sequence, allow_missing: bool = False) -> None:
    """Check 3D joints for scoring, a block of frames at a time: frames present, finite, NaN only with
    `allow_missing` or in a file that says unseen joints are NaN (`ergoedge pose` output; then scored as not
    observed), a body of plausible size in metres, and an up vector that puts the neck above the ankles in most
    frames."""
    if seq.joints is None:
        raise InputError("the sequence has no 3D joints to score (only 2D keypoints)")
    lay = get_layout(seq.layout)
    if seq.joints.shape[0] == 0:
        raise InputError("the sequence has no frames")
    body = _BodyCheck(lay, np.asarray(seq.up, dtype=np.float64))
    first_inf = first_nan = None
    nan_positions = known_coordinates = 0
    for start in range(0, seq.joints.shape[0], _CHECK_FRAMES):
        block = seq.joints[start:start + _CHECK_FRAMES].astype(np.float64)
        inf, nan = np.isinf(block), np.isnan(block)
        if first_inf is None and inf.any():
            first_inf = _first_position(inf, start)
        if nan.any():
            first_nan = first_nan or _first_position(nan, start)
            nan_positions += int(nan.any(axis=2).sum())
        known_coordinates += int(nan.size - np.count_nonzero(nan))
        body.add(block)
    if first_inf is not None:
        frame, joint = first_inf
        raise InputError(f"infinite coordinate at frame {frame}, joint {joint} ({lay.joints[joint]})")
    if first_nan is not None:
        frame, joint = first_nan
        if not (allow_missing or seq.metadata.get("missing") == MISSING_UNOBSERVED):
            raise InputError(
                f"NaN coordinates in {nan_positions} joint positions, first at frame {frame}, "
                f"joint {joint} ({lay.joints[joint]}); pass --allow-missing to score them as not observed")
        if known_coordinates == 0:
            raise InputError("every coordinate is NaN; nothing to score")
    body.check()


def _first_position(mask: np.ndarray, start: int) -> tuple[int, int]:
    frame, joint = np.argwhere(mask)[0][:2]
    return start + int(frame), int(joint)


class _BodyCheck:
    """Refuse joints that cannot be a person in metres, and an up vector that stands them on their head: what is
    measured is gathered a block of frames at a time (`add`), judged at the end (`check`)."""

    def __init__(self, lay, up: np.ndarray):
        self.lay, self.up = lay, up
        self.largest = 0.0
        self.trunks: list[np.ndarray] = []  # pelvis-to-neck distance per frame, 8 bytes a frame
        self.seen = self.upright = 0

    def add(self, joints: np.ndarray) -> None:
        # Joints far too large overflow here; they are refused by `check` before anything measured is used.
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            magnitude = np.fmax.reduce(np.abs(joints), axis=None)  # NaN only when every value is NaN
            if magnitude > self.largest:
                self.largest = float(magnitude)
            points = to_canonical(joints, self.lay)
            self.trunks.append(np.linalg.norm(points["neck"] - points["pelvis"], axis=-1))
            body = points["neck"] - 0.5 * (points["left_ankle"] + points["right_ankle"])
            along_up = (body @ self.up) / np.linalg.norm(body, axis=-1)
        seen = np.isfinite(along_up)
        self.seen += int(np.count_nonzero(seen))
        # cos 75 deg: even stooped to the floor the neck stays above the ankles; a wrong or upside-down axis does not.
        self.upright += int(np.count_nonzero(along_up[seen] > 0.26))

    def check(self) -> None:
        if self.largest > _MAX_COORDINATE_M:
            raise InputError(f"coordinates reach {self.largest:.3g} units; they must be metres (a workplace is not "
                             f"{_MAX_COORDINATE_M:g} m across)")
        trunk = seen_median(np.concatenate(self.trunks)[:, None])[0] if self.trunks else np.nan
        if not np.isfinite(trunk):
            return  # no frame shows both: nothing to measure the body by
        if trunk > _MAX_TRUNK_M:
            raise InputError(f"pelvis-to-neck distance is {trunk:.1f} units; coordinates must be in metres")
        if trunk < _MIN_TRUNK_M:
            raise InputError(f"pelvis-to-neck distance is {trunk:.3g} m: the joints are not a body (all at one "
                             "point, or not in metres)")
        if self.seen and self.upright / self.seen < 0.5:
            up = ", ".join(f"{v + 0.0:g}" for v in self.up)
            raise InputError(f"with up = ({up}) the neck is not above the ankles in "
                             f"{100 * (1 - self.upright / self.seen):.0f}% of frames: the up vector is wrong for "
                             "these joints (check --up)")


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
