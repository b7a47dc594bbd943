"""The models by name: a plain dict from name to its config class and builder (no registration at import, no
dotted-path strings). `ergoedge train --model NAME`, checkpoints and the exporter all go through `MODELS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.errors import InputError
from edge.models.mtl_gcn_edtcn import MtlGcnEdtcnConfig, build as build_mtl_gcn_edtcn
from edge.models.vae_reba import VaeRebaConfig, build as build_vae_reba
from edge.models.mstcn_heatmap import MstcnHeatmapConfig, build as build_mstcn_heatmap
from edge.models.edge_stream import EdgeStreamConfig, build as build_edge_stream
from edge.models.lifter_2d3d import Lifter2d3dConfig, build as build_lifter_2d3d
from edge.models.d2sta_aqa import D2staAqaConfig, build as build_d2sta_aqa


@dataclass(frozen=True)
class ModelEntry:
    """How to make one model: its frozen config dataclass (with a `data: DataSpec` field) and the function that
    builds the torch module from such a config. `task` says which targets it learns (for data and metrics):
    "segmentation", "reba", "segmentation+reba", "quality" or "lifting". `train_defaults`: what the model trains
    best with, as changes to the defaults in the tables of a `--config` file ({"train": {...}, "data": {...},
    "model": {...}}); the user's file (key by key) and command line win over them."""

    config: type
    build: Callable[[Any], Any]
    task: str
    train_defaults: dict = field(default_factory=dict)


# Augmentation by playback speed alone (edge.datasets.augment.AugmentConfig's other steps off).
_SPEED_ONLY = {"speed_range": [0.8, 1.25], "rotate_deg": 0.0, "scale_range": [1.0, 1.0], "mirror_p": 0.0,
               "drop_p": 0.0}


def _every_video(epochs: int, **train) -> dict:
    """Training defaults that train on every training video (none held out) and keep the last of `epochs` cosine
    epochs, with playback speed changed; `train` adds TrainConfig settings."""
    return {"train": {**train, "epochs": epochs, "schedule": "cosine", "keep": "last"},
            "data": {"val_fraction": 0.0, "augment": _SPEED_ONLY}}


