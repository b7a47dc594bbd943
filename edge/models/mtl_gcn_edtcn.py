"""`mtl_gcn_edtcn`: the multi-task model of Parsa & Banerjee, "A Multi-Task Learning Approach for Human Activity
Segmentation and Ergonomics Risk Assessment" (WACV 2021), from 3D skeletons.

    joints (B, T, J, 3) -> GCN backbone -> shared per-frame features (B, T, F)
        -> ED-TCN head -> activity_logits (B, T, C)
        -> [features (+ softmax(activity_logits)) for "emb"] -> linear, tanh -> LSTM -> reba (B, T), reba_partials

From the paper and its release (MTL-ERA): a graph-convolutional backbone over the skeleton with ST-GCN's spatial
configuration partitioning (self, centripetal, centrifugal; `edge.models.graph.spatial_partitions`), whose per-frame
joint features are flattened and shared by both heads; an encoder-decoder TCN (Lea et al., CVPR 2017: temporal
convolutions with pooling down, upsampling with convolutions up) for per-frame activity segmentation; a
unidirectional multi-layer LSTM behind a tanh-activated linear layer for per-frame REBA regression; the "base"
variant feeding the shared features to both heads, and the "emb" variant (the paper's best, MTL-Emb) concatenating
the activity head's softmax to the REBA head's input, gradients flowing through it; cross-entropy for the
activities, mean squared error for REBA; task weights learned with the losses.

Decided here:
- ST-GCN units (spatial graph convolution with a learnable edge-importance mask per layer, batch norm, ReLU,
  temporal convolution, batch norm, residual) as the paper describes the backbone; the release's own backbone has
  neither temporal convolutions nor edge importance. No temporal stride: both heads need every frame.
- Task weights: homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018) with one learned log-variance s per
  task: exp(-s) CE + s/2 for the activities, exp(-s) MSE / 2 + s/2 for REBA and for the partials. The release learns
  plain multiplicative weights clamped at >= 0.5 after every step, which the loss itself drives down to the clamp;
  the uncertainty form learns a weight that stays bounded without a clamp. A task without labelled frames in a batch
  contributes nothing, its s included (else its s/2 term alone would push s down without bound).
- Batch norm over real frames only (`MaskedBatchNorm`), and every layer's output zeroed at padded frames: in eval
  mode a sequence's outputs do not depend on its batch or padding (ED-TCN pooling included, see
  `edge.models.layers.EncoderDecoderTCN`).
- Sizes for 2 CPU cores (the release: 10 GCN layers of 64-256 channels, a 2048-wide shared feature, ED-TCN 4 x 50
  with kernel 4, a 3-layer LSTM of 1024): defaults below, 713,636 parameters (2.9 MB float32) for UW-IOM's 15 joints,
  17 classes and 9 partials. An odd ED-TCN kernel keeps its convolutions centred.
- REBA partials (`DataSpec.partials`) from one more linear layer on the LSTM output, weighted as a third task.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from edge.errors import InputError
from edge.models.base import DataSpec, masked_mean
from edge.models.graph import spatial_partitions
from edge.models.layers import EncoderDecoderTCN
from edge.skeletons import get_layout

VARIANTS = ("base", "emb")
TASKS = ("activity", "reba", "partials")  # the order of `task_log_vars`


@dataclass(frozen=True)
class MtlGcnEdtcnConfig:
    """The model's sizes. Defaults train on UW-IOM on 2 CPU cores; the release's sizes are in the module docstring."""

    data: DataSpec = DataSpec()
    variant: str = "emb"  # "base": shared features to both heads; "emb": the activity softmax joins the REBA input
    gcn_channels: tuple[int, ...] = (32, 32, 64, 64)  # one ST-GCN unit per entry
    gcn_kernel: int = 9  # temporal convolution of each unit, frames (0.9 s at 10 fps, ST-GCN's 9 taps)
    feature_dim: int = 128  # shared per-frame feature: the last unit's (channels x joints) projected to this
    edtcn_channels: tuple[int, ...] = (64, 64, 64, 64)  # encoder levels (each pools by 2); decoder mirrors them
    edtcn_kernel: int = 5  # frames, at every level
    lstm_input: int = 128  # tanh-activated projection in front of the LSTM (the release: 256)
    lstm_hidden: int = 128  # the release: 1024
    lstm_layers: int = 2  # the release: 3
    dropout: float = 0.1

    def __post_init__(self):
        for f in fields(self):  # lists from JSON/TOML configs
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        if self.variant not in VARIANTS:
            raise InputError(f"mtl_gcn_edtcn: variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        for name in ("gcn_channels", "edtcn_channels"):
            value = getattr(self, name)
            if not value or not all(isinstance(c, int) and c > 0 for c in value):
                raise InputError(f"mtl_gcn_edtcn: {name} must be a non-empty list of positive integers, got {value!r}")
        for name in ("gcn_kernel", "edtcn_kernel"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1 or value % 2 == 0:
                raise InputError(f"mtl_gcn_edtcn: {name} must be an odd positive integer, got {value!r}")
        for name in ("feature_dim", "lstm_input", "lstm_hidden", "lstm_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"mtl_gcn_edtcn: {name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"mtl_gcn_edtcn: dropout must be in [0, 1), got {self.dropout!r}")


def _frames(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, T) mask -> float (B, 1, T, 1, ...) broadcastable over `x` (B, C, T, ...)."""
    return mask.to(x.dtype).reshape(mask.shape[0], 1, mask.shape[1], *([1] * (x.dim() - 3)))


