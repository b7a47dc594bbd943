"""TFLite -> ONNX converter for the float32 vision models ergo-edge ships (MediaPipe BlazePose), with a parity check.

Self-contained: it and its modules import only numpy, onnx, tflite (flatbuffer schema), ai_edge_litert and
onnxruntime, never `edge`, because it runs as a script inside an isolated tools venv (see
`export/mediapipe/fetch.py`). `tflite`, `ai_edge_litert` and `onnxruntime` are imported inside the functions that
need them. The modules: `tflite_graph.py` reads the TFLite flatbuffer, `onnx_builder.py` maps its ops to ONNX,
`tflite_verify.py` checks the result against TFLite, and this one makes the ONNX model and is the command line:

    python tflite_onnx.py SRC.tflite OUT.onnx [--input-range LO HI] [--tolerance T] [--no-verify | --verify-only]

prints one JSON object (inputs, outputs, op counts, verification figures). Exit codes: 0 converted and verified,
1 verification above tolerance, 2 conversion error (for example an unsupported op, named in the one-line message).

The ONNX model is opset 17, IR 8, float32. Integer quantization, control flow and ops outside
`onnx_builder.SUPPORTED_OPS` are refused with a message naming them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import onnx
from onnx import TensorProto, helper

# Run as a script in the tools venv (no ergo-edge there) the converter's modules are top-level modules of the
# script's folder; imported from ergo-edge they are modules of the package export.mediapipe.
if __package__:
    from .onnx_builder import OnnxBuilder
    from .tflite_graph import ConversionError, TfliteTensor, read_graph
    from .tflite_verify import VerificationError, verify
else:
    from onnx_builder import OnnxBuilder
    from tflite_graph import ConversionError, TfliteTensor, read_graph
    from tflite_verify import VerificationError, verify

# `fetch.py` reads this line (without importing this module): a model set made by another version is made again,
# so change it whenever the ONNX files this converter writes would change.
CONVERTER_VERSION = "1"
OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: loadable by older ONNX Runtime / TensorRT parsers too


def _value_info(tensor: TfliteTensor, name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(tensor.shape))


def convert(tflite_bytes: bytes) -> onnx.ModelProto:
    """Convert a float32 TFLite model (fp16 weights allowed, sparse weights allowed) to an ONNX model."""
    graph = read_graph(bytes(tflite_bytes))
    b = OnnxBuilder(graph)
    b.run()
    onnx_graph = helper.make_graph(
        b.nodes,
        "tflite_" + hashlib.sha256(tflite_bytes).hexdigest()[:12],
        [_value_info(graph.tensors[i], b.base[i]) for i in graph.inputs],
        [_value_info(graph.tensors[i], b.base[i]) for i in graph.outputs],
        initializer=list(b.inits.values()),
    )
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ergo-edge tflite_onnx", producer_version=CONVERTER_VERSION)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"source_tflite_sha256": hashlib.sha256(tflite_bytes).hexdigest(),
                                   "converter_version": CONVERTER_VERSION})
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:  # a converter bug
        raise ConversionError(f"the generated ONNX model is invalid: {str(exc).splitlines()[0]}") from None
    return model


def tflite_op_counts(tflite_bytes: bytes) -> dict[str, int]:
    return dict(sorted(Counter(op.name for op in read_graph(bytes(tflite_bytes)).ops).items()))


def _io_specs(model: onnx.ModelProto) -> tuple[list, list]:
    def spec(v):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        return {"name": v.name, "shape": dims, "dtype": "float32"}
    return [spec(v) for v in model.graph.input], [spec(v) for v in model.graph.output]


def _tool_versions() -> dict:
    from importlib import metadata

    versions = {}
    for dist in ("numpy", "onnx", "onnxruntime", "tflite", "ai-edge-litert"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tflite_onnx", description="Convert a float TFLite model to ONNX and "
                                     "check it against the TFLite interpreter.")
    parser.add_argument("src", help="input .tflite")
    parser.add_argument("out", help="output .onnx (read, not written, with --verify-only)")
    parser.add_argument("--input-range", nargs=2, type=float, default=(-1.0, 1.0), metavar=("LO", "HI"),
                        help="range of the random verification inputs (default -1 1)")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="max difference relative to each output's scale (default 1e-3)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--no-verify", action="store_true", help="convert only")
    group.add_argument("--verify-only", action="store_true", help="verify an existing OUT against SRC")
    args = parser.parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    try:
        buf = src.read_bytes()
        report = {"converter_version": CONVERTER_VERSION, "opset": OPSET, "tools": _tool_versions(),
                  "source": str(src), "source_sha256": hashlib.sha256(buf).hexdigest(),
                  "tflite_ops": tflite_op_counts(buf)}
        if args.verify_only:
            model = onnx.load(str(out), load_external_data=False)
        else:
            model = convert(buf)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(model.SerializeToString())
        report["onnx"] = str(out)
        report["onnx_sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
        report["onnx_ops"] = dict(sorted(Counter(n.op_type for n in model.graph.node).items()))
        report["inputs"], report["outputs"] = _io_specs(model)
        if not args.no_verify:
            report["verification"] = verify(src, out, args.input_range, args.tolerance)
    except (ConversionError, VerificationError, OSError) as exc:
        print(f"tflite_onnx: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    if not args.no_verify and not report["verification"]["ok"]:
        worst = max(report["verification"]["outputs"].items(), key=lambda kv: kv[1]["relative_diff"])
        print(f"tflite_onnx: error: verification failed: output {worst[0]} differs by {worst[1]['max_abs_diff']:.3g} "
              f"({worst[1]['relative_diff']:.3g} of its scale, tolerance {args.tolerance:g}); "
              f"DENSIFY diff {report['verification']['densify_max_abs_diff']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
