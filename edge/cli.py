"""The `ergoedge` command: one entry point, thin subcommands that parse arguments and call one library function.

Errors in the input end with one line on stderr (`ergoedge: error: ...`) and exit code 2 (3 for a camera that could
not start or was lost: it may come back, and the service restarts on 3 only); never a traceback.
An internal error (a bug) is one line too, exit code 1; its traceback goes to the system log or the state
directory's log file (`edge.crashlog`), or to stderr with ERGOEDGE_DEBUG=1. SIGTERM ends a command the way Ctrl-C
does, through its cleanup, with exit code 143 (`ergoedge run` stops on either at the end of a frame).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import threading
from pathlib import Path

from edge import __version__
from edge.config import whole_number_option
from edge.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise InputError(f"{message} (see '{self.prog} --help')")


def _cmd_assess(args) -> int:
    from edge.ergonomics.worksheet import assess

    print(json.dumps(assess(_read_worksheets(Path(args.file))), indent=2))
    return 0


# Worksheet files hold a few kilobytes per worksheet; more than this is not a worksheet file (and /dev/zero never
# ends).
MAX_WORKSHEET_BYTES = 16 * 1024 * 1024


def _read_worksheets(path: Path):
    """The parsed JSON of a worksheet file, read in bounded memory; every problem is a one-line InputError."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, expected a JSON file")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file, expected a JSON file")
    with open(path, "rb") as f:
        data = f.read(MAX_WORKSHEET_BYTES + 1)
    if len(data) > MAX_WORKSHEET_BYTES:
        raise InputError(f"{path}: larger than {MAX_WORKSHEET_BYTES // 2**20} MiB; not a worksheet file")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_int=_worksheet_int)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be a worksheet") from None


def _reject_constant(name: str):
    raise InputError(f"{name} is not allowed in a worksheet: numbers must be finite")


def _worksheet_int(text: str) -> int:
    # Past 18 digits a number is beyond every field's range and beyond a float's exact integers.
    if len(text.lstrip("-")) > 18:
        raise InputError(f"a {len(text.lstrip('-'))}-digit number is not a worksheet value")
    return int(text)


def _cmd_score(args) -> int:
    from edge.datasets.sequence import check_scorable, load_sequence
    from edge.paths import output_dir
    from edge.scoring.chunked import score_recording
    from edge.skeletons import get_layout

    output_dir(args.out)  # refused before any work: an empty name or a file
    config = _score_config(args)
    seq = load_sequence(args.poses, layout=args.layout, up=args.up, fps=args.fps)
    check_scorable(seq, allow_missing=args.allow_missing)
    run_info = {
        "command": sys.argv,
        "input": str(Path(args.poses).resolve()),
        "layout": seq.layout,
        "up": seq.up.tolist(),
        "fps": seq.fps,
        "ergo_edge_version": __version__,
        "python": platform.python_version(),
    }
    # Long recordings are scored in parts, with a progress line on stderr (edge.scoring.chunked).
    summary, paths = score_recording(seq.joints, get_layout(seq.layout), seq.up, seq.fps, config, args.out,
                                     run_info, progress=sys.stderr)
    reba = summary["reba"]
    peak = reba["peak"]["value"] if reba["peak"] else "n/a"
    print(
        f"scored {summary['frames']} frames ({summary['duration_s']:.1f} s): REBA peak {peak}, "
        f"{reba['time_s_high_or_above']:.1f} s at high risk or above"
    )
    for path in paths.values():
        print(f"  {path}")
    return 0


def _score_config(args):
    """The `[scoring]` table of --config (the run config's; its other tables are not for `score`), then the
    command line's values over it."""
    from edge.config import from_mapping, read_toml, with_overrides
    from edge.scoring.methods import ScoreConfig

    config = ScoreConfig()
    if args.config:
        table = read_toml(args.config).get("scoring", {})
        config = from_mapping(ScoreConfig, table, f"{Path(args.config).name}.scoring")
    return with_overrides(config, load_kg=args.load_kg, coupling=args.coupling,
                          **{"body.mass_kg": args.body_mass, "body.height_m": args.height, "body.sex": args.sex})


