"""The `ergoedge` command: one entry point, thin subcommands that parse arguments and call one library function.

Errors in the input end with one line on stderr (`ergoedge: error: ...`) and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from edge import __version__
from edge.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise InputError(f"{message} (see '{self.prog} --help')")


def _cmd_assess(args) -> int:
    from edge.worksheet import assess

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, expected a JSON file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    print(json.dumps(assess(doc), indent=2))
    return 0


def _reject_constant(name: str):
    raise InputError(f"{name} is not allowed in a worksheet: numbers must be finite")


def _cmd_score(args) -> int:
    from edge.ergonomics.l5s1 import BodyParams
    from edge.poses import load_poses
    from edge.report import write_outputs
    from edge.scoring import ScoreConfig, score_sequence

    seq = load_poses(args.poses, layout=args.layout, up=args.up, fps=args.fps, allow_missing=args.allow_missing)
    body = BodyParams(mass_kg=args.body_mass, height_m=args.height, sex=args.sex)
    config = ScoreConfig(load_kg=args.load_kg, coupling=args.coupling, body=body)
    result = score_sequence(seq.joints, seq.layout, seq.up, seq.fps, config)
    run_info = {
        "command": sys.argv,
        "input": str(Path(args.poses).resolve()),
        "layout": seq.layout.name,
        "up": seq.up.tolist(),
        "fps": seq.fps,
        "ergo_edge_version": __version__,
        "python": platform.python_version(),
    }
    paths = write_outputs(result, args.out, run_info)
    reba = result.summary["reba"]
    peak = reba["peak"]["value"] if reba["peak"] else "n/a"
    print(
        f"scored {result.summary['frames']} frames ({result.summary['duration_s']:.1f} s): REBA peak {peak}, "
        f"{reba['time_s_high_or_above']:.1f} s at high risk or above"
    )
    for path in paths.values():
        print(f"  {path}")
    return 0


def _cmd_example_poses(args) -> int:
    import numpy as np

    from edge.examples import example_lift_sequence
    from edge.skeletons import get_layout

    get_layout(args.layout)
    if not (args.seconds > 0 and args.fps > 0):
        raise InputError("--seconds and --fps must be positive")
    joints = example_lift_sequence(seconds=args.seconds, fps=args.fps, layout=args.layout, up=args.up)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"{out}: the example is written as .npz; give a file name ending in .npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, joints=joints.astype(np.float32), fps=np.float64(args.fps), layout=args.layout,
                        up=args.up)
    print(f"wrote {joints.shape[0]} frames of {args.layout} to {out}")
    return 0


def _cmd_layouts(args) -> int:
    from edge.skeletons import LAYOUTS, canonical_sources

    for layout in LAYOUTS.values():
        points = canonical_sources(layout)
        print(f"{layout.name:12s} {layout.num_joints:2d} joints  {layout.description}")
        print(f"{'':12s} canonical points: {', '.join(points)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ergoedge", description="On-device ergonomic risk assessment.")
    parser.add_argument("--version", action="version", version=f"ergo-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("assess", help="score REBA/RULA/NIOSH worksheets from a JSON file")
    p.add_argument("file", help="JSON file: one worksheet object or a list of them")
    p.set_defaults(func=_cmd_assess)

    p = sub.add_parser("score", help="score a 3D pose sequence frame by frame")
    p.add_argument("poses", help=".npy (T, J, 3) in metres, or .npz with 'joints' (optional 'fps', 'layout', 'up')")
    p.add_argument("--layout", help="blazepose33, coco17, h36m17, uwiom15 or kinect25")
    p.add_argument("--up", help="up direction: x, y, z with optional sign (-y), or three numbers 0,0,1")
    p.add_argument("--fps", type=float, help="frame rate of the sequence")
    p.add_argument("--body-mass", type=float, default=75.0, help="body mass in kg (default 75)")
    p.add_argument("--height", type=float, default=None, help="stature in m (default: from the skeleton)")
    p.add_argument("--sex", choices=("male", "female"), default="male", help="for segment parameters")
    p.add_argument("--load-kg", type=float, default=0.0, help="load held in the hands, kg (default 0)")
    p.add_argument("--coupling", choices=("good", "fair", "poor", "unacceptable"), default="good")
    p.add_argument("--allow-missing", action="store_true", help="score NaN joints as not observed")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("example-poses", help="write a synthetic example lifting sequence (.npz)")
    p.add_argument("out", help="output .npz")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--layout", default="blazepose33")
    p.add_argument("--up", default="z")
    p.set_defaults(func=_cmd_example_poses)

    p = sub.add_parser("layouts", help="list the supported skeleton layouts")
    p.set_defaults(func=_cmd_layouts)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except InputError as exc:
        print(f"ergoedge: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ergoedge: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, and a way to see the traceback
        if os.environ.get("ERGOEDGE_DEBUG"):
            raise
        print(f"ergoedge: internal error: {type(exc).__name__}: {exc} (set ERGOEDGE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
