"""Ensembles trained apart: a model whose `[model] members` is N > 1 (edge_stream's `EdgeStreamConfig.members`).

`ergoedge train` trains it as N ordinary runs, one after another, into `RUN/member_<i>/` (each its own run directory:
run.json, metrics.jsonl, curves.png, best.pt, last.pt), member i with seed + i, so that each draws its own initial
weights, shuffling, augmentation and validation split, then joins their kept checkpoints (`best.pt`) into one
`RUN/best.pt` whose model averages them: what `ergoedge evaluate` scores and `ergoedge export` exports (one graph).
Trained together on the same batches instead (one run, the loss the members' mean), they gained nothing: the
default synthetic recipe with 3 members, seeds 0-4, 79.0 % real coarse accuracy against 80.4 % for ensembles of
separately trained runs (benchmarks/uwiom_experiments.md).

The joined run's splits: trained on every group a member trained on; validated and tested on the groups no member
trained on (every member's validation split, and held-out split, in common). `--resume` continues each member that
has a `last.pt` (`--epochs` may grow) and trains the others, then joins them again.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from edge.errors import InputError
from edge.models.base import DataSpec
from edge.models.registry import model_entry
from edge.paths import atomic_write, output_dir
from edge.train.checkpoint import load_checkpoint, save_checkpoint
from edge.train.config import model_config, read_run_config
from edge.train.evaluate import BEST, LAST

RUN_JSON = "run.json"


def member_dir(out: Path, index: int) -> Path:
    return out / f"member_{index}"


def member_table(table: dict) -> dict:
    """The `[model]` table of one member: the ensemble's, as one model."""
    return {**table, "members": 1}


def ensemble_size(request) -> int:
    """How many members the requested run trains apart (1: an ordinary run). A resumed run says it in its run.json;
    a new one in its config's `[model] members`."""
    if request.member is not None:
        return 1
    if request.resume:
        try:
            run = json.loads((Path(request.out) / RUN_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 1  # an ordinary run, or none: the ordinary resume says which
        members = run.get("members") if isinstance(run, dict) else None
        count = len(members) if isinstance(members, list) and members else 1
        if count > 1 and request.config_path is not None and _configured(request) != count:
            raise InputError(f"{request.config_path} asks for another number of members than the run's {count}; "
                             "--resume continues with the run's (only --epochs may change)")
        return count
    return _configured(request)


def _configured(request) -> int:
    """The members the request's config asks for (`[model] members`; 1 for a model without them)."""
    entry = model_entry(request.model)
    _, table = read_run_config(request.config_path, entry.train_defaults)
    return int(getattr(model_config(entry.config, table, DataSpec()), "members", 1))


def train_ensemble(request, members: int, train_member, world_size: int, progress) -> dict:
    """Train the `members` runs of `request` with `train_member` (edge.train.loop.train), then join them (module
    doc); returns the summary `train` returns, its per-run values as lists over the members."""
    if world_size > 1:
        raise InputError("an ensemble (model.members > 1) trains its members one after another in one process; run "
                         "it without torchrun")
    out = output_dir(request.out)
    if not request.resume and ((out / BEST).exists() or (out / RUN_JSON).exists()):
        raise InputError(f"{out} already holds a training run; --resume continues it, or give a new --out")
    out.mkdir(parents=True, exist_ok=True)
    if not request.resume:
        atomic_write(out / RUN_JSON, json.dumps({"command": list(request.command), "model": request.model,
                                                 "members": [member_dir(out, i).name for i in range(members)],
                                                 "result": None}, indent=2) + "\n")
    summaries = []
    for index in range(members):
        where = member_dir(out, index)
        if progress is not None:
            progress.write(f"member {index + 1}/{members}: {where}\n")
        resume = request.resume and (where / LAST).is_file()
        summaries.append(train_member(dataclasses.replace(request, out=str(where), member=index, resume=resume),
                                      progress))
    run, result = _join(out, request, [Path(s["run"]) for s in summaries], summaries)
    atomic_write(out / RUN_JSON, json.dumps({**run, "result": result}, indent=2, default=str) + "\n")
    return {"run": str(out), "rank": 0, "processes": 1, **result}


def _join(out: Path, request, runs: list[Path], summaries: list[dict]) -> tuple[dict, dict]:
    """Write `out/best.pt`: the members' kept checkpoints as one model; returns its run record and result."""
    ckpts = [load_checkpoint(run / BEST) for run in runs]
    first = ckpts[0]
    for ckpt in ckpts[1:]:
        if (ckpt.model, ckpt.config, ckpt.norm) != (first.model, first.config, first.norm):
            raise InputError(f"{ckpt.path} is not a member of {out}: its model, data or normalisation differ")
    config = dataclasses.replace(first.config, members=len(ckpts))
    model = model_entry(first.model).build(config)
    model.load_state_dict({f"members.{i}.{name}": value for i, ckpt in enumerate(ckpts)
                           for name, value in ckpt.state_dict.items()})
    # Member 0's record (its seed is the ensemble's) with what the ensemble adds.
    records = [ckpt.run for ckpt in ckpts]
    run = {**records[0], "command": list(request.command),
           "model_table": {**records[0]["model_table"], "members": len(ckpts)},
           "model_config": dataclasses.asdict(config), "splits": _joined_splits([r["splits"] for r in records]),
           "members": [{"run": path.name, "seed": record["seed"], "epoch": ckpt.epoch}
                       for path, record, ckpt in zip(runs, records, ckpts)]}
    save_checkpoint(out / BEST, first.model, config, model, first.norm, max(c.epoch for c in ckpts), run)
    keys = ("epochs", "best_epoch", "best", "kept_epoch", "stopped_early")
    result = {**{key: [s[key] for s in summaries] for key in keys}, "monitor": summaries[0]["monitor"],
              "state_digests": [s["state_digests"][0] for s in summaries]}
    return run, result


def _joined_splits(splits: list[dict]) -> dict:
    """Trained on what any member trained on; validated and tested on what every member held out."""
    def common(name):
        return sorted(set.intersection(*(set(s.get(name, ())) for s in splits)))

    return {"train": sorted(set().union(*(s["train"] for s in splits))), "val": common("val"),
            "test": common("test"), "published_val": common("published_val")}
