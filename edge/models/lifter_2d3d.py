"""`lifter_2d3d`: temporal 2D -> 3D lifting of one person's keypoints (COCO-17 by default), for pose models that
give only 2D. The learned replacement for the image-plane stand-in of `edge.pose.lifting`.

Input: `keypoints2d` (B, T, J, 3) as `edge.train.normalise.normalise_keypoints` makes them: x, y in the person's
box (centre 0, longer side 1) and the confidence; keypoints below `min_confidence` (and NaN) are zeroed here, so
that the device and training treat a doubtful keypoint alike: as not seen.

Network: a dilated temporal convolution network over the frames (the idea of VideoPose3D, Pavllo et al., CVPR
2019, made causal for the device):

    1x1 conv (J*3 -> channels) -> `layers` causal residual layers -> 1x1 conv (channels -> J*3)
    residual layer l: x + conv1x1(relu(causal conv, kernel `kernel`, dilation dilation_base^l (x)))

(`edge.models.edge_stream.CausalResidual`, so both device models stream the same way). The causal network sees
`receptive_field` = 1 + (kernel-1)(dilation_base^layers - 1)/(dilation_base - 1) frames. With `lookahead` L > 0 its
output is read L frames late: the output for frame t sees frames up to t+L (and the sequence is padded with L
unseen frames at its end), at the cost of L frames of latency on the device.

Output: `joints3d` (B, T, J, 3), root-relative (the pelvis, the mid-hip for COCO, is subtracted from the network's
output, so it is exactly at the origin), z up, in body-scale units: the normalisation of 3D joints in
`edge.train.normalise` (trunk plus leg length = 1, about 0.78 of stature). `body_scale_m` times them is metres for a
person of average size, since a 2D view cannot tell a person's size.

Heading: the targets' horizontal heading is the world's, which keypoints seen by a camera at an unknown azimuth
cannot show. With `align_yaw` the loss first turns each sequence's prediction about z by the angle that best fits its
target (least squares, closed form, one angle per sequence: the camera is fixed in a recording), so the model
learns a heading of its own (in practice the camera's) and is judged on the pose, its pitch and its turning within
the sequence. Scoring (`edge.pose.lifting` with up = z) does not depend on the heading.

Loss: MPJPE (mean Euclidean joint error) over real frames and seen joints (a target that is NaN, or exactly 0 in x,
y and z: how `edge.train.batches.collate` writes a joint not seen), plus `bone_weight` times the bone-length
consistency: the mean absolute deviation of each predicted bone's length from its mean over the sequence's real
frames (a body does not change size).

Streaming: `initial_state`, then `step(state, keypoints)` per frame; its output equals `forward`'s at frame
n-1-L after the n-th step (give L unseen, all-zero frames at the end to flush). The state is a flat tuple of tensors
and `step` uses tensor operations only, so it traces to ONNX with explicit state inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError
from edge.models.base import DataSpec, masked_mean
from edge.models.edge_stream import CausalResidual

# The body scale (trunk plus leg, metres) of a 1.7 m person: the NormConfig's 0.78 of stature.
_AVERAGE_BODY_SCALE_M = 0.78 * 1.7


@dataclass(frozen=True)
class Lifter2d3dConfig:
    """Sizes, inputs and loss of `lifter_2d3d` (defaults: 27 frames seen, causal, about 0.2 M parameters).

    data: what it is trained on; its layout gives the joints (COCO-17 by default).
    channels: feature channels; layers: residual layers; kernel: taps of each temporal conv; dilation_base: layer l
      dilates by dilation_base^l (3 as in VideoPose3D: kernel 3 then covers every frame exactly once).
    lookahead: future frames each output may see (0: causal, no latency).
    dropout: inside the residual layers; keypoint_dropout: chance that a keypoint is hidden (zeroed) in training,
      so that the model learns to fill in occluded joints.
    min_confidence: keypoints below this confidence count as not seen (`edge.pose.lifting` uses 0.3 too).
    align_yaw: fit each sequence's heading about z before the error (module doc); False for targets already in a
      camera-heading frame.
    bone_weight: weight of the bone-length consistency term (0: off).
    body_scale_m: metres per output unit for `to_metres` when the person's own body scale is unknown.
    """

    data: DataSpec = DataSpec(layout="coco17")
    channels: int = 128
    layers: int = 3
    kernel: int = 3
    dilation_base: int = 3
    lookahead: int = 0
    dropout: float = 0.1
    keypoint_dropout: float = 0.05
    min_confidence: float = 0.3
    align_yaw: bool = True
    bone_weight: float = 0.1
    body_scale_m: float = _AVERAGE_BODY_SCALE_M

    def __post_init__(self):
        for name, least in (("channels", 1), ("layers", 1), ("kernel", 2), ("dilation_base", 2)):
            if getattr(self, name) < least:
                raise InputError(f"model.{name} must be >= {least}, got {getattr(self, name)}")
        if not 0 <= self.lookahead < self.receptive_field:
            raise InputError(f"model.lookahead must be in [0, {self.receptive_field - 1}] (the receptive field "
                             f"minus the current frame), got {self.lookahead}")
        for name in ("dropout", "keypoint_dropout", "min_confidence"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InputError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.bone_weight < 0 or not self.body_scale_m > 0:
            raise InputError("model.bone_weight must be >= 0 and model.body_scale_m > 0")

    @property
    def dilations(self) -> tuple[int, ...]:
        return tuple(self.dilation_base ** i for i in range(self.layers))

    @property
    def receptive_field(self) -> int:
        """Frames each output sees: the current one, `lookahead` after it and the rest before it."""
        return 1 + (self.kernel - 1) * sum(self.dilations)


class Lifter2d3d(nn.Module):
    """The module `build` returns: `forward(batch)`, `initial_state(batch)`, `step(state, keypoints)`, `loss`."""

    def __init__(self, config: Lifter2d3dConfig):
        super().__init__()
        from edge.skeletons import canonical_sources, get_layout

        self.config = config
        layout = get_layout(config.data.layout)
        sources = canonical_sources(layout)
        if "pelvis" not in sources:
            raise InputError(f"lifter_2d3d needs a pelvis or both hips for its root; {layout.name} has neither")
        self.num_joints = layout.num_joints
        self.root = list(sources["pelvis"])
        self.bones = [list(side) for side in zip(*layout.edges)] if layout.edges else [[], []]
        dim = self.num_joints * 3
        self.inp = nn.Conv1d(dim, config.channels, 1)
        self.layers = nn.ModuleList(CausalResidual(config.channels, config.kernel, d, config.dropout)
                                    for d in config.dilations)
        self.head = nn.Conv1d(config.channels, dim, 1)

    # -- whole sequences ---------------------------------------------------------------------------------------------

    def inputs(self, keypoints):
        """(..., J, 3) box-normalised keypoints -> (..., J*3) with NaN and low-confidence keypoints zeroed, and in
        training a random `keypoint_dropout` of them hidden."""
        kp = torch.where(torch.isnan(keypoints), torch.zeros_like(keypoints), keypoints)
        keep = (kp[..., 2:3] >= self.config.min_confidence).to(kp.dtype)
        if self.training and self.config.keypoint_dropout > 0:
            keep = keep * (torch.rand_like(keep) >= self.config.keypoint_dropout).to(kp.dtype)
        return (kp * keep).flatten(-2)

    def _to_joints(self, out):
        """(B, J*3, T) network output -> (B, T, J, 3) with the root at the origin."""
        joints = out.transpose(1, 2).unflatten(2, (self.num_joints, 3))
        return joints - joints[:, :, self.root].mean(dim=2, keepdim=True)

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs)."""
        return ("keypoints2d", "mask")

    def forward(self, batch: dict) -> dict:
        x = self.inputs(batch["keypoints2d"])  # (B, T, J*3)
        if "mask" in batch:  # padded frames look unseen whatever they hold, as the end-of-sequence padding does
            x = x * batch["mask"].unsqueeze(2).to(x.dtype)
        look = self.config.lookahead
        h = self.inp(F.pad(x.transpose(1, 2), (0, look)))
        for layer in self.layers:
            h = layer(h)
        return {"joints3d": self._to_joints(self.head(h)[:, :, look:])}

    # -- one frame at a time -----------------------------------------------------------------------------------------

    def initial_state(self, batch: int) -> tuple:
        """Zeros before a sequence's first frame, for `batch` streams: each layer's input history (B, channels,
        (kernel-1)*dilation), the zeros `forward` pads with."""
        p = next(self.parameters())
        return tuple(p.new_zeros(batch, self.config.channels, layer.history) for layer in self.layers)

    def step(self, state: tuple, keypoints) -> tuple[dict, tuple]:
        """One new frame `keypoints` (B, J, 3) per stream -> ({"joints3d": (B, J, 3)} of the frame `lookahead`
        steps back, the new state). Equals `forward` at that frame (in eval mode)."""
        h = self.inp(self.inputs(keypoints).unsqueeze(2))  # (B, F, 1): one frame as a length-1 sequence
        new = []
        for layer, past in zip(self.layers, state):
            h, past = layer.step(h, past)
            new.append(past)
        return {"joints3d": self._to_joints(self.head(h))[:, 0]}, tuple(new)

    def to_metres(self, joints3d, body_scale_m: float | None = None):
        """Outputs in metres, with the person's body scale when known, else `config.body_scale_m`."""
        return joints3d * (self.config.body_scale_m if body_scale_m is None else body_scale_m)

    # -- training ----------------------------------------------------------------------------------------------------

    def loss(self, outputs: dict, batch: dict):
        """MPJPE over real frames and seen joints (yaw-aligned per sequence with `align_yaw`), plus the weighted
        bone-length consistency. Returns (scalar, {"mpjpe", "bone"}: floats)."""
        pred, mask = outputs["joints3d"], batch["mask"]
        error = mpjpe(pred, batch["joints"], mask, self.config.align_yaw)
        total, terms = error, {"mpjpe": error}
        if self.config.bone_weight > 0 and self.bones[0]:
            terms["bone"] = bone_consistency(pred, self.bones, mask)
            total = total + self.config.bone_weight * terms["bone"]
        return total, {name: float(v.detach()) for name, v in terms.items()}


