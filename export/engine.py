"""`ergoedge build ONNX --precision fp32|fp16|int8 --out DIR`: a TensorRT engine and its manifest, built by the
same code the device uses on first start (`edge.inference.tensorrt_build`).

    ergoedge build edge_stream_step_int8.onnx --precision int8 --out engines/ --max-batch 8
    ergoedge build pose_landmark_full.onnx --precision fp16 --out engines/ --dla-core 0 --timing-cache ~/.trt-timing

Where TensorRT is not installed the command prints one line that says what to install and exits with 1.
"""

from __future__ import annotations

import sys


def add_build_command(sub) -> None:
    """Add `build` to the `ergoedge` subparsers `sub`."""
    from edge.inference.tensorrt_build import EngineSpec, PRECISIONS

    d = EngineSpec()
    p = sub.add_parser("build", help="build a TensorRT engine (TensorRT >= 10) from an ONNX, with a manifest beside it")
    p.add_argument("onnx", metavar="ONNX", help="the ONNX file (FP32, FP16 or INT8 QDQ, as `ergoedge calibrate` "
                                                "writes them)")
    p.add_argument("--precision", required=True, choices=PRECISIONS,
                   help="fp32, fp16 or int8; a graph that carries FP16 or INT8 is built as it is (strongly typed)")
    p.add_argument("--out", required=True, help="directory for <model>_b<N>_<precision>.engine and its .json")
    p.add_argument("--max-batch", type=int, default=d.max_batch,
                   help=f"largest batch of the optimisation profile (default {d.max_batch})")
    p.add_argument("--max-frames", type=int, default=d.max_frames,
                   help=f"largest time axis of sequence models (default {d.max_frames})")
    p.add_argument("--dla-core", type=int, help="build for this DLA core (Jetson Orin), GPU fallback on")
    p.add_argument("--timing-cache", metavar="DIR", help="keep TensorRT's timing cache (per version and device) here")
    p.add_argument("--calibration-cache", metavar="FILE",
                   help="TensorRT calibration cache for an FP32 graph at int8 (TensorRT < 11)")
    p.add_argument("--workspace-mb", type=int, default=d.workspace_mb,
                   help=f"builder workspace in MiB (default {d.workspace_mb})")
    p.set_defaults(func=_build)


def _build(args) -> int:
    from edge.inference.tensorrt_build import EngineSpec, TensorRTMissing, build_engine

    spec = EngineSpec(precision=args.precision, max_batch=args.max_batch, max_frames=args.max_frames,
                      workspace_mb=args.workspace_mb, dla_core=args.dla_core, timing_cache_dir=args.timing_cache,
                      calibration_cache=args.calibration_cache)
    try:
        artifact = build_engine(args.onnx, spec, args.out)
    except TensorRTMissing as exc:  # not bad input: this machine cannot build engines
        print(f"ergoedge: error: {exc}", file=sys.stderr)
        return 1
    print(f"built {artifact.engine} in {artifact.build_seconds:.1f} s")
    print(f"  manifest: {artifact.manifest}")
    return 0