MODELS: dict[str, ModelEntry] = {
    "mtl_gcn_edtcn": ModelEntry(MtlGcnEdtcnConfig, build_mtl_gcn_edtcn, task="segmentation+reba",
                                # edge_stream's recipe as it was (below): every training video, the last of 80
                                # cosine epochs, playback speed x 0.8-1.25. Over 5 folds of UW-IOM's 15 training videos
                                # (benchmarks/uwiom_folds.py, seed 0) F1@10 / edit / REBA MSE 92.0 / 87.0 / 0.51
                                # against 89.1 / 84.3 / 0.49 with 20 % held out for early stopping on the loss, 50
                                # constant epochs and no speed change (uwiom-dev's own 3 videos: 93.6 / 89.1 / 0.37
                                # against 92.5 / 87.6 / 0.40).
                                train_defaults=_every_video(80)),
    "vae_reba": ModelEntry(VaeRebaConfig, build_vae_reba, task="reba",
                           # Early stopping on the validation REBA MSE, not the loss: the loss holds the alignment
                           # KL(q_teacher || q_pose), which grows on unseen videos as the pose latent sharpens
                           # while the REBA error still falls, so watching it stopped at epoch 3 with a nearly
                           # constant REBA. Over 5 folds of UW-IOM's 15 training videos (benchmarks/uwiom_folds.py,
                           # seed 0) REBA MSE 0.49 against 1.16 (uwiom-dev's own 3 videos: 0.34 against 0.99).
                           train_defaults={"train": {"monitor": "reba_mse", "patience": 15}}),
    "mstcn_heatmap": ModelEntry(MstcnHeatmapConfig, build_mstcn_heatmap, task="segmentation",
                                # 2 windows a batch, for enough steps an epoch; edge_stream's recipe otherwise (every
                                # training video, the last of 40 cosine epochs, playback speed x 0.8-1.25): on
                                # uwiom-dev's 3 held-out videos (the two commands, seeds 0 and 1) F1@10 / edit /
                                # accuracy 93.3 / 88.0 / 88.0 and 92.9 / 87.3 / 87.8 against 92.1 / 85.8 / 85.7 and
                                # 92.2 / 87.1 / 86.4 with 20 % held out for early stopping on F1@10 (50 epochs),
                                # in the same 7.5 minutes on one thread; over 5 folds of its 15 training videos
                                # (benchmarks/uwiom_folds.py, seed 0) 92.2 / 86.8 / 87.0 against 91.0 / 85.9 / 84.3.
                                train_defaults=_every_video(40, batch_size=2)),
    "edge_stream": ModelEntry(EdgeStreamConfig, build_edge_stream, task="segmentation+reba",
                              # All training videos and the last cosine epoch (of 80 then): on uwiom-dev's held-out
                              # videos F1@10 91.9 / edit 86.7 / MSE 0.45 (3 seeds) against 90.3 / 84.3 / 0.57 with
                              # 20 % held out for early stopping (set data.val_fraction to get it back).
                              # Playback speed x 0.8-1.25 (UW-IOM's subjects were filmed at 7.8-10.6 fps, read
                              # as 10): over 5 folds of its 15 training videos (benchmarks/uwiom_folds.py, 2
                              # seeds) F1@10 / edit / MSE 89.2 / 83.8 / 0.53 against 87.4 / 82.5 / 0.57 without;
                              # turning the people (they face a fixed camera), mirroring, scaling and dropping
                              # joints cost accuracy. A [data.augment] table in a --config file changes these key
                              # by key (speed_range = [1.0, 1.0]: none).
                              # The pelvis's motion over 1, 2, 4, 8 and 16 frames (root_lags, which needs the
                              # path through the room: data.norm.root = "first"): over the same 5 folds and 2
                              # seeds F1@10 / edit / MSE 90.7 / 85.6 / 0.52 against 89.2 / 83.8 / 0.53 without
                              # (lags up to 8 frames: 90.1 / 84.9 / 0.52).
                              # Off takes both: [model] root_lags = [] and [data.norm] root = "frame"
                              # (EdgeStreamConfig.check_norm refuses one without the other).
                              # 25.6 s of each video before every 25.6 s training window read, unscored
                              # (data.context_s): with 8 layers the widest layer's oldest tap reached 25.6 s
                              # back, so without it that tap never saw a real frame in training and kept its
                              # random initial weights. Same 5 folds, seeds 0 and 1: 90.7 / 86.6 / 0.51 and 90.7
                              # / 86.2 / 0.52 against 90.3 / 85.0 / 0.51 and 90.8 / 85.8 / 0.53 (51.2 s: 91.0 /
                              # 86.9 / 0.51, 90.6 / 86.1 / 0.51, for half as much training time again).
                              # 160 epochs, not 80: same 5 folds, seeds 0 and 1, 91.3 / 86.7 / 0.51 and 91.5 /
                              # 86.6 / 0.52; the offline twin 94.1 / 89.6 / 0.49 and 94.0 / 89.6 / 0.47 against
                              # 93.9 / 89.2 / 0.48 and 93.5 / 88.6 / 0.47. 240 epochs gave little more: causal
                              # 92.0 / 86.7 / 0.52 and 91.5 / 86.3 / 0.53, the twin 93.9 / 89.3 / 0.48 (seed 0).
                              # 7 layers a stage, not 8 (each stage sees 25.5 s back, not 51.1 s): same 5 folds,
                              # seeds 0/1/2, 92.5 / 88.3 / 0.52, 91.7 / 86.5 / 0.53 and 92.6 / 88.3 / 0.53 against
                              # 8 layers' 91.3 / 86.7 / 0.51, 91.5 / 86.6 / 0.52 and 91.8 / 87.5 / 0.52 (means
                              # 92.3 / 87.7 / 0.53 against 91.5 / 86.9 / 0.52), training a sixth faster (6
                              # layers: 91.7 / 86.5 / 0.53; 1 s of latency, examples/edge_stream_delay.toml,
                              # 93.0 / 88.2 / 0.47 against 92.6 / 87.6 / 0.47 with 8). The offline twin keeps 8
                              # (examples/edge_stream_offline.toml): 7 gave it 93.6 / 88.7 / 0.45.
                              train_defaults={"train": {"epochs": 160, "lr": 3e-3, "schedule": "cosine",
                                                        "monitor": "f1@10", "patience": 30},
                                              "data": {"val_fraction": 0.0, "augment": _SPEED_ONLY,
                                                       "context_s": 25.6, "norm": {"root": "first"}},
                                              "model": {"layers": 7, "root_lags": [1, 2, 4, 8, 16]}}),
    "lifter_2d3d": ModelEntry(Lifter2d3dConfig, build_lifter_2d3d, task="lifting"),
    "d2sta_aqa": ModelEntry(D2staAqaConfig, build_d2sta_aqa, task="quality"),
}


def model_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}") from None
