"""A tiny registry model for the training tests (the real models live in edge/models), and a command-line entry
that registers it first, for the processes that torchrun starts:

    torchrun --nproc_per_node 2 tests/train_helpers.py train --model tiny ...

The model: a temporal convolution over the flattened joints, heads for the activity classes, the REBA total and
partials, and one quality score per sequence; its loss is masked cross-entropy plus masked MSEs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from edge.models.base import DataSpec, masked_mean
from edge.models.registry import MODELS, ModelEntry
from edge.skeletons import get_layout


@dataclass(frozen=True)
class TinyConfig:
    """hidden: channels of the one temporal convolution; dropout: on its output (training only)."""

    data: DataSpec = field(default_factory=DataSpec)
    hidden: int = 16
    dropout: float = 0.1


class Tiny(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        joints = get_layout(config.data.layout).num_joints
        self.conv = nn.Conv1d(joints * 3, config.hidden, 5, padding=2)
        self.drop = nn.Dropout(config.dropout)
        self.classes = nn.Linear(config.hidden, max(config.data.num_classes, 1))
        self.reba = nn.Linear(config.hidden, 1 + len(config.data.partials))
        self.quality = nn.Linear(config.hidden, 1)

    def forward(self, batch):
        x = batch["joints"].flatten(2).transpose(1, 2)  # (B, J*3, T)
        h = self.drop(torch.relu(self.conv(x))).transpose(1, 2)  # (B, T, H)
        reba = self.reba(h)
        mask = batch["mask"].unsqueeze(2).float()
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
        return {"activity_logits": self.classes(h), "reba": reba[..., 0] + 4.0, "reba_partials": reba[..., 1:] + 2,
                "quality": self.quality(pooled)[:, 0]}

    def loss(self, outputs, batch):
        mask = batch["mask"]
        labelled = mask & (batch["activity"] >= 0)
        target = torch.where(labelled, batch["activity"], torch.zeros_like(batch["activity"]))
        ce = masked_mean(F.cross_entropy(outputs["activity_logits"].transpose(1, 2), target, reduction="none"),
                         labelled)
        known = ~torch.isnan(batch["reba"])
        reba = masked_mean((outputs["reba"] - torch.nan_to_num(batch["reba"])) ** 2, mask & known)
        total = ce + 0.1 * reba
        return total, {"ce": float(ce.detach()), "reba_mse": float(reba.detach())}


def register(monkeypatch=None) -> None:
    """Put `tiny` into the registry (through pytest's monkeypatch when given, so that it is taken out again)."""
    entry = ModelEntry(config=TinyConfig, build=Tiny, task="segmentation+reba")
    if monkeypatch is not None:
        monkeypatch.setitem(MODELS, "tiny", entry)
    else:
        MODELS["tiny"] = entry


if __name__ == "__main__":
    from edge.cli import main

    register()
    sys.exit(main())
