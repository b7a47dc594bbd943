"""INT8 QDQ and FP16 versions of an FP32 ONNX graph, in the forms TensorRT's ONNX parser accepts.

    path = quantize_int8("edge_stream_step.onnx", calib, QuantSpec(method="minmax"), "out/edge_stream_step_int8.onnx")
    path = convert_fp16("edge_stream_step.onnx", "out/edge_stream_step_fp16.onnx")
    ranges = tensor_ranges("edge_stream_step.onnx", calib, "minmax")     # every float tensor, for calibration/trt_cache

INT8: ONNX Runtime's `quantize_static` in QDQ format with signed int8 activations and weights, both symmetric
(zero points 0) and biases left in float (`QuantizeBias=False`): ORT's default (uint8 activations, int32 biases) is
rejected by TensorRT's parser. Per-channel weights, excluded nodes and excluded op
types come from `QuantSpec`. The written graph is checked: every QuantizeLinear/DequantizeLinear is int8 with zero
point 0, no bias is quantized, and ONNX Runtime loads and runs it.

FP16: ONNX Runtime's float16 pass (onnxruntime.transformers.float16) with float32 graph inputs and outputs kept (the
device feeds the same arrays to every precision); checked by loading and running it in ONNX Runtime (NCHWc
transformer off, see `readers.open_session`).

Calibration data is refused, one line, when it is random (`CalibrationSet.real` False) or holds fewer than
`min_samples` distinct samples, unless the spec allows it: a quantizer never silently calibrates on noise.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.paths import atomic_path

METHODS = ("minmax", "percentile", "entropy")
# ORT's percentile calibrator keeps this share of each tensor's magnitudes (its default).
PERCENTILE = 99.999
QUANTIZER = "onnxruntime.quantization.quantize_static"
# The settings TensorRT's parser needs (platform.md); recorded in every INT8 manifest.
TRT_OPTIONS = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}


@dataclass(frozen=True)
class QuantSpec:
    """method: calibration ranges from the min/max seen, a percentile of magnitudes, or ORT's entropy (KL) method;
    per_channel: one weight scale per output channel; exclude_nodes / exclude_op_types: left in float; keep_heads:
    the output heads (`output_heads`) left in float too (on UW-IOM's real skeletons, mtl_gcn_edtcn's INT8 lost 1.7
    F1@10 points with its activity head quantized, 0.2 without);
    min_samples: fewest distinct calibration samples accepted; allow_random / allow_small: accept random data /
    fewer samples (tests and plumbing only)."""

    method: str = "minmax"
    per_channel: bool = False
    exclude_nodes: tuple[str, ...] = ()
    exclude_op_types: tuple[str, ...] = ()
    keep_heads: bool = True
    min_samples: int = 64
    allow_random: bool = False
    allow_small: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"unknown calibration method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not (isinstance(self.min_samples, int) and self.min_samples >= 1):
            raise InputError(f"min_samples must be a whole number >= 1, got {self.min_samples!r}")

    def settings(self) -> dict:
        return {"method": self.method, "per_channel": self.per_channel, "exclude_nodes": list(self.exclude_nodes),
                "exclude_op_types": list(self.exclude_op_types), "keep_heads": self.keep_heads,
                "activation_type": "QInt8",
                "weight_type": "QInt8", "quant_format": "QDQ", **TRT_OPTIONS,
                **({"percentile": PERCENTILE} if self.method == "percentile" else {})}


def check_calibration(calib, spec: QuantSpec) -> None:
    """Refuse random or too few calibration samples unless the spec allows them (module doc)."""
    if not calib.feeds:
        raise InputError("no calibration samples: the data gave no frames to calibrate on")
    if not calib.real and not spec.allow_random:
        raise InputError(f"refusing to calibrate on random data ({calib.source}); real samples are needed "
                         "(--allow-random only for plumbing tests)")
    distinct = calib.distinct
    if distinct < spec.min_samples and not spec.allow_small:
        raise InputError(f"only {distinct} distinct calibration samples, fewer than the {spec.min_samples} needed "
                         "(give more data or --samples, or --allow-small)")


def calibration_method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}[name]


def feed_reader(feeds: list[dict]):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

        def __len__(self):
            return len(feeds)

    return Reader()


@contextlib.contextmanager
def quiet_quantizer():
    """ORT's quantizer logs advice at WARNING level (pre-processing, opset) and its histogram calibrators print
    their settings to stdout: neither is the user's business (the manifest records the settings)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


# Layers with weights: walking back from an output stops at the first one (a recurrent layer is a head too, though
# ONNX Runtime leaves it in float anyway).
WEIGHTED = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "RNN")


def output_heads(model, ops: tuple[str, ...] = ("Conv", "MatMul", "Gemm")) -> list[str]:
    """The last weighted layer on every path to an answer, found walking back from the graph outputs through other
    nodes, where it is one of `ops`: the layers whose rounding goes straight into class scores, scores and
    coordinates. A streaming step's next states (`next_state_*`, export/onnx_stream.py) are no answers, and a Shape
    node reads no values, so neither leads further back."""
    producer = {out: node for node in model.graph.node for out in node.output}
    heads, seen = [], set()
    stack = [o.name for o in model.graph.output if not o.name.startswith("next_state_")]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ops:
            heads.append(node.name)
        elif node.op_type not in WEIGHTED and node.op_type not in ("Shape", "Size"):
            stack.extend(node.input)
    return sorted(heads)


def _check_nodes(model, spec: QuantSpec) -> list[str]:
    names = {n.name for n in model.graph.node}
    unknown = [n for n in spec.exclude_nodes if n not in names]
    if unknown:
        raise InputError(f"no node named {', '.join(map(repr, unknown))} in the graph (ONNX node names)")
    heads = output_heads(model) if spec.keep_heads else []
    return list(dict.fromkeys([*spec.exclude_nodes, *heads]))


