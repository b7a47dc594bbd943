"""Steadier triangulated skeletons: temporal smoothing with a short look-ahead, and limb lengths held to each
person's own, estimated robustly and enforced softly.

`SkeletonFilter(layout, config).update(time_s, joints)` takes one frame of 3D joints (J, 3) and returns the frame
`lookahead` frames back, smoothed over `lookahead` frames either side, or None while the first frames fill the
window; `flush()` returns the frames still held at the end. Latency: `lookahead` frames (3 at 60 fps = 50 ms);
`lookahead = 0` is causal with no smoothing (bone lengths only): a trailing filter would lag fast motion.

Bone lengths: each limb bone's length is the median over the frames seen so far (causal; the last `history`
frames, re-estimated every `min_frames`) once `min_frames` have been seen, or the lengths given (e.g. the median
over a whole recording, `bone_lengths`). Each child joint is then moved along its bone so that the bone's length
moves `stiffness` of the way to that length, and everything further down the limb moves with it (an arm whose
upper arm shortened keeps its forearm and hand). The trunk (shoulders, hips) and the head are left as
triangulated: their spacing is not a rigid bone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.signals import seen_median
from edge.skeletons import get_layout

# Limb chains by landmark name: (parent, child), parents first, so corrections flow outward.
_CHAINS = (
    ("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "pinky"), ("wrist", "index"), ("wrist", "thumb"),
    ("wrist", "hand"), ("hip", "knee"), ("knee", "ankle"), ("ankle", "heel"), ("ankle", "toe"),
)


@dataclass(frozen=True)
class SkeletonFilterConfig:
    lookahead: int = 3  # frames of delay; the window is 2 * lookahead + 1 frames (lookahead + 1 when 0)
    sigma_frames: float = 1.5  # Gaussian weights over the window
    stiffness: float = 0.8  # share of a bone's length error removed each frame (0 = off, 1 = rigid)
    min_frames: int = 15  # frames seen before the causal length estimate is used
    history: int = 3600  # frames the causal length estimate looks back over (a minute at 60 fps)

    def __post_init__(self) -> None:
        check_number(self.lookahead, "lookahead", integer=True, minimum=0, maximum=60)
        check_number(self.sigma_frames, "sigma_frames", positive=True, maximum=60)
        check_number(self.stiffness, "stiffness", minimum=0.0, maximum=1.0)
        check_number(self.min_frames, "min_frames", integer=True, minimum=1, maximum=100_000)
        check_number(self.history, "history", integer=True, minimum=1, maximum=1_000_000)


def limb_bones(layout: str) -> list[tuple[int, int]]:
    """The layout's limb bones (parent, child index) in the order corrections are applied."""
    lay = get_layout(layout)
    bones = []
    for side in ("left", "right"):
        for parent, child in _CHAINS:
            a, b = f"{side}_{parent}", f"{side}_{child}"
            if a in lay.joints and b in lay.joints:
                bones.append((lay.index(a), lay.index(b)))
    return bones


