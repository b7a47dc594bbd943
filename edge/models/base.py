"""What every model of the registry takes and gives, so that one training loop, one evaluation and one exporter
serve them all.

A batch is a dict of tensors over B sequences of T frames (padded; `mask` says which frames are real):

    joints       (B, T, J, 3) float32  3D joints, normalised by `edge.train.data` (root-relative, unit body scale)
    keypoints2d  (B, T, J, 3) float32  image x, y (normalised to the person box) and confidence
    mask         (B, T) bool           real frames
    activity     (B, T) int64          class index, -1 where unlabelled
    reba         (B, T) float32        REBA total, NaN where unknown
    reba_partials (B, T, P) float32    the partial scores named by `DataSpec.partials`, NaN where unknown
    quality      (B,) float32          exercise quality score (KIMORE, UI-PRMD), NaN where unknown
    orientations (B, T, J, 4) float32  proposed, optional: joint orientations as unit quaternions (w, x, y, z),
                                       rotated with `joints` (KIMORE gives quaternions, UI-PRMD Euler angles);
                                       0 where unseen. No loader fills it yet (`d2sta_aqa` reads it on request)

A model returns a dict with the outputs its task has:

    activity_logits  (B, T, C)          per-frame class scores (the last stage of a multi-stage model)
    activity_stages  list of (B, T, C)  every stage, for multi-stage losses (optional)
    reba             (B, T)             REBA total
    reba_partials    (B, T, P)          partial scores
    quality          (B,)               exercise quality
    joints3d         (B, T, J, 3)       lifted 3D joints (`lifter_2d3d`)

and names the batch entries inference reads (`input_keys() -> tuple[str, ...]`, the inputs of its exported graph),
and computes its own training loss from them (`loss(outputs, batch) -> (scalar tensor, {name: float})`), ignoring
masked frames, unlabelled classes and NaN targets. Every model is built by its registry entry from a frozen config
dataclass whose `data` field is the `DataSpec` of the data it is trained on, so a checkpoint rebuilds its model
from the config alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The REBA partial scores a model predicts when the data carries them, in this order (the targets the offline
# scorer writes: edge/scoring/methods.py).
REBA_PARTIALS = ("reba_neck", "reba_trunk", "reba_legs", "reba_upper_arm_left", "reba_upper_arm_right",
                 "reba_lower_arm_left", "reba_lower_arm_right", "reba_wrist_left", "reba_wrist_right")


@dataclass(frozen=True)
class DataSpec:
    """What a model is trained on: the skeleton layout, the class names (their order is the class index), the REBA
    partials predicted, and the frame rate the data was resampled to."""

    layout: str = "uwiom15"
    classes: tuple[str, ...] = ()
    partials: tuple[str, ...] = field(default_factory=lambda: REBA_PARTIALS)
    fps: float = 10.0

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def masked_mean(values, mask):
    """Mean of `values` (B, T, ...) over the frames where `mask` (B, T) is true and the value is not NaN; 0 when
    there are none (a batch without that target contributes nothing)."""
    import torch

    keep = mask.reshape(mask.shape + (1,) * (values.dim() - mask.dim())).expand_as(values) & ~torch.isnan(values)
    total = torch.where(keep, values, torch.zeros_like(values)).sum()
    return total / keep.sum().clamp(min=1)
