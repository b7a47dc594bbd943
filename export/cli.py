"""The export stage's subcommands: `ergoedge models fetch`, `ergoedge models show` and `ergoedge export` (wired
into the one `ergoedge` by `edge/cli.py`)."""

from __future__ import annotations

import json

from export.engine import add_build_command


def add_commands(sub) -> None:
    """Add `models` (fetch, show), `export`, `build` and `verify` to the `ergoedge` subparsers `sub`."""
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
    _add_export(sub)
    add_build_command(sub)
    _add_verify(sub)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export a trained model to ONNX (checked, simplified, parity with torch) with a "
                       "manifest beside it")
    p.add_argument("run", metavar="RUN", help="a training run directory (its best.pt) or a checkpoint file")
    p.add_argument("--out", required=True, help="directory for the ONNX file and its manifest")
    p.add_argument("--streaming", action="store_true",
                   help="the model's one-frame step with explicit state inputs and outputs (what the device runs)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 14-21 (default 17)")
    p.add_argument("--no-simplify", action="store_true", help="keep the graph as torch exports it (no onnxsim)")
    p.set_defaults(func=_export)


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="parity of the FP16/INT8 graphs and engines in DIR with their FP32 graph, and "
                       "TensorRT's ONNX parser on each (no GPU needed); writes DIR/verify.json")
    p.add_argument("dir", metavar="DIR", help="the directory `ergoedge export` and `ergoedge calibrate` wrote")
    p.add_argument("--checkpoint", help="also compare the FP32 graph with this checkpoint (a run directory or .pt)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_verify)


def _verify(args) -> int:
    from export.verify import verify

    report = verify(args.dir, args.checkpoint)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0 if report["passed"] else 1
    for row in report["models"]:
        parser = row["parser"]
        said = (("accepted" if parser["accepted"] else f"REJECTED ({', '.join(parser['unsupported'][:3])})")
                if parser["ran"] else "not run")
        parity = row["parity"]
        if parity["ran"]:
            worst = max((o.get("error", float("inf")) for o in parity["outputs"].values()), default=0.0)
            said += f"; vs {parity['against']}: error {worst:.2g} {'ok' if parity['passed'] else 'FAILED'}"
        if "torch" in row:
            said += f"; vs torch {'ok' if row['torch']['passed'] else 'FAILED'}"
        if not row["matches_manifest"]:
            said += "; CHANGED since its manifest (sha256)"
        print(f"{row['onnx']:<36} {row['precision']:<5} parser {said}")
        if not parser["ran"]:
            print(f"  parser not run: {parser['reason']}")
        if not parity["ran"]:
            print(f"  parity {'FAILED' if parity.get('stale') else 'not run'}: {parity['reason']}")
    for engine in report["engines"]:
        print(f"{engine['engine']:<36} engine {'ok' if engine.get('passed') else engine.get('reason', 'FAILED')}")
    print(f"{'passed' if report['passed'] else 'FAILED'}: {report['directory']}/verify.json")
    return 0 if report["passed"] else 1


def _fetch(args) -> int:
    from export.mediapipe.fetch import fetch_models

    fetch_models(args.models_dir, force=args.force)  # logs where the models are
    return 0


def _show(args) -> int:
    from edge.artifacts import load_manifest

    print(json.dumps(load_manifest(args.models_dir), indent=2))
    return 0


def _export(args) -> int:
    from edge.config import check_number
    from export.onnx_model import export_model
    from export.onnx_stream import export_streaming

    opset = check_number(args.opset, "--opset", integer=True, minimum=14, maximum=21)
    if args.streaming:
        artifact = export_streaming(args.run, args.out, opset=opset, simplify=not args.no_simplify)
        what = "step by step vs torch whole sequence"
    else:
        artifact = export_model(args.run, args.out, opset=opset, simplify=not args.no_simplify)
        what = "vs torch"
    print(f"exported {artifact.onnx} ({what}: max abs diff {artifact.max_abs_diff:.2g})")
    print(f"  manifest: {artifact.manifest}")
    return 0
