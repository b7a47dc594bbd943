"""`edge_stream`: the device model. Causal activity segmentation and per-frame REBA (total and partials) from 3D
skeletons, one frame at a time with explicit state, with outputs equal to the whole-sequence run.

A causal multi-stage temporal convolutional network (the MS-TCN of Farha & Gall, CVPR 2019, made causal):

    frame features: the normalised joints (J*3), optionally their velocity (J*3, per second, 0 at a sequence's
                    first frame)
    stage 1:        1x1 conv -> `layers` residual layers -> 1x1 conv to class scores
    stages 2..S:    the same on the softmax of the previous stage's scores (refinement)
    residual layer: x + conv1x1(relu(causal dilated conv(x))), dilation 2^l, kernel `kernel`
    REBA heads:     1x1 conv on [stage-1 features, last-stage features] -> total and partials

Each causal layer sees its input at t, t-d, ..., t-(kernel-1)d (zeros before the sequence starts), so a stage's
receptive field is 1 + (kernel-1)(2^layers - 1) frames. Streaming keeps, per layer, the last (kernel-1)*d frames of
its input (`initial_state` is zeros: the same zeros the whole-sequence run pads with) and the previous frame for the
velocity, so `step` gives what `forward` gives at that frame. `step` uses tensor operations only and its state is a
flat tuple of tensors, so it traces to ONNX with explicit state inputs and outputs.

Padding frames of a batch must follow the real ones (a causal model's output at t never depends on later frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError
from edge.models.base import DataSpec, masked_mean
from edge.models.layers import smoothing_loss

# Heads start at typical scores (REBA totals of working postures are mostly 2-7, partials 1-3), so that early
# regression errors do not swamp the classification loss.
_REBA_INIT, _PARTIAL_INIT = 4.0, 2.0


@dataclass(frozen=True)
class EdgeStreamConfig:
    """Sizes and loss weights of `edge_stream`.

    data: what it is trained on (layout -> joints, classes, partials, fps for the velocity's unit).
    channels: feature channels of the prediction stage; refine_channels: of each refinement stage.
    layers: residual layers per stage (dilations 1, 2, ..., 2^(layers-1)); kernel: taps of each causal conv.
    stages: 1 prediction stage plus stages-1 refinement stages.
    velocity: also feed the frame-to-frame joint velocity. Off by default: the first causal layer already sees
      consecutive frames, and on UW-IOM (dev split) it changed nothing beyond seed noise while doubling the input
      and the noise a monocular 3D pose puts into it.
    dropout: feature dropout on the input and inside residual layers (training only); 0.4 regularises the 12-video
      UW-IOM training set (MS-TCN uses 0.5).
    smooth_weight, smooth_clip: MS-TCN's truncated smoothing loss on the log-probabilities (weight 0.15, clipped
      at 4 as in the paper).
    reba_weight, partials_weight: weights of the REBA total and the mean partial MSE in the loss.
    """

    data: DataSpec = DataSpec()
    channels: int = 32
    refine_channels: int = 24
    layers: int = 8
    kernel: int = 3
    stages: int = 3
    velocity: bool = False
    dropout: float = 0.4
    smooth_weight: float = 0.15
    smooth_clip: float = 4.0
    reba_weight: float = 1.0
    partials_weight: float = 0.5

    def __post_init__(self):
        for name in ("channels", "refine_channels", "layers", "stages"):
            if getattr(self, name) < 1:
                raise InputError(f"EdgeStreamConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel < 2:
            raise InputError(f"EdgeStreamConfig.kernel must be >= 2 (a temporal kernel), got {self.kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"EdgeStreamConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def receptive_field(self) -> int:
        """Frames one stage sees, the current one included (the stacked stages: stages * (that - 1) + 1)."""
        return 1 + (self.kernel - 1) * (2 ** self.layers - 1)


class CausalResidual(nn.Module):
    """x + conv1x1(relu(causal dilated conv(x))); `history` = frames of past input the conv needs."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.history = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # (B, F, T)
        h = F.relu(self.conv(F.pad(x, (self.history, 0))))
        return x + self.drop(self.mix(h))

    def step(self, x, past):  # x (B, F), past (B, F, history) -> (B, F), new past
        window = torch.cat([past, x.unsqueeze(2)], dim=2)
        h = F.relu(self.conv(window))  # exactly one output frame: the window is the conv's extent
        return x + self.mix(h).squeeze(2), window[:, :, 1:]