def _cmd_example_poses(args) -> int:
    import numpy as np

    from edge.config import check_number
    from edge.datasets.sequence import MAX_FPS, MAX_FRAMES, MIN_FPS, Sequence, save_sequence
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.skeletons import get_layout, parse_up

    get_layout(args.layout)
    check_number(args.fps, "--fps", minimum=MIN_FPS, maximum=MAX_FPS)
    check_number(args.seconds, "--seconds", minimum=1.0 / args.fps, maximum=MAX_FRAMES / args.fps)
    joints = example_lift_sequence(seconds=args.seconds, fps=args.fps, layout=args.layout, up=args.up)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError(f"{out}: the example is written as .npz; give a file name ending in .npz")
    save_sequence(Sequence(layout=args.layout, fps=float(args.fps), joints=joints.astype(np.float32),
                           up=parse_up(args.up), metadata={"source": "ergoedge example-poses"}), out)
    print(f"wrote {joints.shape[0]} frames of {args.layout} to {out}")
    return 0


def _scene_up(args):
    """Up vector for the camera named by --camera (or the source's file stem), from its saved calibration."""
    from edge.pose.scene import load_calibration

    return load_calibration(args.camera or Path(args.source).stem, args.scene_dir)


def _estimator(args):
    from edge.pose.estimator import EstimatorSpec, open_estimator

    spec = EstimatorSpec(model=args.model, adapter=args.adapter, backend=args.backend, models_dir=args.models_dir,
                         max_people=args.max_people, smoothing=not args.no_smoothing)
    return open_estimator(spec)


def _cmd_pose(args) -> int:
    from edge.pose.estimate_file import estimate_file

    from edge.pose.placement import PlacementConfig

    calibration = _scene_up(args)
    summary = estimate_file(args.source, args.out, _estimator(args), up=calibration.up,
                            draw=not args.no_draw, max_frames=args.max_frames,
                            placement=PlacementConfig(fov_deg=args.fov_deg))
    print(f"{summary['frames']} frame(s), people in {summary['frames_with_people']}, {summary['tracks']} track(s)"
          f" ({summary['runtime']})")
    for key in ("keypoints_json", "keypoints_npz", "annotated"):
        if summary.get(key):
            print(f"  {summary[key]}")
    if calibration.method == "default":
        print(f"note: camera {calibration.camera!r} has no scene calibration; the stored up vector assumes a level "
              f"camera (run `ergoedge calibrate-scene`)", file=sys.stderr)
    return 0


def _cmd_calibrate_scene(args) -> int:
    from edge.pose.scene import make_calibration, save_calibration, up_from_pitch_roll

    if (args.pitch is None) != (args.roll is None):
        raise InputError("give both --pitch and --roll, or neither")
    if args.pitch is not None and args.source:
        raise InputError("give a SOURCE or --pitch and --roll, not both")
    if args.pitch is not None:
        if not args.camera:
            raise InputError("--camera is needed with --pitch/--roll")
        calibration = make_calibration(args.camera, up_from_pitch_roll(args.pitch, args.roll), "pitch_roll")
    else:
        if not args.source:
            raise InputError("give a SOURCE with a person standing upright, or --pitch and --roll")
        from edge.pose.scene import calibrate_from_source

        calibration = calibrate_from_source(args.source, args.camera or Path(args.source).stem, _estimator(args),
                                            seconds=args.seconds)
    path = save_calibration(calibration, args.scene_dir)
    print(f"camera {calibration.camera}: up = ({', '.join(f'{v:+.4f}' for v in calibration.up)}), "
          f"pitch {calibration.pitch_deg:+.1f} deg, roll {calibration.roll_deg:+.1f} deg "
          f"[{calibration.method}, {calibration.frames_used} frames, spread {calibration.spread_deg:.1f} deg]")
    print(f"  saved to {path}")
    return 0


def _add_estimator_args(p) -> None:
    from edge.inference.backends import BACKENDS
    from edge.pose.adapters.registry import ADAPTERS

    p.add_argument("--model", help="a pose model of your own (.onnx or TensorRT .engine); default: BlazePose")
    p.add_argument("--adapter", choices=tuple(ADAPTERS), help="how to read --model")
    p.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                   help="auto: .engine -> TensorRT; .onnx -> a TensorRT engine built from it where TensorRT and a "
                        "GPU are, else OpenVINO where installed, else ONNX Runtime")
    p.add_argument("--models-dir", help="where fetched models live (default: $ERGOEDGE_MODELS or the user cache)")
    p.add_argument("--max-people", type=int, default=1, help="people tracked at once (default 1)")
    p.add_argument("--no-smoothing", action="store_true", help="no One Euro keypoint filter")


