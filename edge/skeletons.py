"""Skeleton layouts, defined once as data, and their mapping to the canonical ergonomic skeleton.

Every layout names its joints with one shared landmark vocabulary (``left_shoulder``, ``pelvis``, ``head``...), so
left/right swaps and the mapping to the canonical skeleton follow from the names. The canonical ergonomic skeleton
(`CANONICAL_POINTS`) is what kinematics and inverse dynamics read; each canonical point is taken from the first
rule in `CANONICAL_RULES` whose landmarks the layout has (the mean of those landmarks). A canonical point that no
rule can build for a layout is absent, and everything that depends on it is reported as unknown.

Coordinates are metres; the up direction is always given explicitly (`parse_up`), never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError


@dataclass(frozen=True)
class Layout:
    """A keypoint layout: joint names (shared landmark vocabulary) and bones as index pairs."""

    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    description: str = ""

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, landmark: str) -> int:
        return self.joints.index(landmark)

    @property
    def mirror_pairs(self) -> tuple[tuple[int, int], ...]:
        """Index pairs (left, right) that swap under a mirror."""
        pairs = []
        for i, name in enumerate(self.joints):
            if name.startswith("left_"):
                other = "right_" + name[len("left_"):]
                if other in self.joints:
                    pairs.append((i, self.joints.index(other)))
        return tuple(pairs)

    @property
    def mirror_permutation(self) -> np.ndarray:
        """Permutation that swaps left and right joints (apply as ``joints[:, perm]``)."""
        perm = np.arange(self.num_joints)
        for left, right in self.mirror_pairs:
            perm[left], perm[right] = right, left
        return perm


def _edges(joints: tuple[str, ...], named: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((joints.index(a), joints.index(b)) for a, b in named)


def _sided(*parts: str) -> list[str]:
    return [f"{side}_{p}" for p in parts for side in ("left", "right")]


_LIMB_BONES = [
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
]

_BLAZEPOSE = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_toe", "right_toe",
)
_COCO = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
# Human3.6M 17-joint order; joint 8 "Thorax" is our neck base, joint 9 "Neck/Nose" our nose, joint 10 the head.
_H36M = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine_mid",
    "neck", "nose", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow",
    "right_wrist",
)
# UW-IOM joint order as the MTL-ERA release stores it.
_UWIOM = (
    "right_ankle", "left_ankle", "right_knee", "left_knee", "right_hip", "left_hip", "right_wrist", "left_wrist",
    "right_elbow", "left_elbow", "right_shoulder", "left_shoulder", "neck", "head", "spine_mid",
)
# Kinect v2 order; SpineShoulder (20) is our neck base, Kinect's own "Neck" (2) sits higher: upper_neck.
_KINECT = (
    "pelvis", "spine_mid", "upper_neck", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_toe", "neck", "left_hand_tip", "left_thumb", "right_hand_tip",
    "right_thumb",
)

LAYOUTS: dict[str, Layout] = {
    "blazepose33": Layout(
        "blazepose33", _BLAZEPOSE,
        _edges(_BLAZEPOSE, _LIMB_BONES + [
            ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
            ("right_shoulder", "right_hip"), ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"),
            ("left_eye", "left_eye_outer"), ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"),
            ("right_eye_inner", "right_eye"), ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"),
            ("mouth_left", "mouth_right"), ("left_wrist", "left_pinky"), ("left_wrist", "left_index"),
            ("left_pinky", "left_index"), ("left_wrist", "left_thumb"), ("right_wrist", "right_pinky"),
            ("right_wrist", "right_index"), ("right_pinky", "right_index"), ("right_wrist", "right_thumb"),
            ("left_ankle", "left_heel"), ("left_heel", "left_toe"), ("left_ankle", "left_toe"),
            ("right_ankle", "right_heel"), ("right_heel", "right_toe"), ("right_ankle", "right_toe"),
        ]),
        "MediaPipe BlazePose, 33 landmarks",
    ),
    "coco17": Layout(
        "coco17", _COCO,
        _edges(_COCO, _LIMB_BONES + [
            ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
            ("right_shoulder", "right_hip"), ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
            ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
        ]),
        "COCO keypoints, 17 joints",
    ),
    "h36m17": Layout(
        "h36m17", _H36M,
        _edges(_H36M, _LIMB_BONES + [
            ("pelvis", "left_hip"), ("pelvis", "right_hip"), ("pelvis", "spine_mid"), ("spine_mid", "neck"),
            ("neck", "nose"), ("nose", "head"), ("neck", "left_shoulder"), ("neck", "right_shoulder"),
        ]),
        "Human3.6M, 17 joints",
    ),
    "uwiom15": Layout(
        "uwiom15", _UWIOM,
        _edges(_UWIOM, _LIMB_BONES + [
            ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"), ("neck", "head"),
            ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("spine_mid", "left_hip"),
            ("spine_mid", "right_hip"), ("spine_mid", "neck"),
        ]),
        "UW-IOM (MTL-ERA release), 15 joints, z up",
    ),
    "kinect25": Layout(
        "kinect25", _KINECT,
        _edges(_KINECT, _LIMB_BONES + [
            ("pelvis", "spine_mid"), ("spine_mid", "neck"), ("neck", "upper_neck"), ("upper_neck", "head"),
            ("neck", "left_shoulder"), ("neck", "right_shoulder"), ("pelvis", "left_hip"), ("pelvis", "right_hip"),
            ("left_wrist", "left_hand"), ("left_hand", "left_hand_tip"), ("left_wrist", "left_thumb"),
            ("right_wrist", "right_hand"), ("right_hand", "right_hand_tip"), ("right_wrist", "right_thumb"),
            ("left_ankle", "left_toe"), ("right_ankle", "right_toe"),
        ]),
        "Microsoft Kinect v2, 25 joints",
    ),
}

# The canonical ergonomic skeleton: what kinematics and inverse dynamics read.
# For each point, alternatives in order of preference; an alternative is a tuple of landmarks whose mean is taken.
CANONICAL_RULES: dict[str, tuple[tuple[str, ...], ...]] = {
    "pelvis": (("pelvis",), ("left_hip", "right_hip")),
    "neck": (("neck",), ("left_shoulder", "right_shoulder")),
    # Head centre: mid-ears sit near the head's centre of mass; a layout's own head joint otherwise.
    "head": (("left_ear", "right_ear"), ("head",)),
    "nose": (("nose",),),
    **{p: ((p,),) for p in _sided("hip", "knee", "ankle", "shoulder", "elbow", "wrist", "ear")},
    # Hand centre (knuckles): BlazePose has index and pinky tips of the palm, Kinect a hand joint.
    "left_hand": (("left_index", "left_pinky"), ("left_hand",)),
    "right_hand": (("right_index", "right_pinky"), ("right_hand",)),
    # Hand's radial and ulnar edges give the hand plane (wrist deviation).
    **{p: ((p,),) for p in _sided("index", "pinky")},
}
CANONICAL_POINTS: tuple[str, ...] = tuple(CANONICAL_RULES)


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise InputError(f"unknown layout {name!r}; choose one of: {', '.join(LAYOUTS)}") from None


def canonical_sources(layout: Layout) -> dict[str, tuple[int, ...]]:
    """For each canonical point the layout can provide, the joint indices whose mean gives it."""
    out: dict[str, tuple[int, ...]] = {}
    for point, alternatives in CANONICAL_RULES.items():
        for alt in alternatives:
            if all(name in layout.joints for name in alt):
                out[point] = tuple(layout.index(name) for name in alt)
                break
    return out


def neck_is_derived(layout: Layout) -> bool:
    """True when the layout has no neck joint of its own and the neck is the mid-shoulder point."""
    return "neck" not in layout.joints


def to_canonical(joints: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Map (T, J, 3) joints of `layout` to canonical points, each (T, 3). NaN marks a joint not seen in a frame."""
    joints = np.asarray(joints, dtype=np.float64)
    return {
        point: joints[:, idx[0], :] if len(idx) == 1 else joints[:, list(idx), :].mean(axis=1)
        for point, idx in canonical_sources(layout).items()
    }


_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def parse_up(spec: str | tuple | list | np.ndarray) -> np.ndarray:
    """The up vector from `z`, `-y`, `+x` or three numbers (`0,0,1` or a sequence); returned as a unit vector."""
    if isinstance(spec, str):
        text = spec.strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        axis = text.lstrip("+-")
        if axis in _AXES:
            return sign * np.asarray(_AXES[axis])
        parts = [p for p in text.replace(",", " ").split() if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 3:
            raise InputError(f"bad up vector {spec!r}: use x, y, z with an optional sign, or three numbers like 0,0,1")
        vec = np.asarray(values, dtype=np.float64)
    else:
        vec = np.asarray(spec, dtype=np.float64).reshape(-1)
        if vec.shape != (3,):
            raise InputError(f"bad up vector {spec!r}: need 3 components")
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm < 1e-9:
        raise InputError(f"bad up vector {spec!r}: it must be finite and non-zero")
    return vec / norm