class MaskedBatchNorm(nn.Module):
    """Batch norm over channel 1 of (B, C, T, ...) whose training statistics come from the real frames only, so that
    padding neither shifts them nor differs between training and evaluation; the output is zero at padded frames."""

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = _frames(mask, x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            # Few passes over x (these layers are memory-bound on a CPU): E[x^2] - E[x]^2 over the real values.
            dims = [0] + list(range(2, x.dim()))
            n = m.expand_as(x[:, :1]).sum().clamp(min=2)
            xm = x * m
            mean = xm.sum(dims) / n
            var = ((xm * xm).sum(dims) / n - mean * mean).clamp(min=0.0)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / (n - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * torch.rsqrt(var + self.eps)
        shift = self.bias - mean * scale
        return torch.addcmul(shift.view(shape), x, scale.view(shape)) * m


class GraphConvUnit(nn.Module):
    """One ST-GCN unit on (B, C, T, J): spatial graph convolution over the K partitions, each adjacency scaled by a
    learned edge-importance mask, then batch norm, ReLU, temporal convolution, batch norm, dropout, residual, ReLU."""

    def __init__(self, c_in: int, c_out: int, partitions: torch.Tensor, kernel: int, dropout: float,
                 residual: bool = True):
        super().__init__()
        self.register_buffer("partitions", partitions)
        self.importance = nn.Parameter(torch.ones_like(partitions))
        self.spatial = nn.Conv2d(c_in, c_out * partitions.shape[0], kernel_size=1)
        self.norm1 = MaskedBatchNorm(c_out)
        self.temporal = nn.Conv2d(c_out, c_out, kernel_size=(kernel, 1), padding=(kernel // 2, 0))
        self.norm2 = MaskedBatchNorm(c_out)
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        if residual and c_in != c_out:
            self.res_conv, self.res_norm = nn.Conv2d(c_in, c_out, kernel_size=1), MaskedBatchNorm(c_out)
        else:
            self.res_conv = self.res_norm = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, _, t, j = x.shape
        k = self.partitions.shape[0]
        y = self.spatial(x).view(b, k, -1, t, j)
        # Columns of a partition are receivers (each column sums to 1 over the partitions: an average).
        y = torch.einsum("bkctv,kvw->bctw", y, self.partitions * self.importance)
        y = F.relu(self.norm1(y, mask))
        y = self.dropout(self.norm2(self.temporal(y), mask))
        if self.res_conv is not None:
            y = y + self.res_norm(self.res_conv(x), mask)
        elif self.residual:
            y = y + x
        return F.relu(y)  # zero at padded frames: every term is


class GcnBackbone(nn.Module):
    """joints (B, T, J, 3) -> shared features (B, T, feature_dim): input batch norm per joint coordinate (as
    ST-GCN), the ST-GCN units, each frame's (channels x joints) flattened and projected, ReLU."""

    def __init__(self, config: MtlGcnEdtcnConfig):
        super().__init__()
        layout = get_layout(config.data.layout)
        partitions = torch.from_numpy(spatial_partitions(layout))
        self.input_norm = MaskedBatchNorm(3 * layout.num_joints)
        units, c_in = [], 3
        for i, c_out in enumerate(config.gcn_channels):
            units.append(GraphConvUnit(c_in, c_out, partitions, config.gcn_kernel, config.dropout, residual=i > 0))
            c_in = c_out
        self.units = nn.ModuleList(units)
        self.project = nn.Linear(c_in * layout.num_joints, config.feature_dim)

    def forward(self, joints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, j, c = joints.shape
        x = self.input_norm(joints.reshape(b, t, j * c).transpose(1, 2), mask)  # (B, J*3, T)
        x = x.reshape(b, j, c, t).permute(0, 2, 3, 1)  # (B, 3, T, J)
        for unit in self.units:
            x = unit(x, mask)
        x = x.permute(0, 2, 1, 3).reshape(b, t, -1)  # (B, T, C*J)
        return F.relu(self.project(x)) * mask.unsqueeze(-1).to(x.dtype)


class RebaHead(nn.Module):
    """(B, T, D) -> linear, tanh -> LSTM -> REBA total (B, T) and, when asked, the partials (B, T, P)."""

    def __init__(self, d_in: int, config: MtlGcnEdtcnConfig):
        super().__init__()
        self.project = nn.Linear(d_in, config.lstm_input)
        self.lstm = nn.LSTM(config.lstm_input, config.lstm_hidden, num_layers=config.lstm_layers, batch_first=True,
                            dropout=config.dropout if config.lstm_layers > 1 else 0.0)
        self.total = nn.Linear(config.lstm_hidden, 1)
        n = len(config.data.partials)
        self.partials = nn.Linear(config.lstm_hidden, n) if n else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, _ = self.lstm(torch.tanh(self.project(x)))
        return self.total(h).squeeze(-1), (self.partials(h) if self.partials is not None else None)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean squared error over real frames with a known target, and how many values entered it. NaN targets are
    filled before the difference so that no NaN reaches the backward pass."""
    known = torch.isfinite(target)
    sq = (pred - torch.where(known, target, torch.zeros_like(target))) ** 2
    values = torch.where(known, sq, torch.full_like(sq, float("nan")))
    count = int((mask.reshape(mask.shape + (1,) * (sq.dim() - mask.dim())) & known).sum())
    return masked_mean(values, mask), count


class MtlGcnEdtcn(nn.Module):
    """The model; `forward(batch)` and `loss(outputs, batch)` follow `edge.models.base`."""

    def __init__(self, config: MtlGcnEdtcnConfig):
        super().__init__()
        self.config = config
        c = config.data.num_classes
        self.backbone = GcnBackbone(config)
        self.activity_head = EncoderDecoderTCN(config.feature_dim, config.edtcn_channels, c, config.edtcn_kernel,
                                               config.dropout)
        self.reba_head = RebaHead(config.feature_dim + (c if config.variant == "emb" else 0), config)
        # log sigma^2 per task (TASKS order): learned with the network, Kendall et al.'s task weighting.
        self.task_log_vars = nn.Parameter(torch.zeros(len(TASKS)))

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs)."""
        return ("joints", "mask")

    def forward(self, batch: dict) -> dict:
        joints = batch["joints"]
        mask = batch.get("mask")
        mask = torch.ones(joints.shape[:2], dtype=torch.bool, device=joints.device) if mask is None else mask.bool()
        # Padded frames and unseen joints (NaN) become zeros: a NaN would spread through the convolutions.
        joints = torch.where(mask[..., None, None] & torch.isfinite(joints), joints, torch.zeros_like(joints))
        features = self.backbone(joints, mask)
        logits = self.activity_head(features.transpose(1, 2), mask.unsqueeze(1).to(features.dtype)).transpose(1, 2)
        head_in = features if self.config.variant == "base" else torch.cat([features, logits.softmax(-1)], dim=-1)
        reba, partials = self.reba_head(head_in)
        out = {"activity_logits": logits, "reba": reba}
        if partials is not None:
            out["reba_partials"] = partials
        return out

    def task_weights(self) -> dict[str, float]:
        """exp(-s) per task: the factor each task's loss gets now (before the 1/2 of the regression tasks)."""
        return {name: float(torch.exp(-s)) for name, s in zip(TASKS, self.task_log_vars.detach())}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        mask = batch.get("mask")
        logits = outputs["activity_logits"]
        mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device) if mask is None else mask.bool()
        s = self.task_log_vars
        total = s.sum() * 0.0  # keeps the graph when no task has a target in this batch
        log: dict[str, float] = {}
        if batch.get("activity") is not None:
            labels = batch["activity"]
            keep = mask & (labels >= 0)
            if bool(keep.any()):
                ce = F.cross_entropy(logits[keep], labels[keep])
                total = total + torch.exp(-s[0]) * ce + 0.5 * s[0]
                log["activity_ce"] = float(ce.detach())
        regressions = (("reba", "reba", 1), ("reba_partials", "partials", 2))
        for key, name, i in regressions:
            if batch.get(key) is None or key not in outputs:
                continue
            mse, count = _masked_mse(outputs[key], batch[key], mask)
            if count:
                total = total + 0.5 * torch.exp(-s[i]) * mse + 0.5 * s[i]
                log[f"{name}_mse"] = float(mse.detach())
        log.update({f"weight_{name}": w for name, w in self.task_weights().items()})
        log["loss"] = float(total.detach())
        return total, log


def build(config: MtlGcnEdtcnConfig) -> MtlGcnEdtcn:
    """The model for `config`, with torch's current random state (seed it first for a reproducible build)."""
    if config.data.num_classes < 1:
        raise InputError("mtl_gcn_edtcn segments activities: its DataSpec needs the class names (data.classes)")
    get_layout(config.data.layout)
    return MtlGcnEdtcn(config)
