"""UI-PRMD segmented repetitions (Kinect or Vicon), rebuilt from parent-relative offsets and mapped to kinect25.

Correct repetitions get quality 1, incorrect ones 0. The forward kinematics (`uiprmd_absolute`, `euler_matrices`)
follow the UI-PRMD authors' visualiser (the published positions are offsets in each parent's local frame; its Euler
convention and chain) with one difference: the visualiser turns the collars' offsets, and so both arms, by the
chest's own rotation only, leaving out the waist's and spine's; here every offset is turned by its parent's whole
chain, as a hierarchy is meant. On a real Kinect frame with the trunk near upright the two agree to 0.01 cm for the
trunk, head and legs and differ by 3-5 cm at the wrists; the difference grows with the trunk's rotation.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edge.datasets.loaders.readers import PathLike, numeric_rows
from edge.datasets.sequence import Sequence
from edge.errors import InputError
from edge.skeletons import get_layout, parse_up

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
        relative = numeric_rows(path, "UI-PRMD positions (22 joints x 3)", 66)
        meta = {"source": "ui_prmd", "modality": modality, "movement": f"m{movement}", "subject": f"s{subject}",
                "repetition": f"e{repetition}", "pose_path": str(path)}
        angles = None
        if use_angles:
            candidates = _angles_partner(path)
            angle_path = next((c for c in candidates if c.is_file()), None)
            if angle_path is None:
                raise InputError(f"missing UI-PRMD angles file for {path.name}: {candidates[0]}")
            angles = numeric_rows(angle_path, "UI-PRMD angles (22 joints x 3)", 66)
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