def seen_joints(target):
    """(B, T, J) bool: target joints that are known (not NaN, and not exactly 0 in all three coordinates, which is
    how a padded batch writes a joint not seen)."""
    finite = ~torch.isnan(target).any(dim=-1)
    return finite & (target != 0).any(dim=-1)


def yaw_align(pred, target, weights):
    """`pred` (B, T, J, 3) turned about z, one angle per sequence: the one minimising the weighted squared horizontal
    distance to `target` (`weights` (B, T, J), 0 where a target is unknown; NaN targets must be replaced first). The
    angle is a constant for the gradient: at the least-squares angle the error's derivative with respect to it is 0."""
    px, py, gx, gy = pred[..., 0], pred[..., 1], target[..., 0], target[..., 1]
    cos_part = (weights * (px * gx + py * gy)).sum(dim=(1, 2))
    sin_part = (weights * (px * gy - py * gx)).sum(dim=(1, 2))
    angle = torch.atan2(sin_part, cos_part).detach()
    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    return torch.stack([c * px - s * py, s * px + c * py, pred[..., 2]], dim=-1)


def mpjpe(pred, target, mask, align_yaw: bool = False):
    """Mean per-joint position error: the mean Euclidean distance between `pred` and `target` (B, T, J, 3) over
    the frames where `mask` (B, T) is true and the joints `seen_joints` keeps; 0 when there are none. With
    `align_yaw`, each sequence's prediction is first turned about z onto its target (`yaw_align`)."""
    seen = seen_joints(target) & mask.unsqueeze(2)
    # Unknown targets take the prediction's value, so that no NaN reaches the (discarded) gradient.
    target = torch.where(seen.unsqueeze(3), target, pred.detach())
    if align_yaw:
        pred = yaw_align(pred, target, seen.to(pred.dtype))
    distance = torch.linalg.vector_norm(pred - target, dim=-1)
    return masked_mean(distance, seen)


def bone_consistency(joints, bones: list, mask):
    """Mean over real frames and bones of |length - the bone's mean length over the sequence's real frames|, for
    `joints` (B, T, J, 3), `bones` [parents, children] index lists and `mask` (B, T)."""
    length = torch.linalg.vector_norm(joints[:, :, bones[0]] - joints[:, :, bones[1]], dim=-1)  # (B, T, E)
    weight = mask.to(length.dtype).unsqueeze(2)
    mean = (length * weight).sum(dim=1, keepdim=True) / weight.sum(dim=1, keepdim=True).clamp(min=1)
    return masked_mean((length - mean).abs(), mask)


def build(config: Lifter2d3dConfig) -> Lifter2d3d:
    return Lifter2d3d(config)
