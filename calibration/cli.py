"""The calibration stage's subcommand, `ergoedge calibrate` (wired into the one `ergoedge` by edge/cli.py)."""

from __future__ import annotations

from pathlib import Path

RANDOM = "random"


def add_commands(sub) -> None:
    """Add `calibrate` and `calibrate-pose` to the `ergoedge` subparsers `sub`."""
    _add_calibrate_pose(sub)
    from calibration.readers import DATASETS

    p = sub.add_parser("calibrate", help="INT8 (QDQ) and FP16 versions of an exported skeleton model, calibrated on "
                                         "real data, with a TensorRT calibration cache and an accuracy report")
    p.add_argument("onnx", metavar="ONNX", help="an FP32 export with its manifest beside it (ergoedge export)")
    p.add_argument("--data", help="the data set's folder (as for ergoedge train)")
    p.add_argument("--dataset", required=True, choices=(*DATASETS, RANDOM),
                   help=f"data set kind; {RANDOM!r}: Gaussian inputs, refused without --allow-random")
    p.add_argument("--method", default="minmax", choices=("minmax", "percentile", "entropy"),
                   help="calibration ranges (default minmax)")
    p.add_argument("--samples", type=int, default=512, help="calibration samples (default 512)")
    p.add_argument("--out", required=True, help="directory for the INT8/FP16 ONNX, manifests, cache and report")
    p.add_argument("--groups", default="", help="coarse-class TOML file mapping the data's classes to the model's")
    p.add_argument("--allow-random", action="store_true", help="accept random calibration data (plumbing only)")
    p.add_argument("--allow-small", action="store_true", help="accept fewer than --min-samples distinct samples")
    p.add_argument("--min-samples", type=int, default=64, help="fewest distinct samples accepted (default 64)")
    p.add_argument("--trt-version", default="10.3", help="TensorRT the calibration cache is for, 8.5 to 10.x "
                                                         "(default 10.3, JetPack 6.1/6.2)")
    p.add_argument("--per-channel", action="store_true", help="one weight scale per output channel")
    p.add_argument("--quantize-heads", action="store_true",
                   help="quantize the output heads too (by default the last layer before each output stays in float)")
    p.add_argument("--exclude-nodes", default="", help="comma-separated ONNX node names to keep in float")
    p.add_argument("--exclude-op-types", default="", help="comma-separated op types to keep in float")
    p.add_argument("--holdout", type=float, default=0.2,
                   help="share of videos/subjects held out for the report when the data has no published split")
    p.add_argument("--seed", type=int, default=0, help="held-out draw and sampling offset (default 0)")
    p.set_defaults(func=_calibrate)


def _add_calibrate_pose(sub) -> None:
    p = sub.add_parser("calibrate-pose", help="BlazePose's detector and landmark model in INT8 (CPU and TensorRT "
                       "forms) and FP16, calibrated on real frames as the run makes them, with an accuracy report")
    p.add_argument("--footage", required=True, help="the folder holding pose2sim/cam01-04.mp4 and opencv/vtest.avi "
                                                    "(what scripts/fetch_footage.sh fetches)")
    p.add_argument("--out", required=True, help="directory for the models, their manifests and the report; the "
                                                "models directory itself to use them with [pose] precision")
    p.add_argument("--models-dir", help="the FP32 models (default: $ERGOEDGE_MODELS or ~/.cache/ergo-edge/models)")
    p.set_defaults(func=_calibrate_pose)


def _calibrate_pose(args) -> int:
    from calibration.pose_stage import REPORT, PoseCalibrateSpec, calibrate_pose

    report = calibrate_pose(PoseCalibrateSpec(args.footage, args.models_dir), args.out)
    for variant, row in report["models"]["pose_landmark_full"].items():
        print(f"pose_landmark_full {variant:<9} {row['file']:<32} shift against FP32 on held-out crops: median "
              f"{row['crop_median_px']:.2f} px, p90 {row['crop_p90_px']:.2f} px (crop, 256 px)")
    for variant, row in report["models"]["pose_detection"].items():
        print(f"pose_detection     {variant:<9} {row['file']:<32} same presence {row['same_presence']:.1%}, "
              f"box IoU median {row['box_iou_median'] or 0:.3f}")
    print(f"report: {Path(args.out) / REPORT}")
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _calibrate(args) -> int:
    from calibration.quantize import QuantSpec
    from calibration.readers import ReaderSpec
    from calibration.stage import CalibrateSpec, calibrate
    from edge.config import check_number

    samples = check_number(args.samples, "--samples", integer=True, minimum=1, maximum=1_000_000)
    min_samples = check_number(args.min_samples, "--min-samples", integer=True, minimum=1, maximum=1_000_000)
    holdout = check_number(args.holdout, "--holdout", minimum=0.05, maximum=0.9)
    seed = check_number(args.seed, "--seed", integer=True, minimum=0)
    quant = QuantSpec(method=args.method, per_channel=args.per_channel, exclude_nodes=_names(args.exclude_nodes),
                      exclude_op_types=_names(args.exclude_op_types), keep_heads=not args.quantize_heads,
                      min_samples=min_samples,
                      allow_random=args.allow_random, allow_small=args.allow_small)
    reader = None if args.dataset == RANDOM else ReaderSpec(args.dataset, args.data, args.groups, samples, holdout,
                                                            seed)
    result = calibrate(args.onnx, CalibrateSpec(reader, quant, args.trt_version, samples), args.out)
    print(f"INT8 (QDQ): {result.int8}")
    print(f"FP16:       {result.fp16}")
    print(f"TensorRT {'cache (reused, key unchanged)' if result.trt_cache_reused else 'cache'}: {result.trt_cache}")
    print(f"report:     {result.report_path}")
    print(result.report_path.with_suffix(".txt").read_text(encoding="utf-8"), end="")
    return 0
