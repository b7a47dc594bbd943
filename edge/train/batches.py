"""From sequences to the batch dict of edge/models/base.py: normalised items, training windows, padded batches.

An `Item` is one sequence (or a window of one) as arrays a model reads: joints normalised by edge.train.normalise,
box-normalised 2D keypoints, class ids in the model's class order, REBA total and partials (NaN where unknown), the
exercise quality (NaN where unknown). `collate` pads items to the longest one at the end (a causal model's real
frames never see the padding) and says in `mask` which frames are real; joints not seen become 0 (the root).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import torch

from edge.datasets.augment import random_augment
from edge.datasets.sequence import UNKNOWN_ACTIVITY, Sequence
from edge.errors import InputError
from edge.models.base import DataSpec
from edge.train.config import DataConfig, NormConfig
from edge.train.data import REBA_TOTAL, group_key
from edge.train.normalise import normalise_joints, normalise_keypoints


@dataclass(frozen=True, eq=False)
class Item:
    name: str  # the sequence's id (video, recording or file), with the window's first frame for a window
    key: str  # its split group (edge.train.data.group_key)
    activity: np.ndarray  # (T,) int64, -1 unlabelled
    reba: np.ndarray  # (T,) float32, NaN unknown
    partials: np.ndarray  # (T, P) float32, NaN unknown
    quality: float  # NaN unknown
    scale: float  # the body scale the joints were divided by (metres)
    joints: np.ndarray | None = None  # (T, J, 3) float32, NaN where not seen
    keypoints2d: np.ndarray | None = None  # (T, J, 3) float32

    @property
    def num_frames(self) -> int:
        return len(self.activity)


def sequence_name(seq: Sequence) -> str:
    meta = seq.metadata
    return str(next((meta[k] for k in ("video", "recording", "pose_path", "subject") if k in meta), "sequence"))


def make_item(seq: Sequence, spec: DataSpec, norm: NormConfig) -> Item:
    """`seq` (already at the spec's frame rate and layout, classes in the spec's order) as model arrays."""
    n, name = seq.num_frames, sequence_name(seq)
    joints, scale = (None, 1.0)
    if seq.joints is not None:
        joints, scale = normalise_joints(seq.joints, seq.up, seq.layout, norm, what=name)
    keypoints = None if seq.keypoints2d is None else normalise_keypoints(seq.keypoints2d)
    activity = (np.full(n, UNKNOWN_ACTIVITY, np.int64) if seq.activity is None
                else np.asarray(seq.activity, dtype=np.int64))
    nan = np.full(n, np.nan, np.float32)
    reba = np.asarray(seq.targets.get(REBA_TOTAL, nan), dtype=np.float32)
    # A partial the model predicts but this data lacks (another data set at evaluation) is unknown.
    partials = np.stack([np.asarray(seq.targets.get(p, nan), np.float32) for p in spec.partials], axis=1) \
        if spec.partials else np.zeros((n, 0), np.float32)
    quality = float("nan") if seq.quality is None else float(seq.quality)
    return Item(name=name, key=group_key(seq), activity=activity, reba=reba, partials=partials, quality=quality,
                scale=scale, joints=joints, keypoints2d=keypoints)


def crop(item: Item, start: int, stop: int) -> Item:
    cut = lambda a: None if a is None else a[start:stop]
    return replace(item, name=f"{item.name}@{start}", activity=item.activity[start:stop], reba=item.reba[start:stop],
                   partials=item.partials[start:stop], joints=cut(item.joints), keypoints2d=cut(item.keypoints2d))


def unscored_edges(item: Item, before: int, after: int) -> Item:
    """`item` with its first `before` and last `after` frames (>= 0) kept as input and taken out of every loss
    (unlabelled, unknown)."""
    if before == 0 and after == 0:
        return item
    activity, reba, partials = item.activity.copy(), item.reba.copy(), item.partials.copy()
    for edge in (slice(0, before), slice(item.num_frames - after, item.num_frames)):
        activity[edge], reba[edge], partials[edge] = UNKNOWN_ACTIVITY, np.nan, np.nan
    return replace(item, activity=activity, reba=reba, partials=partials)


def window_starts(frames: int, length: int, stride: int, offset: int = 0) -> list[int]:
    """First frames of windows of `length` every `stride` from `offset`, plus one ending at the last frame; a
    sequence no longer than a window is one window from 0."""
    if frames <= length:
        return [0]
    starts = list(range(min(offset, frames - length), frames - length + 1, stride))
    if starts[-1] != frames - length:
        starts.append(frames - length)
    return starts


def training_items(seqs: list[Sequence], spec: DataSpec, config: DataConfig, whole: bool,
                   rng: np.random.Generator, cache: list[Item] | None = None) -> list[Item]:
    """One epoch's training items: each sequence, augmented when `config.augment` says (one draw per sequence
    from `rng`), cut into windows at a random offset below the stride (whole sequences with `whole` or
    window_s = 0). `cache`: the items of `seqs` unaugmented, made once."""
    if config.augment is None and cache is not None:
        items = cache
    else:
        items = [make_item(random_augment(s, rng, config.augment) if config.augment else s, spec, config.norm)
                 for s in seqs]
    if whole or config.window_s == 0:
        return list(items)
    length = max(1, round(config.window_s * config.fps))
    stride = max(1, round(config.stride_s * config.fps))
    before, after = round(config.context_s * config.fps), round(config.context_after_s * config.fps)
    out = []
    for item in items:
        offset = int(rng.integers(stride))
        for s in window_starts(item.num_frames, length, stride, offset):
            end = min(s + length, item.num_frames)
            first, last = max(0, s - before), min(item.num_frames, end + after)
            out.append(unscored_edges(crop(item, first, last), s - first, last - end))
    return out


def items_digest(items: list[Item]) -> str:
    """A short hash of which windows these are (for checking what each training process saw)."""
    return hashlib.sha256("\n".join(i.name for i in items).encode()).hexdigest()[:16]


def collate(items: list[Item]) -> dict:
    """The batch dict of edge/models/base.py: every item padded at the end to the longest, `mask` marking real
    frames; joints and keypoints2d are present when every item has them."""
    if not items:
        raise InputError("an empty batch")
    b, t = len(items), max(i.num_frames for i in items)
    p = items[0].partials.shape[1]
    mask = np.zeros((b, t), bool)
    activity = np.full((b, t), UNKNOWN_ACTIVITY, np.int64)
    reba = np.full((b, t), np.nan, np.float32)
    partials = np.full((b, t, p), np.nan, np.float32)
    for k, item in enumerate(items):
        n = item.num_frames
        mask[k, :n] = True
        activity[k, :n], reba[k, :n], partials[k, :n] = item.activity, item.reba, item.partials
    batch = {"mask": torch.from_numpy(mask), "activity": torch.from_numpy(activity), "reba": torch.from_numpy(reba),
             "reba_partials": torch.from_numpy(partials),
             "quality": torch.tensor([i.quality for i in items], dtype=torch.float32)}
    for name in ("joints", "keypoints2d"):
        arrays = [getattr(i, name) for i in items]
        if all(a is not None for a in arrays):
            out = np.zeros((b, t) + arrays[0].shape[1:], np.float32)
            for k, a in enumerate(arrays):
                out[k, :len(a)] = np.nan_to_num(a, nan=0.0)
            batch[name] = torch.from_numpy(out)
    return batch
