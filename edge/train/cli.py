"""`ergoedge train`, `ergoedge evaluate` and `ergoedge train-defaults`, wired into the one `ergoedge` parser by
`edge/cli.py`.

Parsing needs no torch: the commands import the training stage (and torch) when they run, and say how to install
it when it is missing.
"""

from __future__ import annotations

import json
import sys

from edge.config import whole_number_option
from edge.errors import InputError


def add_commands(sub) -> None:
    """Add `train` and `evaluate` to the `ergoedge` subparsers `sub`."""
    from edge.train.data import DATASETS, SPLITS

    p = sub.add_parser("train", help="train a model of the registry (edge/models) on a data set")
    p.add_argument("--model", required=True, help="registry name, e.g. edge_stream, mtl_gcn_edtcn")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data", help="the data set's folder (synthetic: what `ergoedge synth` wrote, or none to make "
                                  "data.synth_minutes of it)")
    p.add_argument("--config", help="TOML file with [train], [data] and [model] changes from the defaults "
                                    "(see edge/train/config.py)")
    p.add_argument("--out", required=True, help="run directory: checkpoints, metrics.jsonl, curves.png, run.json")
    p.add_argument("--epochs", type=whole_number_option(1), help="most epochs (beats the config file)")
    p.add_argument("--seed", type=whole_number_option(0), help="random seed (beats the config file)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a trained run on a data set split; every metric of its task")
    p.add_argument("run", metavar="RUN", help="run directory of `ergoedge train` (its best.pt is scored)")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data", help="the data set's folder (synthetic: none makes the run's synthetic data again)")
    p.add_argument("--split", required=True, choices=SPLITS,
                   help="val: the data set's published validation videos (UW-IOM), else the run's validation "
                        "split; test: every sequence the run neither trained nor validated on")
    p.add_argument("--groups", metavar="FILE", help="TOML file mapping coarse classes to this data set's classes")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("train-defaults", help="train the default edge_stream and lifter_2d3d weights into the models "
                                              "directory (once; instant when up to date)")
    p.add_argument("--models-dir", help="models directory (default: $ERGOEDGE_MODELS, else ~/.cache/ergo-edge/models)")
    p.add_argument("--force", action="store_true", help="train again even when the weights are up to date")
    p.set_defaults(func=_cmd_train_defaults)


def _need_torch() -> None:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise InputError("training needs torch: pip install 'ergo-edge[train]' (on the build machines "
                         "pip install torch==2.13.0 takes the CPU build)")


def _cmd_train(args) -> int:
    _need_torch()
    from edge.train.loop import TrainRequest, train

    request = TrainRequest(model=args.model, dataset=args.dataset, data_dir=args.data, out=args.out,
                           config_path=args.config, epochs=args.epochs, seed=args.seed, resume=args.resume,
                           command=tuple(sys.argv))
    summary = train(request)
    if isinstance(summary["best_epoch"], list):  # an ensemble trained apart (edge.train.ensemble)
        kept = ", ".join(map(str, summary["kept_epoch"]))
        print(f"trained {len(summary['kept_epoch'])} members; kept epochs {kept}, joined into one model")
        print(f"  {summary['run']}")
    elif summary["rank"] == 0:
        best = summary["best"]
        shown = f"{best:.4f}" if isinstance(best, float) else "-"
        stop = ", stopped early" if summary["stopped_early"] else ""
        kept = "" if summary["kept_epoch"] == summary["best_epoch"] else f", kept epoch {summary['kept_epoch']}"
        print(f"trained {summary['epochs']} epoch(s) on {summary['processes']} process(es){stop}; best epoch "
              f"{summary['best_epoch']} (validation {summary['monitor']} {shown}){kept}")
        print(f"  {summary['run']}")
    return 0


def _cmd_train_defaults(args) -> int:
    _need_torch()
    from edge.train.defaults import install_default_weights

    install_default_weights(args.models_dir, force=args.force)
    return 0


