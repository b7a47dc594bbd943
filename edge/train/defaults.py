"""The default weights the device runs out of the box, trained on synthetic data by one command each.

    edge_stream   coarse activities (walk, stand, bend, reach high, handle at mid height) and REBA (total and
                  partials) from BlazePose's 33 world landmarks, one frame at a time
    lifter_2d3d   COCO-17 2D keypoints -> 3D joints, for pose models that give only 2D

Each is `ergoedge train` with a recipe (`edge/data/recipes/<model>.toml`: the data, the synthetic data's settings,
epochs and seed), on synthetic data made in memory:

    ergoedge train --model edge_stream --dataset synthetic --config edge/data/recipes/edge_stream.toml --out RUN
    ergoedge train --model lifter_2d3d --dataset synthetic --config edge/data/recipes/lifter_2d3d.toml --out RUN

and the run's `best.pt` is the default. `install_default_weights` (`ergoedge train-defaults`, run by set-up) does
exactly that and copies each `best.pt` into the models directory as `<model>.pt`, listed with its sha256 in
`default_weights.json` (`edge.artifacts.weights_path` reads it back). It is keyed by a hash of the recipe, the code
that makes the data and the model, and the versions of ergo-edge, torch and numpy: while none of them changes, a
second call only checks the files (well under a second); when one changes, the weights are trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edge import __version__
from edge.artifacts import (
    DEFAULT_WEIGHTS,
    MANIFEST_FORMAT,
    WEIGHTS_MANIFEST,
    ModelError,
    load_weights_manifest,
    models_dir,
    sha256_file,
)
from edge.paths import atomic_write, exclusive_lock
from edge.train.evaluate import BEST

EDGE_ROOT = Path(__file__).resolve().parents[1]
RECIPES = EDGE_ROOT / "data" / "recipes"
# What decides the weights besides the recipe: the data (synthetic generator, scoring), the models and training.
_CODE = ("datasets", "models", "train", "scoring", "ergonomics", "data", "skeletons.py", "kinematics.py",
         "geometry.py", "signals.py", "config.py")
MAX_BYTES = 3 * 1024 * 1024  # each default checkpoint stays under 3 MB


def recipe_path(name: str) -> Path:
    if name not in DEFAULT_WEIGHTS:
        raise ModelError(f"unknown default model {name!r}; known: {', '.join(DEFAULT_WEIGHTS)}")
    return RECIPES / f"{name}.toml"


def training_command(name: str, out: str = "RUN") -> list[str]:
    """The one command that trains default model `name` (its recipe path relative to the repository)."""
    recipe = recipe_path(name).relative_to(EDGE_ROOT.parent)
    return ["ergoedge", "train", "--model", name, "--dataset", "synthetic", "--config", str(recipe), "--out", out]


def code_digest() -> str:
    """sha256 over the source and data files that decide the default weights (`_CODE`), in path order."""
    digest = hashlib.sha256()
    for entry in _CODE:
        path = EDGE_ROOT / entry
        files = sorted(p for p in path.rglob("*") if p.suffix in (".py", ".toml", ".json")) if path.is_dir() \
            else [path]
        for file in files:
            digest.update(str(file.relative_to(EDGE_ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def recipe_key(name: str) -> str:
    """What the weights of `name` are made from, as one hash: recipe, code, ergo-edge, torch and numpy versions."""
    parts = [name, recipe_path(name).read_text(encoding="utf-8"), code_digest(), __version__,
             str(torch.__version__), np.__version__]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _current(d: Path, name: str, key: str) -> dict | None:
    """The manifest entry of `name` when its checkpoint is intact and made from `key`; else None."""
    try:
        info = load_weights_manifest(d)["models"].get(name)
    except ModelError:
        return None
    return info if info and info.get("key") == key else None


def _listed(d: Path) -> dict:
    """The entries of the weights manifest as written, unchecked ({} when there is none or it is unreadable): the
    checked read fails as a whole while one model is being replaced."""
    try:
        models = json.loads((d / WEIGHTS_MANIFEST).read_text(encoding="utf-8")).get("models")
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in models.items() if isinstance(v, dict)} if isinstance(models, dict) else {}


def _train_one(d: Path, name: str, key: str, log) -> dict:
    """Train `name` by its recipe in a scratch run directory inside `d`; install its best.pt as `<name>.pt`."""
    from edge.train.loop import TrainRequest, train

    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f".train-{name}-", dir=d))
    try:
        run = scratch / "run"
        command = training_command(name, str(run))
        log(f"training the default {name} weights: {' '.join(training_command(name))}")
        # One thread: the same weights on any machine, and no oversubscription when the cores are shared (measured
        # with another training on this 2-core machine: an edge_stream epoch took about 2 s on one thread, 30 s on two).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            summary = train(TrainRequest(model=name, dataset="synthetic", data_dir=None, out=str(run),
                                         config_path=str(recipe_path(name)), command=tuple(command)), progress=None)
        finally:
            torch.set_num_threads(threads)
        size = (run / BEST).stat().st_size
        if size > MAX_BYTES:
            raise ModelError(f"the {name} recipe made a {size / 2**20:.1f} MB checkpoint (at most 3 MB); shrink it")
        staged = scratch / f"{name}.pt"
        shutil.copyfile(run / BEST, staged)
        with open(staged, "rb") as f:
            os.fsync(f.fileno())
        os.replace(staged, d / f"{name}.pt")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = round(time.monotonic() - started, 1)
    log(f"default {name} weights written to {d / (name + '.pt')} ({seconds:.0f} s)")
    return {"file": f"{name}.pt", "sha256": sha256_file(d / f"{name}.pt"), "bytes": size, "key": key,
            "command": " ".join(training_command(name)), "train_seconds": seconds,
            "best_epoch": summary["best_epoch"], "kept_epoch": summary["kept_epoch"], "monitor": summary["monitor"],
            "best": summary["best"]}


def install_default_weights(directory: str | os.PathLike | None = None, names=DEFAULT_WEIGHTS, force: bool = False,
                            log=print) -> dict:
    """Make sure the default weights of `names` are in the models directory (module doc); returns the weights
    manifest. Up to date (and not `force`): only checks the files."""
    d = models_dir(directory)
    keys = {name: recipe_key(name) for name in names}
    if not force and all(_current(d, name, key) for name, key in keys.items()):
        log(f"default weights ready in {d}")
        return load_weights_manifest(d)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the models directory {d}: {exc.strerror or exc}") from None
    with exclusive_lock(d / ".defaults.lock"):
        for stale in d.glob(".train-*-*"):  # left by an install that was killed
            shutil.rmtree(stale, ignore_errors=True)
        for name, key in keys.items():
            if not force and _current(d, name, key):  # up to date, or made by another process meanwhile
                continue
            info = _train_one(d, name, key, log)
            models = {k: v for k, v in _listed(d).items() if k != name and k in DEFAULT_WEIGHTS
                      and (d / f"{k}.pt").is_file() and sha256_file(d / f"{k}.pt") == v.get("sha256")}
            manifest = {"format": MANIFEST_FORMAT, "ergo_edge_version": __version__,
                        "models": dict(sorted({**models, name: info}.items()))}
            atomic_write(d / WEIGHTS_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return load_weights_manifest(d)


__all__ = ["MAX_BYTES", "code_digest", "install_default_weights", "recipe_key", "recipe_path", "training_command"]