def _descendants(bones: list[tuple[int, int]]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for parent, child in bones:
        children.setdefault(parent, []).append(child)
    out: dict[int, list[int]] = {}
    for _, child in bones:
        stack, seen = [child], []
        while stack:
            j = stack.pop()
            seen.append(j)
            stack.extend(children.get(j, []))
        out[child] = seen
    return out


def bone_lengths(joints: np.ndarray, layout: str) -> np.ndarray:
    """Each limb bone's median length over a recording (T, J, 3), NaN frames ignored: a robust estimate."""
    joints = np.asarray(joints, dtype=np.float64)
    bones = limb_bones(layout)
    lengths = np.stack([np.linalg.norm(joints[:, b] - joints[:, a], axis=-1) for a, b in bones], axis=1)
    return seen_median(lengths)


def enforce_lengths(joints: np.ndarray, bones, lengths: np.ndarray, stiffness: float, below=None) -> np.ndarray:
    """One frame's joints (J, 3) with each bone moved `stiffness` of the way to its length (see module)."""
    out = np.array(joints, dtype=np.float64)
    below = below or _descendants(bones)
    for (parent, child), target in zip(bones, lengths):
        v = out[child] - out[parent]
        length = float(np.linalg.norm(v))
        if not (np.isfinite(length) and length > 1e-9 and np.isfinite(target)):
            continue
        shift = v / length * (stiffness * (target - length))
        out[below[child]] += shift
    return out


class SkeletonFilter:
    """Per person: smoothing with `lookahead` frames of delay, then soft limb lengths (see the module)."""

    def __init__(self, layout: str, config: SkeletonFilterConfig = SkeletonFilterConfig(),
                 lengths: np.ndarray | None = None):
        self.config = config
        self.bones = limb_bones(layout)
        self._below = _descendants(self.bones)
        self._fixed = None if lengths is None else np.asarray(lengths, dtype=np.float64)
        if self._fixed is not None and self._fixed.shape != (len(self.bones),):
            raise InputError(f"expected {len(self.bones)} bone lengths for {layout}, got {self._fixed.shape}")
        self.num_joints = get_layout(layout).num_joints
        self._window: deque[tuple[float, np.ndarray]] = deque(maxlen=2 * config.lookahead + 1)
        self._pending = 0  # frames received but not yet returned
        self._seen: deque[np.ndarray] = deque(maxlen=config.history)
        self._count = 0
        self._estimate: np.ndarray | None = None

    def lengths(self) -> np.ndarray | None:
        """The bone lengths enforced now (given, or the causal estimate), None before there is one."""
        if self._fixed is not None:
            return self._fixed
        if len(self._seen) < self.config.min_frames:
            return None
        if self._estimate is None or self._count % self.config.min_frames == 0:
            self._estimate = seen_median(np.stack(self._seen))
        return self._estimate

    def update(self, time_s: float, joints: np.ndarray) -> tuple[float, np.ndarray] | None:
        """Add a frame; returns (time, joints) of the frame `lookahead` back once it can be smoothed."""
        joints = np.asarray(joints, dtype=np.float64)
        if joints.shape != (self.num_joints, 3):
            raise InputError(f"expected joints ({self.num_joints}, 3), got {joints.shape}")
        self._seen.append(np.array([np.linalg.norm(joints[b] - joints[a]) for a, b in self.bones]))
        self._count += 1
        self._window.append((float(time_s), joints))
        self._pending += 1
        if self._pending <= self.config.lookahead:
            return None
        return self._emit(len(self._window) - 1 - self.config.lookahead)

    def flush(self) -> list[tuple[float, np.ndarray]]:
        """The frames still held back (the last `lookahead`), smoothed over what there is."""
        out = []
        while self._pending > 0:
            out.append(self._emit(len(self._window) - self._pending))
        return out

    def _emit(self, centre: int) -> tuple[float, np.ndarray]:
        self._pending -= 1
        k = self.config.lookahead
        idx = [i for i in range(centre - k, centre + k + 1) if 0 <= i < len(self._window)]
        w = np.exp(-0.5 * ((np.array(idx) - centre) / self.config.sigma_frames) ** 2)
        stack = np.stack([self._window[i][1] for i in idx])
        ok = np.isfinite(stack).all(axis=2)
        weights = w[:, None] * ok
        total = weights.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = (np.nan_to_num(stack) * weights[..., None]).sum(axis=0) / total[:, None]
        # A joint missing in the frame itself stays missing: smoothing fills no gaps.
        smooth[~ok[idx.index(centre)]] = np.nan
        lengths = self.lengths()
        if lengths is not None and self.config.stiffness > 0:
            smooth = enforce_lengths(smooth, self.bones, lengths, self.config.stiffness, self._below)
        return self._window[centre][0], smooth


def filter_sequence(joints: np.ndarray, times: np.ndarray, layout: str,
                    config: SkeletonFilterConfig = SkeletonFilterConfig(), whole_clip_lengths: bool = False
                    ) -> np.ndarray:
    """A recording (T, J, 3) through `SkeletonFilter` frame by frame, as a live run would; with
    `whole_clip_lengths` the bone lengths are the whole recording's medians (offline) instead of causal."""
    joints = np.asarray(joints, dtype=np.float64)
    lengths = bone_lengths(joints, layout) if whole_clip_lengths else None
    filt = SkeletonFilter(layout, config, lengths)
    out = []
    for t, frame in zip(times, joints):
        got = filt.update(float(t), frame)
        if got is not None:
            out.append(got[1])
    out.extend(j for _, j in filt.flush())
    return np.stack(out) if out else np.zeros((0,) + joints.shape[1:])


__all__ = ["SkeletonFilter", "SkeletonFilterConfig", "bone_lengths", "enforce_lengths", "filter_sequence",
           "limb_bones"]