def _format_metrics(metrics: dict, indent: str = "  ") -> list[str]:
    lines = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{name}:")
            lines += _format_metrics(value, indent + "  ")
        else:
            lines.append(f"{indent}{name:14s} {value:.4f}" if isinstance(value, float) else f"{indent}{name} {value}")
    return lines


def _cmd_evaluate(args) -> int:
    _need_torch()
    from edge.train.evaluate import evaluate, finite_or_none

    result = evaluate(args.run, args.dataset, args.data, args.split, groups=args.groups)
    if args.json:
        print(json.dumps(finite_or_none(result), indent=2))
        return 0
    print(f"{result['model']} (epoch {result['epoch']}) on {result['dataset']} {result['split']}: "
          f"{result['sequences']} sequence(s), {result['frames']} frames")
    print("\n".join(_format_metrics(result["metrics"])))
    if result.get("segments@10"):
        print("\n".join(_format_segments(result["segments@10"])))
    if result.get("frames_by_class"):
        print("\n".join(_format_frames(result["frames_by_class"])))
    if result.get("by_sequence"):
        print("\n".join(_format_sequences(result["by_sequence"], result["sequence_means"])))
    return 0


def _format_sequences(rows: list[dict], means: dict) -> list[str]:
    """Each sequence's own figures as a table, then their means over the sequences (WACV 2021's figures)."""
    names = [k for k in rows[0] if k not in ("sequence", "frames")]
    width = max(len("sequence"), *(len(r["sequence"]) for r in rows))
    head = "by sequence: "
    pad = " " * len(head)
    def cells(row: dict) -> str:
        return " ".join("-".rjust(13) if row[n] != row[n] else f"{row[n]:13.4f}" for n in names)  # NaN: no value

    lines = [f"  {head}{'sequence':{width}s} {'frames':>7s} " + " ".join(f"{n:>13s}" for n in names)]
    lines += [f"  {pad}{r['sequence']:{width}s} {r['frames']:7d} {cells(r)}" for r in rows]
    lines.append(f"  {pad}{'mean':{width}s} {'':7s} {cells(means)}")
    if "reba_mse_sd" in means and means["reba_mse_sd"] == means["reba_mse_sd"]:
        lines.append(f"  {pad}reba_mse over the sequences: {means['reba_mse']:.4f} +- {means['reba_mse_sd']:.4f} "
                     "(mean +- sd, as WACV 2021 reports it)")
    return lines


def _format_frames(per_class: dict) -> list[str]:
    """The per-class frame counts as a table in the classes' order, then the mean of the classes' recalls."""
    width = max(len(name) for name in per_class)
    head = "frames by class: "
    lines = [f"  {head}{'class':{width}s} {'frames':>7s} {'recall':>7s} {'predicted':>9s}"]
    for name, c in per_class.items():
        recall = "-" if c["recall"] is None else f"{c['recall']:.1f}%"
        lines.append(f"  {' ' * len(head)}{name:{width}s} {c['frames']:7d} {recall:>7s} {c['predicted']:9d}")
    recalls = [c["recall"] for c in per_class.values() if c["recall"] is not None]
    if recalls:
        lines.append(f"  {' ' * len(head)}mean recall over {len(recalls)} classes: {sum(recalls) / len(recalls):.1f}%")
    return lines


def _format_segments(per_class: dict) -> list[str]:
    """The per-class segment counts as a table, the classes with the most missed + invented first."""
    width = max(len(name) for name in per_class)
    lines = [f"  segments (F1@10 matching): {'class':{width}s} {'true':>6s} {'missed':>6s} {'found':>6s} "
             f"{'invented':>8s}"]
    pad = " " * len("segments (F1@10 matching): ")
    for name, c in sorted(per_class.items(), key=lambda kv: -(kv[1]["missed"] + kv[1]["invented"])):
        lines.append(f"  {pad}{name:{width}s} {c['true']:6d} {c['missed']:6d} {c['true'] - c['missed']:6d} "
                     f"{c['invented']:8d}")
    return lines