class CausalStage(nn.Module):
    """1x1 in -> causal residual layers -> features (B, F, T) and class scores (B, C, T)."""

    def __init__(self, in_dim: int, channels: int, classes: int, layers: int, kernel: int, dropout: float):
        super().__init__()
        self.inp = nn.Conv1d(in_dim, channels, 1)
        self.layers = nn.ModuleList(CausalResidual(channels, kernel, 2 ** i, dropout) for i in range(layers))
        self.out = nn.Conv1d(channels, classes, 1) if classes else None

    def forward(self, x):
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        return h, (self.out(h) if self.out is not None else None)

    def step(self, x, past: list):
        h = self.inp(x.unsqueeze(2)).squeeze(2)
        new = []
        for layer, p in zip(self.layers, past):
            h, p = layer.step(h, p)
            new.append(p)
        scores = self.out(h.unsqueeze(2)).squeeze(2) if self.out is not None else None
        return h, scores, new


class EdgeStream(nn.Module):
    """The module `build` returns: `forward(batch)`, `initial_state(batch)`, `step(state, joints)`, `loss`."""

    def __init__(self, config: EdgeStreamConfig):
        super().__init__()
        from edge.skeletons import get_layout

        self.config = config
        c = config
        self.num_joints = get_layout(c.data.layout).num_joints
        self.num_classes = c.data.num_classes
        self.num_partials = len(c.data.partials)
        in_dim = self.num_joints * 3 * (2 if c.velocity else 1)
        # Without classes there is nothing to refine: one stage feeds the REBA heads.
        stages = c.stages if self.num_classes else 1
        self.input_drop = nn.Dropout(c.dropout)
        self.stages = nn.ModuleList(
            [CausalStage(in_dim, c.channels, self.num_classes, c.layers, c.kernel, c.dropout)]
            + [CausalStage(self.num_classes, c.refine_channels, self.num_classes, c.layers, c.kernel, c.dropout)
               for _ in range(stages - 1)])
        head_in = c.channels + (c.refine_channels if stages > 1 else 0)
        self.reba_head = nn.Conv1d(head_in, 1 + self.num_partials, 1)
        with torch.no_grad():
            self.reba_head.bias[0] = _REBA_INIT
            self.reba_head.bias[1:] = _PARTIAL_INIT

    # -- whole sequences ---------------------------------------------------------------------------------------------

    def frame_features(self, x, prev, started):
        """Features of frames `x` (..., J, 3) given the previous frames `prev` and `started` (..., 1): 1 where a
        previous frame exists: positions and, with `velocity`, velocities per second (0 at a sequence's first
        frame). The one definition both `forward` and `step` use."""
        parts = [x.flatten(-2)]
        if self.config.velocity:
            parts.append(((x - prev) * self.config.data.fps).flatten(-2) * started)
        return torch.cat(parts, dim=-1)

    def features(self, joints):
        """(B, T, J, 3) -> (B, D, T), causally."""
        x = _observed(joints)
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        started = torch.ones_like(x[:, :, :1, 0])
        started[:, 0] = 0.0
        return self.frame_features(x, prev, started).transpose(1, 2)

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs): causal, so no mask."""
        return ("joints",)

    def forward(self, batch: dict) -> dict:
        x = self.input_drop(self.features(batch["joints"]))
        stage_scores = []
        first, scores = self.stages[0](x)
        stage_scores.append(scores)
        last = None
        for stage in self.stages[1:]:
            last, scores = stage(F.softmax(scores, dim=1))
            stage_scores.append(scores)
        head = self.reba_head(torch.cat([first, last], dim=1) if last is not None else first).transpose(1, 2)
        out = {"reba": head[..., 0], "reba_partials": head[..., 1:]}
        if self.num_classes:
            stages = [s.transpose(1, 2) for s in stage_scores]
            out.update(activity_logits=stages[-1], activity_stages=stages)
        return out

    # -- one frame at a time -----------------------------------------------------------------------------------------

    def initial_state(self, batch: int) -> tuple:
        """The state before a sequence's first frame, for `batch` streams, all zeros: the previous frame (B, J*3)
        and whether there was one (B, 1), both read only with `velocity` (an ONNX export drops them otherwise);
        then each stage's layers' input history (B, channels, (kernel-1)*dilation)."""
        p = next(self.parameters())
        state = [p.new_zeros(batch, self.num_joints * 3), p.new_zeros(batch, 1)]
        for stage in self.stages:
            state += [p.new_zeros(batch, layer.conv.in_channels, layer.history) for layer in stage.layers]
        return tuple(state)

    def step(self, state: tuple, joints) -> tuple[dict, tuple]:
        """One new frame `joints` (B, J, 3) per stream -> (outputs of that frame: activity_logits (B, C), reba (B,),
        reba_partials (B, P); the new state). Equals `forward` at that frame (in eval mode)."""
        prev, started = state[0], state[1]
        x = _observed(joints)
        h = self.frame_features(x, prev.reshape(x.shape), started)
        new_state, at = [x.flatten(1), torch.ones_like(started)], 2
        first, scores, past = self.stages[0].step(h, list(state[at:at + len(self.stages[0].layers)]))
        at += len(past)
        new_state += past
        last = None
        for stage in self.stages[1:]:
            last, scores, past = stage.step(F.softmax(scores, dim=1), list(state[at:at + len(stage.layers)]))
            at += len(past)
            new_state += past
        head = self.reba_head((torch.cat([first, last], dim=1) if last is not None else first).unsqueeze(2))
        head = head.squeeze(2)
        out = {"reba": head[:, 0], "reba_partials": head[:, 1:]}
        if self.num_classes:
            out["activity_logits"] = scores
        return out, tuple(new_state)

    # -- training ----------------------------------------------------------------------------------------------------

    def loss(self, outputs: dict, batch: dict):
        """Every stage's cross-entropy over labelled real frames and its smoothing loss over consecutive real frames,
        and the MSE of the REBA total and partials where known. Returns (scalar, {term: float})."""
        c = self.config
        mask = batch["mask"]
        terms = {}
        total = outputs["reba"].new_zeros(())
        if self.num_classes and "activity" in batch:
            ce, smooth = _segmentation_terms(outputs["activity_stages"], batch["activity"], mask, c.smooth_clip)
            terms.update(ce=ce, smooth=smooth)
            total = total + ce + c.smooth_weight * smooth
        if "reba" in batch:
            terms["reba_mse"] = _masked_mse(outputs["reba"], batch["reba"], mask)
            total = total + c.reba_weight * terms["reba_mse"]
        if self.num_partials and "reba_partials" in batch:
            terms["partials_mse"] = _masked_mse(outputs["reba_partials"], batch["reba_partials"], mask)
            total = total + c.partials_weight * terms["partials_mse"]
        return total, {name: float(v.detach()) for name, v in terms.items()}


def _observed(x):
    """Unobserved (NaN) coordinates as 0: NaN must never enter the network (isnan/where export to ONNX as such)."""
    return torch.where(torch.isnan(x), torch.zeros_like(x), x)


def _masked_mse(pred, target, mask):
    """Mean squared error over real frames with a known target. NaN targets are replaced before the subtraction so
    that their (discarded) terms cannot put NaN into the gradient."""
    known = ~torch.isnan(target)
    err = (pred - torch.where(known, target, pred.detach())) ** 2
    keep = mask.reshape(mask.shape + (1,) * (err.dim() - mask.dim())) & known
    return masked_mean(err, keep)


def _segmentation_terms(stages: list, labels, mask, clip: float):
    """(sum over stages of the mean cross-entropy over labelled real frames, sum of MS-TCN's smoothing losses over
    consecutive real frames)."""
    labelled = mask & (labels >= 0)
    target = torch.where(labelled, labels, torch.zeros_like(labels))
    ce = smooth = stages[0].new_zeros(())
    for logits in stages:
        ce = ce + masked_mean(F.cross_entropy(logits.transpose(1, 2), target, reduction="none"), labelled)
        smooth = smooth + smoothing_loss(logits, mask, clip)
    return ce, smooth


def build(config: EdgeStreamConfig) -> EdgeStream:
    return EdgeStream(config)
