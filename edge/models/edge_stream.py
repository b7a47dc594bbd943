"""`edge_stream`: the device model. Causal activity segmentation and per-frame REBA (total and partials) from 3D
skeletons, one frame at a time with explicit state, with outputs equal to the whole-sequence run.

A causal multi-stage temporal convolutional network (the MS-TCN of Farha & Gall, CVPR 2019, made causal):

    frame features: the normalised joints (J*3), optionally their velocity (J*3, per second, 0 at a sequence's
                    first frame), optionally the root's motion (with `root_lags`: the joints are taken relative to
                    each frame's pelvis and the pelvis's horizontal distance and vertical displacement over each lag
                    are added, 2 per lag, 0 where the lag reaches before the first frame)
    stage 1:        1x1 conv -> `layers` residual layers -> 1x1 conv to class scores
    stages 2..S:    the same on the softmax of the previous stage's scores (refinement)
    residual layer: x + conv1x1(relu(causal dilated conv(x))), dilation 2^l, kernel `kernel`
    REBA heads:     1x1 conv on [stage-1 features, last-stage features] -> total and partials

Each causal layer sees its input at t, t-d, ..., t-(kernel-1)d (zeros before the sequence starts), so a stage's
receptive field is 1 + (kernel-1)(2^layers - 1) frames. Streaming keeps, per layer, the last (kernel-1)*d frames of
its input (`initial_state` is zeros: the same zeros the whole-sequence run pads with), the previous frame for the
velocity and the pelvis of the last max(root_lags) frames for the root's motion, so `step` gives what `forward`
gives at that frame. `step` uses tensor operations only and its state is a flat tuple of tensors, so it traces to
ONNX with explicit state inputs and outputs.

Padding frames of a batch must follow the real ones (a causal model's output at t never depends on later frames).
With `delay` = L the label of frame t is given with frame t+L: `forward` runs the layers L frames further (each
item's last real frame repeated past its end) and returns the outputs from the L-th on, so frame t's outputs see up
to frame t+L; `step` is unchanged and its output after frame k is frame k-L's (none before the L-th frame; after a
stream's last frame, L more steps with it repeated give the last L frames' outputs, as `forward` does).
The offline twin (`causal = False`) looks as far ahead as back in every layer, zeroes batch padding after each
layer with the mask, and has no `step`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

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
      8 here (the offline twin's); the registry's training defaults for real data give the causal model 7, whose
      stages see 25.5 s back at 10 fps, not 51.1 s (the figures: edge/models/registry.py).
    stages: 1 prediction stage plus stages-1 refinement stages. 4 with smooth_weight 0.3 (rather than 3 and
      MS-TCN's 0.15): trained on all 12 UW-IOM dev videos, F1@10 / edit / REBA MSE on the 3 held-out ones went from
      91.3 / 85.9 / 0.46 to 91.9 / 86.7 / 0.45 (means over 3 seeds). Synthetic-only training keeps 3 and 0.15
      (edge/data/recipes/edge_stream.toml), which transfer better to real skeletons.
    velocity: also feed the frame-to-frame joint velocity. Off by default: the first causal layer already sees
      consecutive frames, and on UW-IOM (dev split) it changed nothing beyond seed noise while doubling the input
      and the noise a monocular 3D pose puts into it.
    root_lags: frames over which the root's (pelvis's) displacement is fed, e.g. (1, 2, 4, 8); () feeds none. With
      it the model centres each frame on its own pelvis, so it needs joints that keep the path through the room
      (data.norm.root = "first"; with "frame" the pelvis is always at the origin and these features are 0).
      Without it a walk shows only in the legs, and a real 0.6 s pause between handlings looks like handling.
      Several lags because a monocular estimate's root wanders: on UW-IOM a standing person's pelvis moves 0.08,
      0.19, 0.26 body scales over 1, 4, 8 frames, a walking one's 0.10, 0.35, 0.63, a handling one's 0.05, 0.17,
      0.28 (real handling moves the body too). () here; the registry's training defaults for real data set
      (1, 2, 4, 8, 16) with root "first": over 5 folds of UW-IOM's 15 training videos and 2 seeds F1@10 / edit /
      REBA MSE 90.7 / 85.6 / 0.52 against 89.2 / 83.8 / 0.53 without (an earlier test of (1, 2, 4, 8) on the
      dev split's 3 videos alone showed seed noise only).
      The synthetic recipe keeps none: synthetic-only training with them transferred worse (coarse accuracy
      65-76 % vs 74-77 %; real walks found, 50 % instead of 15 %, but real handling taken for walking). On the
      device BlazePose's 3D joints are centred on the hips, so these inputs are 0 there: a model trained with
      them on skeletons that keep their path (UW-IOM's) sees no walking body on the device.
    dropout: feature dropout on the input and inside residual layers (training only); 0.4 regularises the 12-video
      UW-IOM training set (MS-TCN uses 0.5).
    smooth_weight, smooth_clip: MS-TCN's truncated smoothing loss on the log-probabilities (MS-TCN weighs it 0.15,
      here 0.3, see stages; clipped at 4 as in the paper).
    reba_weight, partials_weight: weights of the REBA total and the mean partial MSE in the loss.
    causal: False makes the offline twin for whole recordings (reports, labelling, the best accuracy): every
      layer sees as many frames ahead as behind (t-d, t, t+d: MS-TCN as published) and the batch mask keeps
      padding out; it has no `step`, so `ergoedge export --streaming` refuses it (the whole-sequence export
      works). With the registry defaults otherwise and 8 layers, on uwiom-dev's 3 held-out videos F1@10 / edit /
      REBA MSE 94.2 / 89.6 / 0.37 against the causal 93.8 / 89.0 / 0.38 with 8 layers and 94.6 / 90.6 / 0.38 with
      the registry's 7 (seed 0); over 5 folds of its 15 videos 94.1 / 89.6 / 0.48 (seeds 0 and 1) against 91.5 /
      86.9 / 0.52 with 8 layers and 92.3 / 87.7 / 0.53 with 7 (seeds 0-2); see benchmarks/uwiom_experiments.md.
    delay: frames of latency (0: causal). Frame t's outputs are given with frame t+delay, having seen `delay`
      frames after it: the step runs as before, each output then labels the frame `delay` steps back (the
      exported manifest's delay_frames; the device reports it as the current activity, that much late). Over 5
      folds of UW-IOM's 15 training videos (seed 0, the registry's defaults otherwise) F1@10 / edit / REBA MSE /
      frame accuracy: 10 frames (1 s) 93.0 / 88.2 / 0.47 / 87.8 against the causal 92.5 / 88.3 / 0.52 / 85.4; with
      8 layers 92.6 / 87.6 / 0.47 / 87.3 against 91.3 / 86.7 / 0.51 / 84.5 (80 epochs: 91.9 / 86.7 / 0.47 / 86.5
      against 90.7 / 86.6 / 0.51 / 83.3); before the training windows read their history, 5 frames (0.5 s at 10
      fps) 91.6 / 86.2 / 0.49 / 86.1, 10 frames 92.2 / 87.3 / 0.50 / 86.3, the causal 90.6 / 85.4 / 0.51 / 83.4 and
      the offline twin's 93.9 / 89.2 / 0.48 / 87.9.
    members: copies of the model with their own weights whose class probabilities, REBA and partials are averaged
      (a deep ensemble in one model: one checkpoint, one exported step running them side by side). `ergoedge train`
      trains each apart, as its own run with its own seed, and joins them (edge/train/ensemble.py): trained as one
      model on the same batches they did not help. It steadies synthetic-only training, whose transfer to real
      skeletons varies with the seed (see edge/data/recipes/edge_stream.toml).
    """

    data: DataSpec = DataSpec()
    channels: int = 32
    refine_channels: int = 24
    layers: int = 8
    kernel: int = 3
    stages: int = 4
    velocity: bool = False
    root_lags: tuple[int, ...] = ()
    dropout: float = 0.4
    smooth_weight: float = 0.3
    smooth_clip: float = 4.0
    reba_weight: float = 1.0
    partials_weight: float = 0.5
    causal: bool = True
    delay: int = 0
    members: int = 1

    def __post_init__(self):
        for name in ("channels", "refine_channels", "layers", "stages", "members"):
            if getattr(self, name) < 1:
                raise InputError(f"EdgeStreamConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel < 2:
            raise InputError(f"EdgeStreamConfig.kernel must be >= 2 (a temporal kernel), got {self.kernel}")
        if any(not isinstance(v, int) or v < 1 for v in self.root_lags) or \
                len(set(self.root_lags)) != len(self.root_lags) or max(self.root_lags, default=0) > 600:
            raise InputError(f"EdgeStreamConfig.root_lags must be distinct whole frames within 1..600, got "
                             f"{self.root_lags}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"EdgeStreamConfig.dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.delay, int) or isinstance(self.delay, bool) or not 0 <= self.delay <= 600:
            raise InputError(f"EdgeStreamConfig.delay must be whole frames within 0..600, got {self.delay!r}")
        if self.delay and not self.causal:
            raise InputError("EdgeStreamConfig.delay is for the causal model: the offline twin (causal = false) "
                             "already sees the whole recording; set delay = 0")

    def check_norm(self, norm) -> None:
        """An `InputError` for a normalisation (edge.train.config.NormConfig) these inputs cannot use: root motion
        on joints centred in every frame (always 0), or joints that keep their path without root motion (the
        model would take where a person stands for their pose)."""
        if self.root_lags and norm.root == "frame":
            raise InputError("edge_stream's root_lags read the path through the room, which data.norm.root = "
                             "\"frame\" takes away: set it to \"first\", or root_lags = []")
        if not self.root_lags and norm.root == "first":
            raise InputError("edge_stream without root_lags on joints that keep their path (data.norm.root = "
                             "\"first\") takes where a person stands for their pose: set data.norm.root = "
                             "\"frame\" too, or keep root_lags")

    @property
    def receptive_field(self) -> int:
        """Frames one stage sees, the current one included (the stacked stages: stages * (that - 1) + 1)."""
        return 1 + (self.kernel - 1) * (2 ** self.layers - 1)


class CausalResidual(nn.Module):
    """x + conv1x1(relu(dilated conv(x))); `history` = frames of past input the conv needs. Not `causal`: the
    conv's extent is centred on the frame (half of it ahead; whole sequences only)."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float, causal: bool = True):
        super().__init__()
        extent = (kernel - 1) * dilation
        self.history = extent if causal else extent // 2
        self.padding = (self.history, extent - self.history)
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # (B, F, T)
        h = F.relu(self.conv(F.pad(x, self.padding)))
        return x + self.drop(self.mix(h))

    def step(self, x, past):  # x (B, F, 1), past (B, F, history) -> (B, F, 1), new past
        window = torch.cat([past, x], dim=2)
        h = F.relu(self.conv(window))  # exactly one output frame: the window is the conv's extent
        return x + self.mix(h), window[:, :, 1:]


class CausalStage(nn.Module):
    """1x1 in -> residual layers -> features (B, F, T) and class scores (B, C, T). `keep` (B, 1, T): 1 on real
    frames; where layers look ahead it zeroes batch padding after each layer (as the zeros past a sequence's end)."""

    def __init__(self, in_dim: int, channels: int, classes: int, layers: int, kernel: int, dropout: float,
                 causal: bool = True):
        super().__init__()
        self.inp = nn.Conv1d(in_dim, channels, 1)
        self.layers = nn.ModuleList(CausalResidual(channels, kernel, 2 ** i, dropout, causal) for i in range(layers))
        self.out = nn.Conv1d(channels, classes, 1) if classes else None

    def forward(self, x, keep=None):
        h = self.inp(x) if keep is None else self.inp(x) * keep
        for layer in self.layers:
            h = layer(h) if keep is None else layer(h) * keep
        return h, (self.out(h) if self.out is not None else None)

    def step(self, x, past: list):  # x (B, D, 1) -> features (B, F, 1), scores (B, C, 1), new past
        # One frame as a length-1 sequence all the way through: no reshaping between layers (the default weights'
        # exported step: 144 graph nodes instead of 188).
        h = self.inp(x)
        new = []
        for layer, p in zip(self.layers, past):
            h, p = layer.step(h, p)
            new.append(p)
        return h, (self.out(h) if self.out is not None else None), new


class EdgeStream(nn.Module):
    """The module `build` returns: `forward(batch)`, `initial_state(batch)`, `step(state, joints)`, `loss`."""

    def __init__(self, config: EdgeStreamConfig):
        super().__init__()
        from edge.skeletons import canonical_sources, get_layout

        self.config = config
        c = config
        layout = get_layout(c.data.layout)
        self.num_joints = layout.num_joints
        self.num_classes = c.data.num_classes
        self.num_partials = len(c.data.partials)
        # The pelvis as normalisation takes it (a layout's own, else the mean of the hips).
        self.pelvis = list(canonical_sources(layout)["pelvis"]) if c.root_lags else []
        in_dim = self.num_joints * 3 * (2 if c.velocity else 1) + 2 * len(c.root_lags)
        # Without classes there is nothing to refine: one stage feeds the REBA heads.
        stages = c.stages if self.num_classes else 1
        self.input_drop = nn.Dropout(c.dropout)
        self.stages = nn.ModuleList(
            [CausalStage(in_dim, c.channels, self.num_classes, c.layers, c.kernel, c.dropout, c.causal)]
            + [CausalStage(self.num_classes, c.refine_channels, self.num_classes, c.layers, c.kernel, c.dropout,
                           c.causal) for _ in range(stages - 1)])
        head_in = c.channels + (c.refine_channels if stages > 1 else 0)
        self.reba_head = nn.Conv1d(head_in, 1 + self.num_partials, 1)
        with torch.no_grad():
            self.reba_head.bias[0] = _REBA_INIT
            self.reba_head.bias[1:] = _PARTIAL_INIT

    # -- whole sequences ---------------------------------------------------------------------------------------------

    def frame_features(self, x, prev, started):
        """Features of frames `x` (..., J, 3) given the previous frames `prev` and `started` (..., 1): 1 where a
        previous frame exists: positions and, with `velocity`, velocities per second (0 at a sequence's first
        frame), relative to each frame's pelvis with `root_lags`. The one definition both `forward` and `step`
        use."""
        if self.pelvis:
            x, prev = x - self.root(x).unsqueeze(-2), prev - self.root(prev).unsqueeze(-2)
        parts = [x.flatten(-2)]
        if self.config.velocity:
            parts.append(((x - prev) * self.config.data.fps).flatten(-2) * started)
        return torch.cat(parts, dim=-1)

    def root(self, x):
        """The pelvis (..., 3) of joints (..., J, 3)."""
        return x[..., self.pelvis, :].mean(dim=-2)

    def root_motion(self, root, past, seen):
        """The root's motion at a frame: `root` (..., 3) now, `past` (..., L, 3) its position `root_lags` frames
        ago (in that order), `seen` (..., L) 1 where that frame exists -> (..., 2L): per lag the horizontal
        distance, then the vertical displacement."""
        d = (root.unsqueeze(-2) - past) * seen.unsqueeze(-1)
        return torch.cat([torch.sqrt((d[..., :2] ** 2).sum(-1)), d[..., 2]], dim=-1)

    def features(self, joints):
        """(B, T, J, 3) -> (B, D, T), causally."""
        x = _observed(joints)
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        started = torch.ones_like(x[:, :, :1, 0])
        started[:, 0] = 0.0
        h = self.frame_features(x, prev, started)
        if self.pelvis:
            root, n = self.root(x), x.shape[1]
            past = torch.stack([torch.cat([torch.zeros_like(root[:, :lag]), root], dim=1)[:, :n]
                                for lag in self.config.root_lags], dim=2)  # (B, T, L, 3)
            frames = torch.arange(n, device=x.device).unsqueeze(1)
            seen = (frames >= torch.tensor(self.config.root_lags, device=x.device)).to(x.dtype).expand(
                x.shape[0], n, len(self.config.root_lags))
            h = torch.cat([h, self.root_motion(root, past, seen)], dim=-1)
        return h.transpose(1, 2)

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs): causal, no mask (padding follows the
        real frames); looking ahead, the mask."""
        return ("joints",) if self.config.causal else ("joints", "mask")

    def forward(self, batch: dict) -> dict:
        joints, delay = batch["joints"], self.config.delay
        if delay:
            joints = _extended(joints, batch.get("mask"), delay)
        x = self.input_drop(self.features(joints))
        keep = None
        if not self.config.causal and batch.get("mask") is not None:
            keep = batch["mask"].unsqueeze(1).to(x.dtype)
        stage_scores = []
        first, scores = self.stages[0](x, keep)
        stage_scores.append(scores)
        last = None
        for stage in self.stages[1:]:
            last, scores = stage(F.softmax(scores, dim=1), keep)
            stage_scores.append(scores)
        head = self.reba_head(torch.cat([first, last], dim=1) if last is not None else first).transpose(1, 2)
        if delay:  # frame t's outputs are those at t + delay
            head, stage_scores = head[:, delay:], [s[..., delay:] for s in stage_scores]
        out = {"reba": head[..., 0], "reba_partials": head[..., 1:]}
        if self.num_classes:
            stages = [s.transpose(1, 2) for s in stage_scores]
            out.update(activity_logits=stages[-1], activity_stages=stages)
        return out

    # -- one frame at a time -----------------------------------------------------------------------------------------

    def initial_state(self, batch: int) -> tuple:
        """The state before a sequence's first frame, for `batch` streams, all zeros: the previous frame (B, J*3)
        and whether there was one (B, 1), both read only with `velocity` or `root_lags` (an ONNX export drops
        them otherwise); with `root_lags`, the pelvis of the last max(root_lags) frames (B, max(root_lags), 3),
        oldest first, and whether each frame exists (B, max(root_lags)); then each stage's layers' input history
        (B, channels, (kernel-1)*dilation)."""
        self._require_causal()
        p = next(self.parameters())
        state = self.frame_state(batch)
        for stage in self.stages:
            state += [p.new_zeros(batch, layer.conv.in_channels, layer.history) for layer in stage.layers]
        return tuple(state)

    def frame_state(self, batch: int) -> list:
        """The first entries of `initial_state`, what `frame_step` reads and returns: the previous frame, whether
        there was one and, with `root_lags`, the pelvis's history and whether each of its frames exists."""
        p = next(self.parameters())
        state = [p.new_zeros(batch, self.num_joints * 3), p.new_zeros(batch, 1)]
        if self.pelvis:
            span = max(self.config.root_lags)
            state += [p.new_zeros(batch, span, 3), p.new_zeros(batch, span)]
        return state

    def step(self, state: tuple, joints) -> tuple[dict, tuple]:
        """One new frame `joints` (B, J, 3) per stream -> (outputs of that frame: activity_logits (B, C), reba (B,),
        reba_partials (B, P); the new state). Equals `forward` at that frame (in eval mode); with `delay` at the
        frame `delay` steps back (module doc)."""
        self._require_causal()
        h, new_state = self.frame_step(state, joints)
        at = len(new_state)
        first_layers = len(self.stages[0].layers)
        first, scores, past = self.stages[0].step(h.unsqueeze(2), list(state[at:at + first_layers]))
        at += len(past)
        new_state += past
        last = None
        for stage in self.stages[1:]:
            last, scores, past = stage.step(F.softmax(scores, dim=1), list(state[at:at + len(stage.layers)]))
            at += len(past)
            new_state += past
        head = self.reba_head(torch.cat([first, last], dim=1) if last is not None else first).squeeze(2)
        out = {"reba": head[:, 0], "reba_partials": head[:, 1:]}
        if self.num_classes:
            out["activity_logits"] = scores.squeeze(2)
        return out, tuple(new_state)

    def frame_step(self, state: tuple, joints) -> tuple:
        """The input features (B, D) of one new frame `joints` (B, J, 3) and the new frame state (the first entries
        of `initial_state`'s: the previous frame, whether there was one, with `root_lags` the pelvis's history)."""
        prev, started = state[0], state[1]
        x = _observed(joints)
        h = self.frame_features(x, prev.reshape(x.shape), started)
        new_state = [x.flatten(1), torch.ones_like(started)]
        if self.pelvis:
            history, seen = state[2], state[3]
            root, span = self.root(x), history.shape[1]
            pick = [span - lag for lag in self.config.root_lags]
            h = torch.cat([h, self.root_motion(root, history[:, pick], seen[:, pick])], dim=1)
            new_state += [torch.cat([history[:, 1:], root.unsqueeze(1)], dim=1),
                          torch.cat([seen[:, 1:], torch.ones_like(started)], dim=1)]
        return h, new_state

    def _require_causal(self):
        if not self.config.causal:
            raise InputError("this edge_stream looks ahead (causal = false): it runs on whole sequences only and has "
                             "no streaming step; export it without --streaming")

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


def _extended(joints, mask, delay: int):
    """(B, T, J, 3) -> (B, T + delay, J, 3): each item's frames, its last real one (by `mask`; else the last)
    repeated after it."""
    b, n = joints.shape[:2]
    last = mask.sum(dim=1).long() - 1 if mask is not None else torch.full((b,), n - 1, dtype=torch.long)
    frames = torch.arange(n + delay, device=joints.device).unsqueeze(0)
    index = torch.minimum(frames, last.clamp(min=0).unsqueeze(1).to(joints.device))
    return torch.gather(joints, 1, index[:, :, None, None].expand(-1, -1, *joints.shape[2:]))


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


class EdgeStreamEnsemble(nn.Module):
    """`members` EdgeStreams behind EdgeStream's interface (`EdgeStreamConfig.members`): each sees the same input,
    the outputs are averaged (class probabilities, so `activity_logits` are the log of the mean probabilities) and
    the loss is the members' mean. `step` runs the members side by side as one network: one frame state (they read
    the same features), and each convolution of theirs as one grouped convolution over their channels, so that a
    step costs about one member's graph operations, not `members` times as many (the exported step's speed).
    Its state: EdgeStream's frame state, then per stage and layer the members' input histories side by side
    (B, members * channels, history)."""

    def __init__(self, config: EdgeStreamConfig):
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(EdgeStream(replace(config, members=1)) for _ in range(config.members))
        self.num_joints, self.num_classes = self.members[0].num_joints, self.members[0].num_classes

    def input_keys(self) -> tuple[str, ...]:
        return self.members[0].input_keys()

    def forward(self, batch: dict) -> dict:
        outputs = [member(batch) for member in self.members]
        stacked = {name: torch.stack([o[name] for o in outputs])
                   for name in ("reba", "reba_partials", "activity_logits") if name in outputs[0]}
        return {**_averaged(stacked), "members": outputs}

    def initial_state(self, batch: int) -> tuple:
        """All zeros: EdgeStream's frame state (previous frame, whether there was one, with root_lags the pelvis's
        history), then per stage and layer the members' input histories side by side (B, members * channels,
        (kernel-1)*dilation)."""
        lead = self.members[0]
        lead._require_causal()
        frame = lead.frame_state(batch)
        p, k = next(self.parameters()), len(self.members)
        layers = [p.new_zeros(batch, k * layer.conv.in_channels, layer.history) for stage in lead.stages
                  for layer in stage.layers]
        return (*frame, *layers)

    def step(self, state: tuple, joints) -> tuple[dict, tuple]:
        """One new frame per stream -> (the averaged outputs at that frame, as `forward`'s; the new state)."""
        lead, k = self.members[0], len(self.members)
        lead._require_causal()
        h, new_state = lead.frame_step(state, joints)
        at = len(new_state)
        x, features, scores = h.unsqueeze(2), [], None
        for index, stages in enumerate(zip(*(member.stages for member in self.members))):
            # The first stage's input is the members' common features; a refinement stage's, each one's own scores.
            h = _grouped(x, [stage.inp for stage in stages], 1 if index == 0 else k)
            for layers in zip(*(stage.layers for stage in stages)):
                window = torch.cat([state[at], h], dim=2)
                inner = F.relu(_grouped(window, [layer.conv for layer in layers], k))
                h = h + _grouped(inner, [layer.mix for layer in layers], k)
                new_state.append(window[:, :, 1:])
                at += 1
            features.append(h)
            if stages[0].out is not None:
                scores = _grouped(h, [stage.out for stage in stages], k)
                x = F.softmax(scores.unflatten(1, (k, -1)), dim=2).flatten(1, 2)
        # Each member's head reads its own [first-stage, last-stage] features.
        parts = [features[0]] + ([features[-1]] if len(features) > 1 else [])
        head_in = torch.cat([part.unflatten(1, (k, -1)) for part in parts], dim=2).flatten(1, 2)
        head = _grouped(head_in, [member.reba_head for member in self.members], k).squeeze(2)
        head = head.unflatten(1, (k, -1)).movedim(1, 0)  # (members, B, 1 + P)
        stacked = {"reba": head[..., 0], "reba_partials": head[..., 1:]}
        if self.num_classes:
            stacked["activity_logits"] = scores.squeeze(2).unflatten(1, (k, -1)).movedim(1, 0)
        return _averaged(stacked), tuple(new_state)

    def loss(self, outputs: dict, batch: dict):
        """The mean of the members' losses and of each of their terms."""
        results = [member.loss(out, batch) for member, out in zip(self.members, outputs["members"])]
        total = torch.stack([value for value, _ in results]).mean()
        terms = {name: sum(parts[name] for _, parts in results) / len(results) for name in results[0][1]}
        return total, terms


def _averaged(stacked: dict) -> dict:
    """The members' outputs stacked along a first axis -> their means: of REBA and partials, and of the class
    probabilities (`activity_logits` the log of the mean probabilities)."""
    out = {name: stacked[name].mean(dim=0) for name in ("reba", "reba_partials")}
    if "activity_logits" in stacked:
        logits = stacked["activity_logits"]
        out["activity_logits"] = torch.logsumexp(F.log_softmax(logits, dim=-1), dim=0) - math.log(logits.shape[0])
    return out


def _grouped(x, convs: list, groups: int):
    """The convolutions `convs` (one per member, alike) as one: their weights stacked along the outputs, applied to
    `x` (B, groups * inputs, T) in `groups` groups (1: every conv reads all of `x`)."""
    first = convs[0]
    weight = torch.cat([conv.weight for conv in convs])
    bias = torch.cat([conv.bias for conv in convs])
    return F.conv1d(x, weight, bias, dilation=first.dilation, groups=groups)


def build(config: EdgeStreamConfig) -> EdgeStream | EdgeStreamEnsemble:
    return EdgeStreamEnsemble(config) if config.members > 1 else EdgeStream(config)