def _cmd_layouts(args) -> int:
    from edge.skeletons import LAYOUTS, canonical_sources

    for layout in LAYOUTS.values():
        points = canonical_sources(layout)
        print(f"{layout.name:12s} {layout.num_joints:2d} joints  {layout.description}")
        print(f"{'':12s} canonical points: {', '.join(points)}")
    return 0


def _cmd_synth(args) -> int:
    from edge.datasets.synth.generator import SynthConfig, write_synth

    config = SynthConfig(layouts=(args.layout,)) if args.layout else SynthConfig()
    manifest = write_synth(args.out, args.minutes, args.seed, config)
    counts = manifest["counts"]
    print(f"wrote {counts['sequences']} sequence(s) of {', '.join(config.layouts)}: {counts['frames']} frames, "
          f"{counts['duration_s'] / 60.0:.1f} min at {config.fps:g} fps, seed {args.seed}")
    print(f"  manifest: {Path(args.out) / 'manifest.json'}")
    return 0


def _cmd_data_stats(args) -> int:
    from edge.datasets.stats import data_stats, format_stats, write_stats_png

    png = Path(args.png) if args.png else None  # only where asked: the data's folder may not be the user's
    if png is not None and png.exists() and not _is_png(png):
        raise InputError(f"{png} exists and is not a PNG: give --png a new file name (or an earlier figure)")
    stats = data_stats(args.path)
    print(format_stats(stats))
    if png is not None:
        print(f"  figure: {write_stats_png(stats, png)}")
    return 0


def _is_png(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89PNG\r\n\x1a\n"
    except OSError:  # a directory, or unreadable: not a figure to replace
        return False


def _add_assess(sub) -> None:
    p = sub.add_parser("assess", help="score REBA/RULA/NIOSH worksheets from a JSON file")
    p.add_argument("file", help="JSON file: one worksheet object or a list of them")
    p.set_defaults(func=_cmd_assess)


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score a 3D pose sequence frame by frame")
    p.add_argument("poses", help="a sequence file, a .npy (T, J, 3) in metres, or a .npz with 'joints' "
                                 "(optional 'fps', 'layout', 'up')")
    p.add_argument("--layout", help="blazepose33, coco17, h36m17, uwiom15 or kinect25")
    p.add_argument("--up", help="up direction: x, y, z with optional sign (-y), or three numbers 0,0,1")
    p.add_argument("--fps", type=float, help="frame rate of the sequence")
    p.add_argument("--config", help="TOML file whose [scoring] table sets thresholds, activity terms, body and load "
                                    "(a run config serves; its other tables are ignored)")
    # No defaults here: an option not given leaves the --config file's value (or ScoreConfig's default).
    p.add_argument("--body-mass", type=float, help="body mass in kg (default 75)")
    p.add_argument("--height", type=float, help="stature in m (default: from the skeleton)")
    p.add_argument("--sex", choices=("male", "female"), help="for segment parameters (default male)")
    p.add_argument("--load-kg", type=float, help="load held in the hands, kg (default 0)")
    p.add_argument("--coupling", choices=("good", "fair", "poor", "unacceptable"), help="(default good)")
    p.add_argument("--allow-missing", action="store_true", help="score NaN joints as not observed")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cmd_score)


def _add_example_poses(sub) -> None:
    p = sub.add_parser("example-poses", help="write a synthetic example lifting sequence (.npz)")
    p.add_argument("out", help="output .npz")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--layout", default="blazepose33")
    p.add_argument("--up", default="z")
    p.set_defaults(func=_cmd_example_poses)


def _add_pose(sub) -> None:
    p = sub.add_parser("pose", help="estimate poses in an image or video; write keypoints and an annotated copy")
    p.add_argument("source", help="image (.jpg, .png, ...) or video file")
    p.add_argument("--out", required=True, help="output directory")
    _add_estimator_args(p)
    p.add_argument("--camera", help="camera name for the scene calibration (default: the file name's stem)")
    p.add_argument("--scene-dir", help="where scene calibrations live (default: $ERGOEDGE_SCENES or ~/.config)")
    p.add_argument("--max-frames", type=whole_number_option(1), help="stop after this many frames")
    p.add_argument("--no-draw", action="store_true", help="do not write the annotated image/video")
    p.add_argument("--fov-deg", type=float, default=60.0,
                   help="the camera's field of view across the longer side, to place people in its space (default "
                        "60; as [activity] camera_fov_deg in the run)")
    p.set_defaults(func=_cmd_pose)


