"""`ergoedge train`: any registry model on any data set, with early stopping, resume and data parallelism.

Per epoch: the epoch's windows (edge.train.batches.training_items) in a seeded order, this process's share of them
(edge.train.distributed), AdamW steps on each batch's loss (the model's own `loss`), then the validation split
scored on whole sequences (loss and every metric of the task, edge.train.evaluate). Everything random in an epoch
(window offsets, order, augmentation, dropout) is drawn from (seed, epoch), so a resumed run continues exactly as
an uninterrupted one would, and the same seed gives the same weights.

The run directory (`--out`, written by rank 0 only):
    run.json        how the run was made (command line, configs, data, splits, processes, versions) and its result
    metrics.jsonl   one line per epoch: train loss and terms, validation loss and metrics, learning rate, time,
                    what each process trained on (window count and a digest)
    curves.png      the training curves (redrawn at most every CURVES_EVERY_S and at the end)
    last.pt         the latest epoch, with the optimiser and early-stopping state (`--resume` continues from it)
    best.pt         the epoch with the best validation value (`train.monitor`), or the last one (`train.keep`);
                    what `ergoedge evaluate` scores
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from edge import __version__
from edge.errors import InputError
from edge.models.base import DataSpec
from edge.models.registry import ModelEntry, model_entry
from edge.paths import atomic_write, output_dir
from edge.train.batches import Item, collate, items_digest, make_item, training_items
from edge.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint, state_digest
from edge.train.config import TrainConfig, model_config, read_run_config, train_config_from_record, with_command_line
from edge.train.curves import plot_curves
from edge.train.data import check_task, data_spec, load_dataset, prepare, read_groups, select, split_keys
from edge.train.distributed import World
from edge.train.ensemble import ensemble_size, member_table, train_ensemble
from edge.train.evaluate import BEST, LAST, check_monitor, frame_weighted, metric_names, predict, task_metrics
from edge.train.progress import Progress

# curves.png is redrawn at most this often while training (drawing takes a fraction of a second), and at the end.
CURVES_EVERY_S = 30.0


@dataclass(frozen=True)
class TrainRequest:
    """What `ergoedge train` was asked: the command line's values (None: not given)."""

    model: str
    dataset: str
    data_dir: str | None
    out: str
    config_path: str | None = None
    epochs: int | None = None
    seed: int | None = None
    resume: bool = False
    command: tuple[str, ...] = ()
    member: int | None = None  # member i of an ensemble (edge.train.ensemble): seed + i, [model] members = 1


@dataclass(frozen=True, eq=False)
class _Setup:
    request: TrainRequest
    out: Path
    entry: ModelEntry
    config: TrainConfig
    model_table: dict
    groups: dict | None
    model_config: object
    splits: dict
    train_seqs: list
    train_cache: list[Item] | None
    val_items: list[Item]
    previous: Checkpoint | None


