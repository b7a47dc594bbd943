"""Reading pose sequences for scoring: `.npy` (T, J, 3) or `.npz` with `joints` and optional `fps`, `layout`, `up`.

`load_poses` is the one entry point; every problem with the file is an `InputError` whose message names it.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.skeletons import Layout, get_layout, parse_up, to_canonical

# A standing adult's pelvis-to-neck distance is about 0.5 m; beyond this the file is not in metres.
_MAX_TRUNK_M = 1.5


@dataclass(frozen=True)
class PoseSequence:
    joints: np.ndarray  # (T, J, 3) float64, metres; NaN = not seen (only with allow_missing)
    layout: Layout
    up: np.ndarray  # unit vector against gravity
    fps: float


def _scalar(archive, key: str, path: Path):
    value = archive[key]
    if value.shape not in ((), (1,)) and key != "up":
        raise InputError(f"{path}: '{key}' must be a single value, got shape {value.shape}")
    return value


def load_poses(
    path: str | Path,
    layout: str | None = None,
    up: str | None = None,
    fps: float | None = None,
    allow_missing: bool = False,
) -> PoseSequence:
    """Load and check a pose file. Arguments given here override values stored in an `.npz`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, expected a .npy or .npz file")
    stored: dict = {}
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            joints = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if "joints" not in archive.files:
                    raise InputError(f"{path}: no 'joints' array (found: {', '.join(archive.files) or 'nothing'})")
                joints = archive["joints"]
                for key in ("fps", "layout", "up"):
                    if key in archive.files:
                        stored[key] = _scalar(archive, key, path)
        else:
            raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; expected .npy or .npz")
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable numpy {suffix} file ({exc})") from None

    layout_name = layout if layout is not None else (str(stored["layout"].reshape(-1)[0]) if "layout" in stored else None)
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
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"frame rate must be a positive number, got {fps}")

    if joints.dtype.kind not in "fiu":
        raise InputError(f"{path}: joints must be numbers, got dtype {joints.dtype}")
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise InputError(f"{path}: joints must have shape (frames, joints, 3), got {joints.shape}")
    if joints.shape[0] == 0:
        raise InputError(f"{path}: the sequence has no frames")
    if joints.shape[1] != lay.num_joints:
        raise InputError(
            f"{path}: joints have {joints.shape[1]} points per frame but layout {lay.name} has {lay.num_joints}"
        )
    joints = joints.astype(np.float64)
    if np.isinf(joints).any():
        frame, joint = np.argwhere(np.isinf(joints))[0][:2]
        raise InputError(f"{path}: infinite coordinate at frame {frame}, joint {joint} ({lay.joints[joint]})")
    nan = np.isnan(joints)
    if nan.any():
        frame, joint = np.argwhere(nan)[0][:2]
        if not allow_missing:
            raise InputError(
                f"{path}: NaN coordinates in {int(nan.any(axis=2).sum())} joint positions, first at frame {frame}, "
                f"joint {joint} ({lay.joints[joint]}); pass --allow-missing to score them as not observed"
            )
        if nan.all():
            raise InputError(f"{path}: every coordinate is NaN; nothing to score")
    points = to_canonical(joints, lay)
    trunk = np.linalg.norm(points["neck"] - points["pelvis"], axis=-1)
    if np.isfinite(trunk).any() and np.nanmedian(trunk) > _MAX_TRUNK_M:
        raise InputError(
            f"{path}: pelvis-to-neck distance is {np.nanmedian(trunk):.1f} units; coordinates must be in metres"
        )
    return PoseSequence(joints=joints, layout=lay, up=up_vec, fps=float(fps))
