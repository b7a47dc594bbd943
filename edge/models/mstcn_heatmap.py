"""`mstcn_heatmap`: activity segmentation from 2D skeletons drawn as heatmaps (Hyder et al., "Action Segmentation
Using 2D Skeleton Heatmaps", ICRA 2024), written from the paper's description.

1. Heatmaps (`SkeletonHeatmaps`), rendered inside the model from `keypoints2d` as edge.train.normalise puts them
   (x, y in the person's box, centred at 0, longer side 1; confidence), so no image is ever stored: a joint k at
   pixel position p_k with confidence c_k draws c_k exp(-|q - p_k|^2 / 2 sigma^2) at pixel q, a limb (a, b) of the
   layout's bones draws min(c_a, c_b) exp(-d(q, segment a-b)^2 / 2 sigma^2). A joint without confidence (0, or
   NaN coordinates) draws nothing, nor do its limbs. Channels: "each" gives one per joint and one per limb
   (J + E); "parts" (default) folds them into joints and limbs of five body parts (trunk and head, left/right arm,
   left/right leg; a limb joining two parts belongs to the trunk), 10 channels, taking the maximum where maps
   overlap: a third of the memory and of the first convolution's work for a 15-joint layout, with left and right
   still apart. Data with 3D joints only (UW-IOM as released has no 2D keypoints) is seen from the front with
   `source = "joints_xz"`: the normalised joints (z up) projected orthographically onto x (right) and z (up,
   drawn upwards), each frame put in its box like 2D keypoints, every joint with confidence 1.
2. A small per-frame CNN (`FrameEncoder`): stride-2 3x3 convolutions, then a linear layer on the flattened map,
   which keeps where on the body box things are (a hand above the head, a trunk bent forward).
3. MS-TCN++ (Li et al., TPAMI 2020): a prediction generation stage of dual dilated layers (dilations 2^l and
   2^(L-1-l) side by side, fused by a 1x1 convolution) and refinement stages (MS-TCN single stages on the
   previous stage's softmax).
4. Loss: on every stage, cross-entropy over labelled real frames plus lambda times MS-TCN's truncated MSE of the
   log-probabilities between consecutive frames (tau = 4, lambda = 0.15 as in MS-TCN).

Padded frames are not rendered nor encoded, and every temporal layer zeroes them, so a sequence's outputs do not
depend on the padding its batch adds.

Training defaults (registry): 2 windows a batch, for enough steps per epoch, every training video and the last of 40
cosine epochs. On a development re-split of UW-IOM's published training videos (12 to train, 3 to score; "auto"
draws its 3D joints from the front; 7.6 minutes on one CPU core): F1@10 93.3, F1@25 93.3, F1@50 90.4, Edit 88.0,
frame accuracy 88.0, mAP 92.4 (seed 0; seed 1: 92.9 / 92.3 / 91.2 / 87.3 / 87.8 / 92.5). Cost per frame on one core:
0.18 ms inference (drawing 0.10, CNN 0.04, TCN 0.04), 0.5 ms a training step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError
from edge.models.base import DataSpec
from edge.models.layers import SingleStageTCN, smoothing_loss
from edge.skeletons import get_layout

CHANNEL_MODES = ("parts", "each")
SOURCES = ("auto", "keypoints2d", "joints_xz")
BODY_PARTS = ("trunk", "left_arm", "right_arm", "left_leg", "right_leg")
_ARM_WORDS = ("shoulder", "elbow", "wrist", "hand", "index", "pinky", "thumb")
_LEG_WORDS = ("hip", "knee", "ankle", "heel", "toe")
# Gaussians are floored at exp(-20) = 2e-9 (beyond 6.3 sigma): torch's exp takes a path ten times slower for
# arguments below about -87, and most of a limb map lies that far out.
_EXP_FLOOR = 20.0


@dataclass(frozen=True)
class MstcnHeatmapConfig:
    """The model's sizes. Defaults: 32x32 heatmaps with sigma 1 px (the person's box spans 80 % of the map), five body
    parts as 10 channels, three stride-2 convolutions (16, 32, 64) and a 128-dimensional frame feature; MS-TCN++ as
    published: 64 channels, 11 dual dilated layers, 3 refinement stages of 10 layers, dropout 0.5; loss weights of
    MS-TCN. `source`: "keypoints2d" (the batch's 2D keypoints), "joints_xz" (its 3D joints seen from the front) or
    "auto" (the 2D keypoints where the data has them, else the front view).
    `render_chunk` frames are drawn at a time: small enough that the scratch maps stay in the CPU's cache."""

    data: DataSpec = DataSpec()
    source: str = "auto"  # "auto", "keypoints2d" or "joints_xz"
    heatmap_size: int = 32
    sigma: float = 1.0  # pixels
    margin: float = 0.1  # fraction of the map left free on each side of the person's box
    channels: str = "parts"  # "parts" or "each"
    cnn_channels: tuple[int, ...] = (16, 32, 64)
    feature_dim: int = 128
    tcn_channels: int = 64
    pg_layers: int = 11
    refinement_stages: int = 3
    refinement_layers: int = 10
    dropout: float = 0.5
    smoothing_weight: float = 0.15
    smoothing_tau: float = 4.0
    render_chunk: int = 32

    def __post_init__(self):
        object.__setattr__(self, "cnn_channels", tuple(self.cnn_channels))  # a TOML file gives a list
        if self.source not in SOURCES:
            raise InputError(f"mstcn_heatmap: source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.channels not in CHANNEL_MODES:
            raise InputError(f"mstcn_heatmap: channels must be one of {', '.join(CHANNEL_MODES)}, "
                             f"got {self.channels!r}")
        if self.heatmap_size < 2 ** len(self.cnn_channels):
            raise InputError(f"mstcn_heatmap: heatmap_size {self.heatmap_size} is too small for "
                             f"{len(self.cnn_channels)} stride-2 convolutions")
        if not (self.sigma > 0 and 0 <= self.margin < 0.5 and 0 <= self.dropout < 1 and self.smoothing_tau > 0
                and self.smoothing_weight >= 0):
            raise InputError("mstcn_heatmap: need sigma > 0, 0 <= margin < 0.5, 0 <= dropout < 1, "
                             "smoothing_tau > 0 and smoothing_weight >= 0")
        sizes = (*self.cnn_channels, self.feature_dim, self.tcn_channels, self.pg_layers, self.refinement_layers,
                 self.render_chunk)
        if min(sizes) < 1 or self.refinement_stages < 0:
            raise InputError("mstcn_heatmap: sizes and layer counts must be positive")


def body_part(joint: str) -> str:
    """The body part a joint name belongs to (shoulders to the arms, hips to the legs, the rest to the trunk)."""
    for side in ("left", "right"):
        if joint.startswith(side + "_"):
            if any(word in joint for word in _ARM_WORDS):
                return f"{side}_arm"
            if any(word in joint for word in _LEG_WORDS):
                return f"{side}_leg"
    return "trunk"


def channel_members(layout_name: str, mode: str) -> tuple[tuple[int, ...], ...]:
    """For each heatmap channel, the maps it takes the maximum of, indexing joints 0..J-1 then limbs J..J+E-1."""
    layout = get_layout(layout_name)
    n = layout.num_joints
    if mode == "each":
        return tuple((i,) for i in range(n + len(layout.edges)))
    parts = [body_part(name) for name in layout.joints]
    limb_parts = [parts[a] if parts[a] == parts[b] else "trunk" for a, b in layout.edges]
    joints = [tuple(i for i in range(n) if parts[i] == p) for p in BODY_PARTS]
    limbs = [tuple(n + e for e, lp in enumerate(limb_parts) if lp == p) for p in BODY_PARTS]
    return tuple(members for members in joints + limbs if members)


def front_view(joints: torch.Tensor) -> torch.Tensor:
    """(..., J, 3) joints, z up -> (..., J, 3) keypoints: x to the right, z drawn upwards (image y = -z), in each
    frame's box (centred at 0, longer side 1), confidence 1."""
    xy = torch.stack([joints[..., 0], -joints[..., 2]], dim=-1)
    lo, hi = xy.amin(dim=-2, keepdim=True), xy.amax(dim=-2, keepdim=True)
    size = (hi - lo).amax(dim=-1, keepdim=True).clamp(min=1e-6)
    return torch.cat([(xy - (lo + hi) / 2) / size, torch.ones_like(xy[..., :1])], dim=-1)


class SkeletonHeatmaps(nn.Module):
    """(N, J, 3) keypoints (x, y in the box centred at 0 with longer side 1, confidence) -> (N, channels, S, S)
    joint and limb Gaussians. Row index is y (down), column index x; the box [-0.5, 0.5] maps onto
    [margin, 1 - margin] of the map's width, of which pixel i covers [i / S, (i + 1) / S) (`pixel_coords`)."""

    def __init__(self, layout_name: str, size: int, sigma: float, margin: float, mode: str, chunk: int):
        super().__init__()
        layout = get_layout(layout_name)
        self.size, self.sigma, self.margin, self.chunk = size, float(sigma), float(margin), chunk
        self.members = channel_members(layout_name, mode)
        self.identity = mode == "each"
        n = layout.num_joints
        # Maps are drawn in channel order, so that each channel's members are one contiguous slice.
        joint_groups = [m for m in self.members if m[0] < n]
        limb_groups = [tuple(i - n for i in m) for m in self.members if m[0] >= n]
        self.joint_sizes = [len(m) for m in joint_groups]
        self.limb_sizes = [len(m) for m in limb_groups]
        order = [i for m in joint_groups for i in m]
        position = {joint: k for k, joint in enumerate(order)}
        ends = torch.tensor([[position[j] for j in layout.edges[e]] for m in limb_groups for e in m],
                            dtype=torch.long).reshape(-1, 2)
        self.register_buffer("joint_order", torch.tensor(order, dtype=torch.long), persistent=False)
        self.register_buffer("limb_a", ends[:, 0].clone(), persistent=False)
        self.register_buffer("limb_b", ends[:, 1].clone(), persistent=False)

    @property
    def num_channels(self) -> int:
        return len(self.members)

    def pixel_coords(self, xy: torch.Tensor) -> torch.Tensor:
        """Box coordinates -> continuous pixel coordinates (pixel i spans [i - 0.5, i + 0.5])."""
        return (self.margin + (xy + 0.5) * (1.0 - 2.0 * self.margin)) * self.size - 0.5

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        # Drawn `chunk` frames at a time to bound memory; all at once when traced for export, where a Python loop
        # over chunks would freeze the traced frame count into the graph.
        parts = (keypoints,) if torch.jit.is_tracing() else keypoints.split(self.chunk)
        with torch.no_grad():  # the keypoints are data: nothing to learn through the drawing
            drawn = [self._draw(part) for part in parts]
        return torch.cat(drawn) if len(drawn) > 1 else drawn[0]

    def _draw(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(n, J, 3) -> (n, channels, S, S), built from whole tensors (no writes into a preallocated one, which the
        ONNX exporter does not follow)."""
        joints, limbs = self._render(keypoints)
        if self.identity:
            return torch.cat([joints, limbs], dim=1)
        groups = joints.split(self.joint_sizes, dim=1) + limbs.split(self.limb_sizes, dim=1)
        return torch.stack([group.amax(dim=1) for group in groups], dim=1)

    def _render(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, J, 3) -> joint maps (n, J, S, S) and limb maps (n, E, S, S), in channel order."""
        keypoints = keypoints[:, self.joint_order]  # limb ends index joints in this order
        xy, conf = keypoints[..., :2], keypoints[..., 2]
        seen = torch.isfinite(xy).all(-1) & torch.isfinite(conf)
        conf = torch.where(seen, conf.clamp(0.0, 1.0), torch.zeros_like(conf))
        p = self.pixel_coords(torch.where(seen.unsqueeze(-1), xy, torch.zeros_like(xy)))  # (n, J, 2)
        grid = torch.arange(self.size, dtype=p.dtype, device=p.device)
        k = -0.5 / self.sigma ** 2
        # Joints: a 2D Gaussian is the outer product of two 1D ones.
        gx = torch.exp((k * (grid - p[..., 0:1]) ** 2).clamp(min=-_EXP_FLOOR))  # (n, J, S)
        gy = torch.exp((k * (grid - p[..., 1:2]) ** 2).clamp(min=-_EXP_FLOOR)) * conf.unsqueeze(-1)
        joints = gy.unsqueeze(-1) * gx.unsqueeze(-2)
        # Limbs: with q the pixel relative to a and t = clamp(q.ab / |ab|^2, 0, 1) the nearest point's place on the
        # segment, the squared distance is |q|^2 - t (2 q.ab - t |ab|^2): few full-size operations, done in place,
        # as this is the costliest part of the model per frame.
        a, b = p[:, self.limb_a], p[:, self.limb_b]  # (n, E, 2)
        ab = b - a
        length2 = (ab ** 2).sum(-1).clamp(min=1e-6)[..., None, None]
        qx = grid.view(1, 1, 1, -1) - a[..., 0, None, None]  # (n, E, 1, S)
        qy = grid.view(1, 1, -1, 1) - a[..., 1, None, None]  # (n, E, S, 1)
        dot = qx * ab[..., 0, None, None] + qy * ab[..., 1, None, None]  # (n, E, S, S)
        t = (dot / length2).clamp_(0.0, 1.0)
        reach = dot.mul_(2.0).sub_(t * length2)  # 2 q.ab - t |ab|^2
        dist2 = (qx ** 2 + qy ** 2).sub_(reach.mul_(t))
        weight = torch.minimum(conf[:, self.limb_a], conf[:, self.limb_b])[..., None, None]
        # max 0 absorbs rounding below zero on the bone itself
        limbs = dist2.mul_(k).clamp_(-_EXP_FLOOR, 0.0).exp_().mul_(weight)
        return joints, limbs


class FrameEncoder(nn.Module):
    """(N, C, S, S) heatmaps -> (N, feature_dim): stride-2 3x3 convolutions with ReLU, flattened, linear, ReLU."""

    def __init__(self, in_channels: int, size: int, channels: tuple[int, ...], feature_dim: int):
        super().__init__()
        convs, c = [], in_channels
        for out in channels:
            convs += [nn.Conv2d(c, out, kernel_size=3, stride=2, padding=1), nn.ReLU()]
            c = out
            size = (size - 1) // 2 + 1
        self.convs = nn.Sequential(*convs)
        self.fc = nn.Linear(c * size * size, feature_dim)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.convs(maps).flatten(1)))


class DualDilatedLayer(nn.Module):
    """MS-TCN++'s dual dilated layer: two 3-tap convolutions with dilations d1 (growing with depth) and d2
    (shrinking) see near and far context at every depth; ReLU of the two side by side, a 1x1 convolution back to
    `channels`, dropout and a residual connection."""

    def __init__(self, channels: int, d1: int, d2: int, dropout: float):
        super().__init__()
        self.d1, self.d2 = d1, d2
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=3, dilation=d1)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, dilation=d2)
        self.fuse = nn.Conv1d(2 * channels, channels, kernel_size=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        near = self.conv1(F.pad(x, (self.d1, self.d1)))
        far = self.conv2(F.pad(x, (self.d2, self.d2)))
        h = self.dropout(self.fuse(F.relu(torch.cat([near, far], dim=1))))
        return (x + h) * mask


class PredictionGeneration(SingleStageTCN):
    """MS-TCN++'s first stage: 1x1 in, `layers` dual dilated layers (2^l and 2^(layers-1-l)), 1x1 to classes; a
    single-stage TCN whose layers look near and far at once."""

    def __init__(self, in_dim: int, channels: int, num_classes: int, layers: int, dropout: float):
        super().__init__(in_dim, channels, num_classes, layers=0, dropout=dropout)
        self.layers = nn.ModuleList(DualDilatedLayer(channels, 2 ** i, 2 ** (layers - 1 - i), dropout)
                                    for i in range(layers))


class MstcnHeatmap(nn.Module):
    def __init__(self, config: MstcnHeatmapConfig):
        super().__init__()
        self.config = config
        n = config.data.num_classes
        if n < 2:
            raise InputError("mstcn_heatmap: the data spec needs at least two activity classes")
        self.heatmaps = SkeletonHeatmaps(config.data.layout, config.heatmap_size, config.sigma, config.margin,
                                         config.channels, config.render_chunk)
        self.encoder = FrameEncoder(self.heatmaps.num_channels, config.heatmap_size, config.cnn_channels,
                                    config.feature_dim)
        c = config.tcn_channels
        self.generation = PredictionGeneration(config.feature_dim, c, n, config.pg_layers, config.dropout)
        self.refinements = nn.ModuleList(SingleStageTCN(n, c, n, config.refinement_layers, config.dropout)
                                         for _ in range(config.refinement_stages))

    def frame_features(self, keypoints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, J, 3) keypoints -> (B, feature_dim, T) features, zero at padded frames (never drawn)."""
        b, t, j, _ = keypoints.shape
        real = mask.reshape(-1)
        flat = keypoints.reshape(b * t, j, 3)
        if self.training:  # only the real frames are drawn: padding can be most of a batch of uneven lengths
            encoded = self.encoder(self.heatmaps(flat[real]))
            feats = encoded.new_zeros(b * t, encoded.shape[1]).masked_scatter(real.unsqueeze(-1), encoded)
        else:  # every frame drawn, padded ones zeroed after: no data-dependent shapes (NonZero) in an exported graph
            flat = torch.where(real[:, None, None], flat, torch.zeros_like(flat))
            feats = self.encoder(self.heatmaps(flat)) * real[:, None].to(flat.dtype)
        return feats.reshape(b, t, -1).transpose(1, 2)

    def keypoints(self, batch: dict) -> torch.Tensor:
        """The (B, T, J, 3) box-normalised keypoints the model draws, from the batch entry `config.source` names."""
        source = self.config.source
        if source == "auto":
            known = "keypoints2d" in batch and bool(torch.isfinite(batch["keypoints2d"][..., :2]).any())
            source = "keypoints2d" if known else "joints_xz"
        if source == "joints_xz":
            if "joints" not in batch:
                raise InputError("mstcn_heatmap: source \"joints_xz\" needs 3D joints in the batch")
            return front_view(batch["joints"])
        if "keypoints2d" not in batch:
            raise InputError("mstcn_heatmap: the data has no 2D keypoints; for 3D joints only (e.g. UW-IOM) set "
                             "the model's source = \"joints_xz\"")
        return batch["keypoints2d"]

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs); "auto" is exported as "joints_xz", what
        3D-only data (UW-IOM) trains, since a graph cannot choose its input by the values it is given."""
        return ("keypoints2d", "mask") if self.config.source == "keypoints2d" else ("joints", "mask")

    def forward(self, batch: dict) -> dict:
        keypoints = self.keypoints(batch)
        mask = batch.get("mask")
        if mask is None:
            mask = torch.ones(keypoints.shape[:2], dtype=torch.bool, device=keypoints.device)
        m = mask.unsqueeze(1).to(keypoints.dtype)
        logits = self.generation(self.frame_features(keypoints, mask), m)
        stages = [logits]
        for stage in self.refinements:
            logits = stage(F.softmax(logits, dim=1) * m, m)
            stages.append(logits)
        stages = [s.transpose(1, 2) for s in stages]
        return {"activity_logits": stages[-1], "activity_stages": stages}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Sum over stages of cross-entropy (labelled real frames) + smoothing_weight * truncated MSE (pairs of
        real frames)."""
        mask = batch["mask"]
        labels = torch.where(mask, batch["activity"], torch.full_like(batch["activity"], -1)).reshape(-1)
        labelled = (labels >= 0).sum().clamp(min=1)
        ce = smooth = outputs["activity_logits"].new_zeros(())
        for logits in outputs["activity_stages"]:
            flat = logits.reshape(-1, logits.shape[-1])
            ce = ce + F.cross_entropy(flat, labels, ignore_index=-1, reduction="sum") / labelled
            smooth = smooth + smoothing_loss(logits, mask, self.config.smoothing_tau)
        total = ce + self.config.smoothing_weight * smooth
        return total, {"loss": float(total.detach()), "ce": float(ce.detach()), "smooth": float(smooth.detach())}


def build(config: MstcnHeatmapConfig) -> MstcnHeatmap:
    return MstcnHeatmap(config)