def _add_calibrate_scene(sub) -> None:
    p = sub.add_parser("calibrate-scene", help="find gravity's direction for a camera and save it")
    p.add_argument("source", nargs="?", help="image or video of a person standing upright, facing any way")
    p.add_argument("--camera", help="camera name (default: the source file name's stem)")
    p.add_argument("--seconds", type=float, default=3.0, help="how much of a video to use (default 3 s)")
    p.add_argument("--pitch", type=float, help="instead of a video: camera pitch in degrees (tilted down +)")
    p.add_argument("--roll", type=float, help="camera roll in degrees (clockwise seen from behind +)")
    p.add_argument("--scene-dir", help="where scene calibrations live")
    _add_estimator_args(p)
    p.set_defaults(func=_cmd_calibrate_scene)


def _add_layouts(sub) -> None:
    p = sub.add_parser("layouts", help="list the supported skeleton layouts")
    p.set_defaults(func=_cmd_layouts)


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="generate synthetic workplace motion with activity and REBA/RULA labels")
    p.add_argument("--out", required=True, help="output directory (sequence .npz files and manifest.json)")
    p.add_argument("--minutes", type=float, required=True, help="minutes of data to generate")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed, same data)")
    p.add_argument("--layout", help="skeleton layout to write (default blazepose33)")
    p.set_defaults(func=_cmd_synth)


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="inspect data sets of sequence files")
    data = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data.required = True
    q = data.add_parser("stats", help="counts, durations, class balance and REBA distribution of sequence files")
    q.add_argument("path", metavar="DIR", help="directory of .npz sequence files (or one file)")
    q.add_argument("--png", help="also draw the figures into this PNG file")
    q.set_defaults(func=_cmd_data_stats)


def build_parser() -> argparse.ArgumentParser:
    """`ergoedge` with every stage's subcommands: this module's, then the export, calibration and runtime stages'.
    This is the one place where `edge` meets the outer layers (they depend on `edge`, never the reverse)."""
    from calibration.cli import add_commands as add_calibration_commands
    from export.cli import add_commands as add_export_commands
    from edge.train.cli import add_commands as add_train_commands
    from edge.pose.camera_calibration import add_commands as add_camera_commands
    from runtime.cli import add_commands as add_runtime_commands

    parser = _Parser(prog="ergoedge", description="On-device ergonomic risk assessment.")
    parser.add_argument("--version", action="version", version=f"ergo-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_assess, _add_score, _add_example_poses, add_export_commands, add_calibration_commands,
                _add_pose, _add_calibrate_scene, add_camera_commands, add_runtime_commands, _add_layouts, _add_synth,
                _add_data, add_train_commands):
        add(sub)
    return parser


# Options whose values may begin with "-" (argparse would read `--up -y` as two options).
_SIGNED_VALUE_OPTIONS = ("--up",)


def _attach_signed_values(argv: list[str]) -> list[str]:
    """`--up -y` as `--up=-y`, so that a negative axis works as the README writes it."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in _SIGNED_VALUE_OPTIONS and token.startswith("-") and not token.startswith("--"):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that `finally` blocks and context managers run (temporary folders,
    half-written files) where the default action would end the process on the spot."""


def _raise_terminated(_signum, _frame):
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    from edge.inference.telemetry import quiet_onnxruntime

    quiet_onnxruntime()  # before any command loads ONNX Runtime, directly or through a library
    # Only where nobody else handles SIGTERM (a host process calling main keeps its own), and only for this call.
    own = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if own:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _dispatch(argv)
    except _Terminated:
        return 128 + signal.SIGTERM
    finally:
        if own:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _dispatch(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(_attach_signed_values(sys.argv[1:] if argv is None else list(argv)))
        return args.func(args)
    except InputError as exc:
        print(f"ergoedge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"ergoedge: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line; the traceback goes to the log (edge.crashlog)
        if os.environ.get("ERGOEDGE_DEBUG"):
            raise
        from edge.crashlog import record_traceback

        where = record_traceback(exc)
        hint = f"traceback in {where}" if where else "set ERGOEDGE_DEBUG=1 for the traceback"
        print(f"ergoedge: internal error: {type(exc).__name__}: {exc} ({hint})", file=sys.stderr)
        return 1