class _WithLoss(torch.nn.Module):
    """The model and its loss as one forward, so that data parallelism sees every parameter the loss uses."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.loss(self.model(batch), batch)


_STDERR = object()  # train's default stream: sys.stderr at the call, not at import (tests swap and close it)


def train(request: TrainRequest, progress=_STDERR) -> dict:
    """Train (or continue) a run; returns its summary. Data and configs are checked in every process before the
    processes meet, so bad input fails the same way everywhere."""
    world = World.from_environment()
    stream = sys.stderr if progress is _STDERR else progress  # None: quiet
    members = ensemble_size(request)
    if members > 1:
        return train_ensemble(request, members, train, world.size, stream)
    setup = _prepare(request)
    world.start()
    summary = _fit(setup, world, stream if world.is_main else None)
    # Only after a clean finish: with a process gone, the group's teardown would wait for it (torchrun stops the
    # others). A process leaving with its group alive can abort in gloo's threads at interpreter exit.
    world.stop()
    return summary


# ----------------------------------------------------------------------------------------------------------- setup


def _resume_from(request: TrainRequest, out: Path) -> tuple[Checkpoint, TrainConfig, dict]:
    if not (out / LAST).is_file():
        raise InputError(f"{out}: no run to resume (no {LAST}); leave out --resume to start one")
    previous = load_checkpoint(out / LAST)
    run = previous.run
    if (request.model, request.dataset) != (previous.model, run["dataset"]):
        raise InputError(f"{out} is a run of {previous.model} on {run['dataset']}; --resume needs the same "
                         f"--model and --dataset")
    config = train_config_from_record(run["train_config"])
    if request.seed is not None and request.seed + (request.member or 0) != config.seed:
        raise InputError(f"the run was seeded with {config.seed}; --resume cannot change --seed")
    if request.config_path is not None:
        given, table = read_run_config(request.config_path, model_entry(request.model).train_defaults)
        if request.member is not None:
            table = member_table(table)
        if dataclasses.replace(given, epochs=config.epochs, seed=config.seed) != config or table != run["model_table"]:
            raise InputError(f"{request.config_path} differs from the run's own config; --resume continues with the "
                             "run's (only --epochs may change)")
    if request.epochs is not None and request.epochs < previous.epoch:
        raise InputError(f"{out} has trained {previous.epoch} epochs already; --resume --epochs {request.epochs} "
                         f"would end it before its last checkpoint (give at least {previous.epoch})")
    return previous, with_command_line(config, epochs=request.epochs), run["model_table"]


def _prepare(request: TrainRequest) -> _Setup:
    out = output_dir(request.out)
    entry = model_entry(request.model)
    previous = None
    if request.resume:
        previous, config, table = _resume_from(request, out)
    else:
        if (out / LAST).exists() or (out / BEST).exists():
            raise InputError(f"{out} already holds a training run; --resume continues it, or give a new --out")
        config, table = read_run_config(request.config_path, entry.train_defaults)
        config = with_command_line(config, request.epochs, request.seed)
        if request.member is not None:
            config, table = dataclasses.replace(config, seed=config.seed + request.member), member_table(table)
    if config.monitor != "loss" and config.monitor not in metric_names(entry.task):
        raise InputError(f"train.monitor {config.monitor!r} is not a validation value of a {entry.task} model "
                         f"(choose loss, {', '.join(metric_names(entry.task))})")
    # The model's config is checked before any data is read; the data set fills in its DataSpec below.
    unfilled = model_config(entry.config, table, DataSpec())
    if hasattr(unfilled, "check_norm"):  # a model whose inputs need a particular normalisation says so
        unfilled.check_norm(config.data.norm)
    groups = previous.run.get("groups") if previous else (
        read_groups(config.data.groups) if config.data.groups else None)
    seqs = load_dataset(request.dataset, request.data_dir, config.data)
    seqs = prepare(seqs, config.data, layout=previous.spec.layout if previous else None, groups=groups)
    splits = previous.run["splits"] if previous else split_keys(seqs, config.data, config.seed)
    train_seqs, val_seqs = select(seqs, splits["train"]), select(seqs, splits["val"])
    if not train_seqs:
        raise InputError(f"no training sequences in {request.data_dir} (the run's training videos are "
                         f"{', '.join(splits['train'][:5])}...)")
    spec = data_spec(train_seqs, config.data)
    check_task(entry.task, train_seqs, spec, request.model)
    if config.keep == "best":  # with "last" the monitored value keeps nothing
        check_monitor(config.monitor, val_seqs)
    if previous is not None and spec != previous.spec:
        raise InputError(f"the data differ from the run's: {spec} instead of {previous.spec}")
    norm = config.data.norm
    cache = [make_item(s, spec, norm) for s in train_seqs] if config.data.augment is None else None
    return _Setup(request=request, out=out, entry=entry, config=config, model_table=table, groups=groups,
                  model_config=dataclasses.replace(unfilled, data=spec), splits=splits, train_seqs=train_seqs,
                  train_cache=cache, val_items=[make_item(s, spec, norm) for s in val_seqs], previous=previous)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run_record(setup: _Setup, world: World) -> dict:
    """How the run was made (stored in run.json and every checkpoint)."""
    if setup.previous is not None:
        run = dict(setup.previous.run)
        run["train_config"] = dataclasses.asdict(setup.config)  # --epochs may have changed
        run["resumed"] = [*run.get("resumed", []), {"at": _now(), "command": list(setup.request.command),
                                                    "processes": world.size}]
        return run
    request = setup.request
    return {
        "command": list(request.command), "started": _now(), "model": request.model, "task": setup.entry.task,
        "dataset": request.dataset,
        "data": None if request.data_dir is None else str(Path(request.data_dir).expanduser().resolve()),
        "config_file": None if request.config_path is None else str(Path(request.config_path).resolve()),
        "train_config": dataclasses.asdict(setup.config), "model_table": setup.model_table,
        "model_config": dataclasses.asdict(setup.model_config), "seed": setup.config.seed, "splits": setup.splits,
        "groups": setup.groups,
        "processes": world.size, "backend": world.backend,
        "versions": {"ergo_edge": __version__, "torch": str(torch.__version__), "numpy": np.__version__,
                     "python": platform.python_version(), "platform": platform.platform()},
    }


# -------------------------------------------------------------------------------------------------------- the loop


def _fresh_state() -> dict:
    return {"epoch": 0, "history": [], "best": None, "best_epoch": 0, "bad_epochs": 0, "stopped": False}


def _better(value, best, config: TrainConfig) -> bool:
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - config.min_delta if config.lower_is_better else value > best + config.min_delta


def _fit(setup: _Setup, world: World, progress) -> dict:
    config = setup.config
    torch.manual_seed(config.seed)
    model = setup.entry.build(setup.model_config).to(world.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = _fresh_state()
    if setup.previous is not None:
        model.load_state_dict(setup.previous.state_dict)
        optimizer.load_state_dict(setup.previous.training["optimizer"])
        state = {k: v for k, v in setup.previous.training.items() if k != "optimizer"}
    run = _run_record(setup, world)
    if world.is_main:
        setup.out.mkdir(parents=True, exist_ok=True)
        _write_run_json(setup.out, run, None)
    step = world.wrap(_WithLoss(model))
    drawn = time.monotonic()
    while not state["stopped"] and state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        started = time.monotonic()
        lr = _learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        trained = _train_epoch(step, model, optimizer, setup, world, epoch, progress)
        val = _validate(model, setup, world)
        value = None if val is None else val.get(config.monitor)
        improved = val is None or _better(value, state["best"], config)
        if improved:
            state.update(best=value, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["stopped"] = config.keep == "best" and val is not None and 0 < config.patience <= state["bad_epochs"]
        record = {"epoch": epoch, "lr": lr, "seconds": round(time.monotonic() - started, 3), **trained,
                  "val": val, "best": improved}
        state["epoch"] = epoch
        state["history"] = [*state["history"], record]
        if world.is_main:
            _save_epoch(setup, model, optimizer, run, state, improved or config.keep == "last")
            if time.monotonic() - drawn > CURVES_EVERY_S:
                plot_curves(state["history"], setup.out / "curves.png", config.monitor)
                drawn = time.monotonic()
            if progress is not None:
                progress.write(_epoch_line(record, config) + "\n")
    if world.is_main and state["history"]:
        plot_curves(state["history"], setup.out / "curves.png", config.monitor)
    digests = world.gather(state_digest(model.state_dict()))
    kept = state["epoch"] if config.keep == "last" else state["best_epoch"]
    result = {"epochs": state["epoch"], "best_epoch": state["best_epoch"], "best": state["best"],
              "kept_epoch": kept, "monitor": config.monitor, "stopped_early": state["stopped"],
              "state_digests": digests}
    if world.is_main:
        _write_run_json(setup.out, run, result)
    world.barrier()
    return {"run": str(setup.out), "rank": world.rank, "processes": world.size, **result}


def _learning_rate(config: TrainConfig, epoch: int) -> float:
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs))
    return config.lr


def _torch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def _train_epoch(step, model, optimizer, setup: _Setup, world: World, epoch: int, progress) -> dict:
    """One pass over this process's share of the epoch's windows; the loss and its terms averaged over every
    process's steps, and what each process trained on."""
    config = setup.config
    rng = np.random.default_rng([config.seed, epoch])
    whole = setup.entry.task == "quality"
    items = training_items(setup.train_seqs, setup.model_config.data, config.data, whole, rng, setup.train_cache)
    mine = world.shard([int(i) for i in rng.permutation(len(items))])
    batches = [mine[i:i + config.batch_size] for i in range(0, len(mine), config.batch_size)]
    torch.manual_seed(_torch_seed(config.seed, epoch, world.rank))
    model.train()
    bar = Progress(progress, len(batches), f"epoch {epoch}/{config.epochs}") if progress is not None else None
    total, terms = 0.0, {}
    for k, ids in enumerate(batches, 1):
        batch = {name: t.to(world.device) for name, t in collate([items[i] for i in ids]).items()}
        loss, parts = step(batch)
        if not torch.isfinite(loss):
            raise InputError(f"training diverged in epoch {epoch}: the loss is {float(loss)} (lower train.lr)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        total += float(loss.detach())
        for name, value in parts.items():
            terms[name] = terms.get(name, 0.0) + float(value)
        if bar is not None:
            bar.update(k, f"loss {total / k:.4f}")
    shares = world.gather({"steps": len(batches), "loss": total, "terms": terms, "windows": len(mine),
                           "data": items_digest([items[i] for i in mine])})
    steps = sum(s["steps"] for s in shares) or 1
    mean = {"loss": sum(s["loss"] for s in shares) / steps,
            "terms": {n: sum(s["terms"].get(n, 0.0) for s in shares) / steps
                      for n in sorted({n for s in shares for n in s["terms"]})}}
    if bar is not None:
        bar.clear()
    return {"train": mean, "processes": [{"rank": r, "windows": s["windows"], "data": s["data"]}
                                         for r, s in enumerate(shares)]}


def _validate(model, setup: _Setup, world: World) -> dict | None:
    """Loss and metrics on the validation split (whole sequences, shared out among the processes)."""
    items = setup.val_items
    if not items:
        return None
    mine = list(range(world.rank, len(items), world.size))
    preds = predict(model, [items[i] for i in mine], with_loss=True)
    merged = sorted((pair for part in world.gather(list(zip(mine, preds))) for pair in part), key=lambda p: p[0])
    preds = [p for _, p in merged]
    loss, terms = frame_weighted(preds, items)
    metrics = task_metrics(setup.entry.task, items, preds, setup.model_config.data.partials)
    return {"loss": loss, "terms": terms, **metrics}


# --------------------------------------------------------------------------------------------------------- outputs


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_run_json(out: Path, run: dict, result: dict | None) -> None:
    atomic_write(out / "run.json", json.dumps(_json_safe({**run, "result": result}), indent=2) + "\n")


def _save_epoch(setup: _Setup, model, optimizer, run: dict, state: dict, improved: bool) -> None:
    """best.pt (when improved), last.pt with what --resume needs, and metrics.jsonl."""
    out, epoch, norm = setup.out, state["epoch"], setup.config.data.norm
    if improved:
        save_checkpoint(out / BEST, setup.request.model, setup.model_config, model, norm, epoch, run)
    training = {**state, "optimizer": optimizer.state_dict()}
    save_checkpoint(out / LAST, setup.request.model, setup.model_config, model, norm, epoch, run, training)
    lines = "".join(json.dumps(_json_safe(h)) + "\n" for h in state["history"])
    atomic_write(out / "metrics.jsonl", lines)


def _epoch_line(record: dict, config: TrainConfig) -> str:
    text = f"epoch {record['epoch']}/{config.epochs}: train loss {record['train']['loss']:.4f}"
    val = record["val"]
    if val is not None:
        text += f", val loss {val['loss']:.4f}"
        if config.monitor != "loss" and isinstance(val.get(config.monitor), float):
            text += f", val {config.monitor} {val[config.monitor]:.4f}"
        text += " (best)" if record["best"] else ""
    return f"{text} [{record['seconds']:.1f} s]"
