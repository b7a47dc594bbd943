"""Small `edge_stream` checkpoints for the export and activity-stage tests: one trained a few steps on random data,
and one set by hand whose activity is a threshold on the head's height (for lift segments and rules whose outcome
the test knows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge.models.base import REBA_PARTIALS, DataSpec
from edge.models.edge_stream import EdgeStreamConfig, build
from edge.skeletons import get_layout
from edge.train.checkpoint import save_checkpoint
from edge.train.config import NormConfig

CLASSES = ("walk", "stand", "bend", "stoop_lift")
SMALL = dict(channels=12, refine_channels=8, layers=4, kernel=3, stages=2, velocity=True)


def trained_checkpoint(path: Path, norm: NormConfig = NormConfig(), seed: int = 0, steps: int = 5,
                       layout: str = "uwiom15", delay: int = 0, partials: tuple = REBA_PARTIALS) -> Path:
    """A small edge_stream after a few Adam steps on random sequences (weights away from their initial values);
    `delay`: its latency in frames; `partials`: the REBA partials it predicts (UW-IOM's release has none)."""
    torch.manual_seed(seed)
    config = EdgeStreamConfig(data=DataSpec(layout=layout, classes=CLASSES, partials=tuple(partials), fps=10.0),
                              delay=delay, **SMALL)
    model = build(config)
    g = torch.Generator().manual_seed(seed)
    joints = get_layout(layout).num_joints
    batch = {"joints": 0.3 * torch.randn(2, 60, joints, 3, generator=g), "mask": torch.ones(2, 60, dtype=torch.bool),
             "activity": torch.randint(0, len(CLASSES), (2, 60), generator=g),
             "reba": torch.randint(1, 12, (2, 60), generator=g).float(),
             "reba_partials": torch.randint(1, 4, (2, 60, len(partials)), generator=g).float()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss, _ = model.loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return save_checkpoint(path, "edge_stream", config, model.eval(), norm, steps, {"command": ["test"]})


def head_height_checkpoint(path: Path, threshold: float, classes=("stand", "stoop_lift")) -> Path:
    """An edge_stream whose second class wins exactly when the head is below `threshold` (normalised z, pelvis
    at 0), and whose REBA is 4 throughout: every weight 0 but the first stage's input, which passes the head's z
    through, and its output layer (residual layers with zero weights pass their input on)."""
    config = EdgeStreamConfig(data=DataSpec(layout="uwiom15", classes=tuple(classes), fps=10.0), channels=4,
                              layers=2, stages=1, velocity=False)
    model = build(config)
    head_z = get_layout("uwiom15").index("head") * 3 + 2
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        stage = model.stages[0]
        stage.inp.weight[0, head_z, 0] = 1.0
        stage.out.weight[1, 0, 0] = -50.0
        stage.out.bias[1] = 50.0 * threshold
        model.reba_head.bias[0] = 4.0
    return save_checkpoint(path, "edge_stream", config, model.eval(), NormConfig(), 0, {"command": ["test"]})


def head_heights(joints: np.ndarray, up, fps: float, norm: NormConfig = NormConfig()) -> np.ndarray:
    """The normalised head height of uwiom15 joints resampled to 10 fps, as training prepares them."""
    from edge.datasets.sequence import Sequence, resample
    from edge.train.normalise import normalise_joints

    seq = resample(Sequence(layout="uwiom15", fps=fps, joints=joints, up=np.asarray(up, float)), 10.0)
    normalised, _ = normalise_joints(seq.joints, seq.up, "uwiom15", norm)
    return normalised[:, get_layout("uwiom15").index("head"), 2]
