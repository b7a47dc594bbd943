"""The export stage's subcommands: `ergoedge models fetch` and `ergoedge models show` (wired into the one
`ergoedge` by `edge/cli.py`)."""

from __future__ import annotations

import json


def add_commands(sub) -> None:
    """Add `models` (fetch, show) to the `ergoedge` subparsers `sub`."""
    p = sub.add_parser("models", help="fetch or show the offline pose models")
    models = p.add_subparsers(dest="models_command", metavar="ACTION", parser_class=type(p))
    models.required = True
    q = models.add_parser("fetch", help="take BlazePose out of the mediapipe wheel, convert to ONNX, verify")
    q.add_argument("--models-dir", help="default: $ERGOEDGE_MODELS or ~/.cache/ergo-edge/models")
    q.add_argument("--force", action="store_true", help="fetch and convert again even if the models are valid")
    q.set_defaults(func=_fetch)
    q = models.add_parser("show", help="print the models' manifest (after checking every file's sha256)")
    q.add_argument("--models-dir")
    q.set_defaults(func=_show)


def _fetch(args) -> int:
    from export.mediapipe.fetch import fetch_models

    fetch_models(args.models_dir, force=args.force)  # logs where the models are
    return 0


def _show(args) -> int:
    from edge.artifacts import load_manifest

    print(json.dumps(load_manifest(args.models_dir), indent=2))
    return 0