def quantize_int8(onnx_path: str | Path, calib, spec: QuantSpec, out_path: str | Path) -> Path:
    """The INT8 QDQ graph of `onnx_path` calibrated on `calib` (a CalibrationSet), written to `out_path` and
    checked (module doc)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QDQRegistry

    check_calibration(calib, spec)
    source = Path(onnx_path)
    model = onnx.load(str(source))
    excluded_nodes = _check_nodes(model, spec)
    ops = sorted(set(QDQRegistry) - set(spec.exclude_op_types))
    extra = {**TRT_OPTIONS}
    if spec.method == "percentile":
        extra["CalibPercentile"] = PERCENTILE
    out = Path(out_path)
    with _scratch_copy(model) as copy, atomic_path(out, suffix=".onnx") as tmp, quiet_quantizer():
        quantize_static(str(copy), str(tmp), feed_reader(calib.feeds), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=ops, per_channel=spec.per_channel, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=excluded_nodes,
                        calibrate_method=calibration_method(spec.method), extra_options=extra)
        check_qdq(tmp)
        _runs(tmp, calib.feeds[0])
    return out


@contextlib.contextmanager
def _scratch_copy(model):
    """The path of `model` (an onnx ModelProto) saved alone in a temporary folder. ONNX Runtime's quantizer and
    calibrators write `<model>-inferred.onnx` beside the file they are given and delete it: beside the user's model
    that would replace and then remove a file of that name, and fail in a read-only models folder."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="ergoedge-calib-") as folder:
        path = Path(folder) / "model.onnx"
        onnx.save(model, str(path))
        yield path


def check_qdq(path: str | Path) -> dict:
    """Counts of the QDQ graph's Q and DQ nodes; an InputError when one is not int8 with zero point 0 or when a
    bias is quantized (an int32 DequantizeLinear), which TensorRT's parser would reject."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    counts = {"QuantizeLinear": 0, "DequantizeLinear": 0}
    for node in model.graph.node:
        if node.op_type not in counts:
            continue
        counts[node.op_type] += 1
        zero = consts.get(node.input[2]) if len(node.input) > 2 else None
        if zero is None or zero.dtype != np.int8 or np.any(zero != 0):
            kind = "no zero point" if zero is None else f"zero point {zero.dtype} {zero.ravel()[:3]}"
            raise InputError(f"{Path(path).name}: {node.op_type} {node.name!r} is not symmetric int8 ({kind})")
        if node.op_type == "DequantizeLinear" and consts.get(node.input[0], np.zeros(0, np.int8)).dtype != np.int8:
            raise InputError(f"{Path(path).name}: {node.name!r} dequantizes a non-int8 constant (a quantized bias)")
    if not counts["QuantizeLinear"]:
        raise InputError(f"{Path(path).name}: nothing was quantized (every node excluded?)")
    return counts


def _runs(path: Path, feed: dict) -> None:
    """ONNX Runtime loads the graph and gives finite outputs for one real sample."""
    from calibration.readers import open_session

    session = open_session(path)
    names = {i.name for i in session.get_inputs()}
    outputs = session.run(None, {k: v for k, v in feed.items() if k in names})
    if not all(np.isfinite(o).all() for o in outputs if np.asarray(o).dtype.kind == "f"):
        raise InputError(f"{path.name}: ONNX Runtime gives non-finite outputs for a calibration sample")


def convert_fp16(onnx_path: str | Path, out_path: str | Path, feed: dict | None = None) -> Path:
    """The FP16 graph of `onnx_path` (float32 inputs and outputs kept), written to `out_path` once ONNX Runtime
    loads it (and runs `feed`, when given)."""
    import onnx
    # ONNX Runtime's own converter: onnxconverter-common's (1.16) leaves Cast-to-float nodes and their consumers
    # typed inconsistently in graphs with a bool mask, which ONNX Runtime then refuses to load.
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = onnx.load(str(onnx_path))
    with quiet_quantizer():
        half = convert_float_to_float16(model, keep_io_types=True)
        OnnxModel(half).topological_sort()  # the converter appends the input casts last; the ONNX spec wants order
    out = Path(out_path)
    with atomic_path(out, suffix=".onnx") as tmp:
        onnx.save(half, str(tmp))
        onnx.checker.check_model(str(tmp))
        if feed is not None:
            _runs(tmp, feed)
        else:
            from calibration.readers import open_session

            open_session(tmp)
    return out


def tensor_ranges(onnx_path: str | Path, calib, spec: QuantSpec) -> dict[str, tuple[float, float]]:
    """(low, high) of every float tensor of the graph (inputs and intermediate outputs) over `calib`, by the
    spec's method, as ORT's calibrators compute them for quantize_static; tensors without a finite range
    (never reached, or NaN) are left out. What a TensorRT calibration cache is made from."""
    import onnx
    from onnxruntime.quantization.calibrate import create_calibrator

    check_calibration(calib, spec)
    options = {"percentile": PERCENTILE} if spec.method == "percentile" else {}
    with _scratch_copy(onnx.load(str(onnx_path))) as copy, quiet_quantizer():
        calibrator = create_calibrator(copy, None, augmented_model_path=str(copy.with_name("aug.onnx")),
                                       calibrate_method=calibration_method(spec.method), extra_options=options)
        calibrator.collect_data(feed_reader(calib.feeds))
        data = calibrator.compute_data()
    out = {}
    for name, value in data.data.items():
        low, high = (float(np.asarray(v).ravel()[0]) for v in value.range_value)
        if np.isfinite(low) and np.isfinite(high):
            out[name] = (low, high)
    return out
