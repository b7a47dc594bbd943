"""Checkpoints that rebuild their own model: `save_checkpoint`, `load_checkpoint`, `Checkpoint.build`.

A checkpoint is one torch file of plain data (loaded with `weights_only=True`: no pickled code):

    format, ergo_edge_version, model (registry name), task,
    config            the model's frozen config as a dict (`dataclasses.asdict`, its `data` DataSpec nested)
    layout, classes, partials, fps     the DataSpec again, readable without the config class
    normalisation     edge.train.config.NormConfig as a dict: what the inputs went through
    state_dict, state_digest (sha256 of the weights), epoch
    run               how the run was made: command line, training config, model table, data set and folder,
                      seed, splits (group keys), process count, versions of ergo-edge, torch, numpy and Python
    training          only in a run's last checkpoint: optimiser state and early-stopping history, for --resume

`load_checkpoint` rebuilds the config class of the named registry model from the dict (edge.config.from_mapping,
which checks it), so the file alone makes the model again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge import __version__
from edge.config import from_mapping
from edge.errors import InputError
from edge.models.registry import model_entry
from edge.paths import atomic_path
from edge.train.config import NormConfig

FORMAT = 1


def state_digest(state_dict: dict) -> str:
    """sha256 over the names, shapes, dtypes and bytes of every tensor, in name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        value = state_dict[name]
        tensor = value.detach().cpu().contiguous() if torch.is_tensor(value) else torch.as_tensor(value)
        h.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return h.hexdigest()


def plain(value):
    """`value` as the plain Python types a weights-only load accepts (numpy scalars and str subclasses such as
    torch's version string become float, int, str)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value) if type(value) in (list, tuple) else [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


@dataclass(frozen=True, eq=False)
class Checkpoint:
    model: str
    task: str
    config: Any  # the model's frozen config dataclass
    state_dict: dict
    norm: NormConfig
    epoch: int
    run: dict
    training: dict | None
    version: str
    path: Path

    @property
    def spec(self):
        return self.config.data

    def build(self):
        """The model, its weights loaded, in eval mode."""
        model = model_entry(self.model).build(self.config)
        model.load_state_dict(self.state_dict)
        return model.eval()


def save_checkpoint(path: str | os.PathLike, model_name: str, config, model, norm: NormConfig, epoch: int,
                    run: dict, training: dict | None = None) -> Path:
    """Write `model` (its state dict) with everything needed to rebuild it, atomically."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    data = {
        "format": FORMAT, "ergo_edge_version": __version__, "model": model_name,
        "task": model_entry(model_name).task, "config": dataclasses.asdict(config),
        "layout": config.data.layout, "classes": list(config.data.classes), "partials": list(config.data.partials),
        "fps": float(config.data.fps), "normalisation": dataclasses.asdict(norm),
        "state_dict": state, "state_digest": state_digest(state), "epoch": int(epoch), "run": plain(run),
        "training": None if training is None else {k: v if k == "optimizer" else plain(v)
                                                   for k, v in training.items()},
    }
    path = Path(path)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(data, tmp)
    return path


# What `save_checkpoint` writes and `load_checkpoint` reads, with its type ("training" may be None).
_FIELDS = {"model": str, "task": str, "config": dict, "state_dict": dict, "state_digest": str, "normalisation": dict,
           "epoch": int, "run": dict, "ergo_edge_version": str}


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """A checkpoint file, its model config rebuilt and checked; every problem is one `InputError` line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{path}: not a readable ergo-edge checkpoint ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not an ergo-edge checkpoint (format {FORMAT})")
    malformed = [key for key, kind in _FIELDS.items() if not isinstance(data.get(key), kind)]
    if malformed:
        raise InputError(f"{path}: not an ergo-edge checkpoint (field {malformed[0]!r} missing or malformed)")
    entry = model_entry(data["model"])
    config = from_mapping(entry.config, data["config"], f"{path.name}: config")
    try:
        digest = state_digest(data["state_dict"])
    except (TypeError, ValueError, RuntimeError):
        digest = None  # weights that are not tensors
    if digest != data["state_digest"]:
        raise InputError(f"{path}: the weights do not match their recorded digest (a damaged file)")
    return Checkpoint(model=data["model"], task=data["task"], config=config, state_dict=data["state_dict"],
                      norm=from_mapping(NormConfig, data["normalisation"], f"{path.name}: normalisation"),
                      epoch=int(data["epoch"]), run=data["run"], training=data.get("training"),
                      version=data["ergo_edge_version"], path=path)
