"""`d2sta_aqa`: a dual-stream STGCN with motion-aware dynamic joint grouping and two-stage attention that scores the
quality of a rehabilitation exercise (KIMORE, UI-PRMD) from a whole 3D skeleton sequence, written here from the
description of Kuang, Yin, Yang, Zhao & Sun, "Dual-Stream STGCN with Motion-Aware Grouping for Rehabilitation Action
Quality Assessment" (Sensors 26(1), 287, 2026), with the ST-GCN units of `edge.models.mtl_gcn_edtcn`.

    joints (B, T, J, 3) --------------------------> position stream: input norm, ST-GCN units -> (B, C, T, J)
    orientations (B, T, J, 4) or bone directions -> orientation stream: the same, own weights  -> (B, C, T, J)
        concatenated -> 1x1 convolution, batch norm, ReLU -> fused joint features (B, D, T, J)
    motion energy per joint (mean squared frame-to-frame displacement) -> soft rank among the sequence's joints
        -> learnable mask generator -> assignment of every joint to G groups (B, G, J), each joint's weights summing
        to 1; group 0 starts as the joints that move most, group G-1 as those that move least
    per group the weighted mean of its joints' features (B, G, T, D) -> masked average over `attention_stride`
        frames, sinusoidal frame position -> intra-group temporal self-attention (every group on its own) ->
        attention pooling over time (B, G, D) -> group embedding -> inter-group self-attention -> attention pooling
        over groups (B, D) -> MLP -> quality (B,)

From the paper (its abstract and summary; the full text was not available here): two streams, one on joint positions
and one on joint orientations, processed independently by STGCNs and then fused; the fused features clustered into 6
functional groups by a learnable mask generator driven by joint motion energy; intra-group temporal modelling and
inter-group spatial interaction by a two-stage attention; a regression to the clinical score; evaluation by MAD,
RMSE and MAPE on KIMORE and UI-PRMD (`edge.train.metrics.quality_metrics`). D-STGCNT (Mourchid & Slama, 2024) and
MR-STGN likewise combine an STGCN with temporal attention on positions and angles for these two data sets.

Decided here:
- Orientations. The batch field `orientations` (B, T, J, 4), unit quaternions (w, x, y, z) in the frame of `joints`
  (edge/models/base.py), is read with `orientation="quaternions"`; the sign is made canonical (w >= 0), since q
  and -q are one rotation. The project's KIMORE and UI-PRMD loaders do not read orientations yet, so the default,
  `orientation="bones"`, derives them from the joints: each joint's bone direction, the unit vector from its parent
  (the neighbour one hop nearer the layout's centre joint, `edge.models.graph`) to it; the centre joint's is 0.
  Bone directions carry the segment orientations without the twist about the bone, for any layout. A joint the
  data does not see is 0 in the batch (the root), so its bone points at the root: constant, not informative.
- Grouping. A joint's motion energy is its mean squared displacement between consecutive real frames, in the
  normalised units of `joints`. Its soft rank q in [0, 1] (0: moves most) is the mean over the other joints k of
  sigmoid((log e_k - log e_j) / rank_temperature): scale-free (a small and a large movement of the same joints
  group alike), ties get the average rank, and it is continuous in the input, so rounding cannot flip a group.
  Group g has a learnable centre c_g (initially (g + 1/2) / G) and all groups a learnable width w (initially
  1/(2G)); the mask generator's logits are -(q - c_g)^2 / (2 w^2) plus a learnable prior per group and joint
  (initially 0: which joints tend to belong together is learnt from the data), softmaxed over the groups. With
  25 joints and 6 groups the 4 joints that move most start in group 0.
- Attention: pre-norm blocks (self-attention, then a feed-forward layer, both residual) written here with padded
  keys masked out, so a sequence's score does not depend on its padding; additive attention pooling (a small MLP
  scores each frame or group, softmax) over time and then over groups. Frames are averaged in steps of
  `attention_stride` (masked) before the temporal attention: the ST-GCN's temporal convolutions already see the
  fine timing, and attention over T frames costs T^2.
- Loss: smooth L1 (Huber) on the quality scaled by `quality_range` to [0, 1], with `huber_beta` = 0.1 (5 points of
  KIMORE's 0-50 total score): quadratic for small errors, linear for the few recordings whose clinical score
  disagrees with their movement, which MSE would let dominate a small data set. The output is lo + (hi - lo) x the
  head's value, unclamped; the head starts at the middle of the range.
- Batch norm over real frames only, and every layer zeroing padded frames (`MaskedBatchNorm`, `GraphConvUnit`).
- Sizes for 2 CPU cores: defaults below, 236,350 parameters (0.95 MB float32) for kinect25 (quaternions: 236,496).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError
from edge.models.base import DataSpec
from edge.models.graph import adjacency, centre_joint, hop_distances, spatial_partitions
from edge.models.mtl_gcn_edtcn import GraphConvUnit, MaskedBatchNorm
from edge.skeletons import Layout, get_layout

ORIENTATIONS = ("bones", "quaternions")
MASKED = -1e9  # attention score of a padded key: exp underflows to exactly 0, with no NaN for an empty row
ENERGY_EPS = 1e-8  # squared normalised units per frame: the log energy of a joint that does not move


@dataclass(frozen=True)
class D2staAqaConfig:
    """The model's sizes and choices; defaults train on KIMORE on 2 CPU cores (module docstring)."""

    data: DataSpec = DataSpec(layout="kinect25")
    orientation: str = "bones"  # "bones": unit bone directions from the joints; "quaternions": batch["orientations"]
    stream_channels: tuple[int, ...] = (32, 32, 64)  # one ST-GCN unit per entry, in each stream
    gcn_kernel: int = 9  # temporal convolution of each unit, frames (ST-GCN's 9 taps)
    model_dim: int = 64  # fused joint features, group tokens and attention width
    groups: int = 6  # motion-aware joint groups (the paper's 6 functional groups)
    heads: int = 4  # attention heads (model_dim must divide by it)
    ffn_dim: int = 128  # feed-forward width of each attention block
    attention_stride: int = 2  # frames averaged into one token before the temporal attention
    rank_temperature: float = 0.25  # soft rank: log motion-energy difference that counts as "moves more"
    quality_range: tuple[float, float] = (0.0, 50.0)  # KIMORE's total clinical score; (0, 1) for UI-PRMD
    huber_beta: float = 0.1  # smooth L1 turns linear beyond this error, in quality_range units
    dropout: float = 0.1

    def __post_init__(self):
        for f in fields(self):  # lists from JSON/TOML configs
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        if self.orientation not in ORIENTATIONS:
            raise InputError(f"d2sta_aqa: orientation must be one of {', '.join(ORIENTATIONS)}, "
                             f"got {self.orientation!r}")
        if not self.stream_channels or not all(isinstance(c, int) and c > 0 for c in self.stream_channels):
            raise InputError(f"d2sta_aqa: stream_channels must be a non-empty list of positive integers, "
                             f"got {self.stream_channels!r}")
        for name in ("model_dim", "groups", "heads", "ffn_dim", "attention_stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"d2sta_aqa: {name} must be a positive integer, got {value!r}")
        if not isinstance(self.gcn_kernel, int) or self.gcn_kernel < 1 or self.gcn_kernel % 2 == 0:
            raise InputError(f"d2sta_aqa: gcn_kernel must be an odd positive integer, got {self.gcn_kernel!r}")
        if self.model_dim % self.heads:
            raise InputError(f"d2sta_aqa: model_dim ({self.model_dim}) must be a multiple of heads ({self.heads})")
        lo_hi = self.quality_range
        if len(lo_hi) != 2 or not all(math.isfinite(v) for v in lo_hi) or not lo_hi[0] < lo_hi[1]:
            raise InputError(f"d2sta_aqa: quality_range must be [low, high] with low < high, got {lo_hi!r}")
        for name in ("rank_temperature", "huber_beta"):
            if not getattr(self, name) > 0:
                raise InputError(f"d2sta_aqa: {name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"d2sta_aqa: dropout must be in [0, 1), got {self.dropout!r}")


# ------------------------------------------------------------------------------------------------- inputs


def bone_parents(layout: Layout | str) -> np.ndarray:
    """(J,) int: each joint's parent, the neighbour one hop nearer the layout's centre joint (the lowest index on a
    tie); -1 for the centre joint and for joints its bones do not reach."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    a = adjacency(layout)
    dist = hop_distances(a, centre_joint(layout))
    parents = np.full(layout.num_joints, -1, dtype=np.int64)
    for j in range(layout.num_joints):
        nearer = [k for k in np.flatnonzero(a[j]) if dist[k] == dist[j] - 1]
        if dist[j] > 0 and np.isfinite(dist[j]) and nearer:
            parents[j] = min(nearer)
    return parents


def bone_directions(joints: torch.Tensor, parents: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(B, T, J, 3) unit vectors from each joint's parent to the joint; 0 for a joint without a parent and for a
    bone shorter than `eps` (both ends unseen)."""
    vec = joints - joints[..., parents.clamp(min=0), :]
    length = vec.norm(dim=-1, keepdim=True)
    keep = (length > eps) & (parents >= 0).reshape(-1, 1)
    return torch.where(keep, vec / length.clamp(min=eps), torch.zeros_like(vec))


def canonical_quaternions(q: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Unit quaternions (..., 4) as (w, x, y, z) with w >= 0 (q and -q are the same rotation); 0 stays 0."""
    q = torch.where(q[..., :1] < 0, -q, q)
    return q / q.norm(dim=-1, keepdim=True).clamp(min=eps)


def motion_energy(joints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, J): each joint's mean squared displacement between consecutive real frames (0 with fewer than 2)."""
    step = (joints[:, 1:] - joints[:, :-1]).pow(2).sum(-1)  # (B, T-1, J)
    pairs = (mask[:, 1:] & mask[:, :-1]).to(joints.dtype)
    return (step * pairs.unsqueeze(-1)).sum(1) / pairs.sum(1, keepdim=True).clamp(min=1)


def motion_ranks(energy: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, J) soft rank of each joint's motion energy among the sequence's joints, in [0, 1]: 0 moves most, 1
    least, equal energies share the mean rank (module docstring)."""
    log_e = torch.log(energy + ENERGY_EPS)
    above = torch.sigmoid((log_e.unsqueeze(1) - log_e.unsqueeze(2)) / temperature)  # [b, j, k]: k moves more
    j = energy.shape[1]
    return (above.sum(-1) - 0.5) / max(j - 1, 1)  # the joint's own comparison is sigmoid(0) = 1/2


# ----------------------------------------------------------------------------------------------- modules


class MotionGrouping(nn.Module):
    """Soft ranks (B, J) -> assignment (B, G, J) of every joint to the G groups (softmax over groups): logits
    -(q - c_g)^2 / (2 w^2) + prior[g, j], with learnable centres c, width w and prior."""

    def __init__(self, groups: int, num_joints: int):
        super().__init__()
        self.centres = nn.Parameter((torch.arange(groups, dtype=torch.float32) + 0.5) / groups)
        self.log_width = nn.Parameter(torch.tensor(math.log(0.5 / groups)))
        self.prior = nn.Parameter(torch.zeros(groups, num_joints))

    def forward(self, ranks: torch.Tensor) -> torch.Tensor:
        d = (ranks.unsqueeze(1) - self.centres.view(1, -1, 1)) / self.log_width.exp()
        return (-0.5 * d * d + self.prior).softmax(dim=1)


class StreamEncoder(nn.Module):
    """(B, T, J, c_in) -> (B, C, T, J): input batch norm per joint channel (as ST-GCN), then ST-GCN units."""

    def __init__(self, c_in: int, config: D2staAqaConfig, partitions: torch.Tensor):
        super().__init__()
        self.input_norm = MaskedBatchNorm(c_in * partitions.shape[-1])
        units = []
        for i, c_out in enumerate(config.stream_channels):
            units.append(GraphConvUnit(c_in, c_out, partitions, config.gcn_kernel, config.dropout, residual=i > 0))
            c_in = c_out
        self.units = nn.ModuleList(units)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, j, c = x.shape
        x = self.input_norm(x.reshape(b, t, j * c).transpose(1, 2), mask)  # (B, J*c, T)
        x = x.reshape(b, j, c, t).permute(0, 2, 3, 1)
        for unit in self.units:
            x = unit(x, mask)
        return x


class AttentionBlock(nn.Module):
    """Pre-norm transformer layer on (N, L, D): multi-head self-attention that never attends to a key where `keep`
    (N, L) is false, then a feed-forward layer; both residual."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        n, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)  # (N, H, L, L)
        if keep is not None:
            scores = scores.masked_fill(~keep[:, None, None, :], MASKED)
        y = (self.dropout(scores.softmax(-1)) @ v).transpose(1, 2).reshape(n, length, d)
        x = x + self.dropout(self.out(y))
        return x + self.dropout(self.ffn(self.norm2(x)))


class AttentionPool(nn.Module):
    """(N, L, D) -> (N, D) and the weights (N, L): softmax over the kept positions of a small MLP's score."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.score(x).squeeze(-1)
        if keep is not None:
            s = s.masked_fill(~keep, MASKED)
        w = s.softmax(-1)
        return (w.unsqueeze(-1) * x).sum(1), w


def masked_average_frames(x: torch.Tensor, keep: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, D), (N, T) bool -> the mean of the real frames of each run of `stride` frames (N, ceil(T/s), D) and
    which runs hold a real frame. Runs start at frame 0, so padding at the end never changes a real run."""
    if stride == 1:
        return x, keep
    extra = -x.shape[1] % stride
    m = F.pad(keep.to(x.dtype), (0, extra))
    x = F.pad(x * keep.unsqueeze(-1).to(x.dtype), (0, 0, 0, extra))
    n, t, d = x.shape
    total = x.view(n, t // stride, stride, d).sum(2)
    count = m.view(n, t // stride, stride).sum(2)
    return total / count.clamp(min=1).unsqueeze(-1), count > 0


def sinusoid(length: int, dim: int, device=None) -> torch.Tensor:
    """(length, dim) sinusoidal position code of Vaswani et al. (2017)."""
    pos = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    code = torch.zeros(length, dim, device=device)
    code[:, 0::2] = torch.sin(pos * freq)
    code[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return code


# ------------------------------------------------------------------------------------------------- model


class D2staAqa(nn.Module):
    """The model; `forward(batch)` and `loss(outputs, batch)` follow `edge.models.base`."""

    def __init__(self, config: D2staAqaConfig):
        super().__init__()
        self.config = config
        layout = get_layout(config.data.layout)
        partitions = torch.from_numpy(spatial_partitions(layout))
        self.register_buffer("parents", torch.from_numpy(bone_parents(layout)), persistent=False)
        d, c = config.model_dim, config.stream_channels[-1]
        self.position_stream = StreamEncoder(3, config, partitions)
        self.orientation_stream = StreamEncoder(4 if config.orientation == "quaternions" else 3, config, partitions)
        self.fuse = nn.Conv2d(2 * c, d, kernel_size=1)
        self.fuse_norm = MaskedBatchNorm(d)
        self.grouping = MotionGrouping(config.groups, layout.num_joints)
        self.temporal = AttentionBlock(d, config.heads, config.ffn_dim, config.dropout)
        self.time_pool = AttentionPool(d)
        self.group_embedding = nn.Parameter(torch.zeros(config.groups, d))
        nn.init.normal_(self.group_embedding, std=0.02)
        self.spatial = AttentionBlock(d, config.heads, config.ffn_dim, config.dropout)
        self.group_pool = AttentionPool(d)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Dropout(config.dropout),
                                  nn.Linear(d, 1))
        nn.init.constant_(self.head[-1].bias, 0.5)  # the middle of quality_range

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Joints and orientations zeroed at padded frames and where not finite (a NaN would spread through the
        convolutions), and the (B, T) bool mask."""
        if batch.get("joints") is None:
            raise InputError("d2sta_aqa reads 3D joints: the batch has no 'joints'")
        joints = batch["joints"]
        mask = batch.get("mask")
        mask = torch.ones(joints.shape[:2], dtype=torch.bool, device=joints.device) if mask is None else mask.bool()
        real = mask[..., None, None]
        joints = torch.where(real & torch.isfinite(joints), joints, torch.zeros_like(joints))
        if self.config.orientation == "bones":
            return joints, bone_directions(joints, self.parents), mask
        q = batch.get("orientations")
        if q is None or q.shape != joints.shape[:3] + (4,):
            raise InputError("d2sta_aqa with orientation='quaternions' needs batch['orientations'] (B, T, J, 4); "
                             "use orientation='bones' for data without orientations")
        q = torch.where(real & torch.isfinite(q), q, torch.zeros_like(q))
        return joints, canonical_quaternions(q), mask

    def group_assignment(self, joints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, G, J): each joint's weight in each group, from its motion over the real frames."""
        ranks = motion_ranks(motion_energy(joints, mask), self.config.rank_temperature)
        return self.grouping(ranks)

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs)."""
        extra = ("orientations",) if self.config.orientation == "quaternions" else ()
        return ("joints", *extra, "mask")

    def forward(self, batch: dict) -> dict:
        joints, orientations, mask = self._inputs(batch)
        b, t = mask.shape
        g, d = self.config.groups, self.config.model_dim
        features = torch.cat([self.position_stream(joints, mask), self.orientation_stream(orientations, mask)], 1)
        features = F.relu(self.fuse_norm(self.fuse(features), mask))  # (B, D, T, J), 0 at padded frames
        assign = self.group_assignment(joints, mask)
        weights = assign / assign.sum(-1, keepdim=True).clamp(min=1e-6)  # a weighted mean over each group's joints
        tokens = torch.einsum("bdtj,bgj->bgtd", features, weights).reshape(b * g, t, d)
        tokens, keep = masked_average_frames(tokens, mask.repeat_interleave(g, 0), self.config.attention_stride)
        tokens = self.temporal(tokens + sinusoid(tokens.shape[1], d, tokens.device), keep)
        pooled, _ = self.time_pool(tokens, keep)  # (B*G, D)
        groups = self.spatial(pooled.view(b, g, d) + self.group_embedding)
        summary, _ = self.group_pool(groups)
        lo, hi = self.config.quality_range
        return {"quality": lo + (hi - lo) * self.head(summary).squeeze(-1)}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Smooth L1 over the sequences with a known quality, in quality_range units; 0 (with a graph) when none
        is known."""
        pred = outputs["quality"]
        target = batch.get("quality")
        known = torch.zeros_like(pred, dtype=torch.bool) if target is None else torch.isfinite(target)
        if not bool(known.any()):
            total = pred.sum() * 0.0
            return total, {"loss": 0.0}
        lo, hi = self.config.quality_range
        p, y = pred[known], target[known]
        total = F.smooth_l1_loss((p - lo) / (hi - lo), (y - lo) / (hi - lo), beta=self.config.huber_beta)
        mad = float((p - y).abs().mean().detach())
        return total, {"loss": float(total.detach()), "quality_huber": float(total.detach()), "quality_mad": mad}


def build(config: D2staAqaConfig) -> D2staAqa:
    """The model for `config`, with torch's current random state (seed it first for a reproducible build)."""
    get_layout(config.data.layout)
    return D2staAqa(config)
