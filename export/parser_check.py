"""A CPU-side check that TensorRT's ONNX parser takes a graph: no GPU needed, so it runs on the build machines.

    report = check_parser("edge_stream_step_int8.onnx")
    report.accepted, report.errors, report.operators, report.unsupported

The parser is TensorRT-RTX's (`pip install tensorrt-rtx`, about 95 MB to download): it creates the builder, a
strongly typed network and the ONNX parser without a GPU and carries a current TensorRT ONNX parser. Where it is
absent and TensorRT itself is installed (a Jetson), TensorRT's parser is used. TensorRT-RTX engines do not run on a
Jetson, so nothing is built here: this answers only "does the parser take every node", with an operator report
(op type -> count, and the nodes whose op type the parser lacks).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.inference.tensorrt_build import all_nodes

__all__ = ["ParserReport", "check_parser"]

INSTALL_HINT = "pip install tensorrt-rtx (about 95 MB; TensorRT's ONNX parser without a GPU)"
# Parsers in the order they are tried: TensorRT-RTX (no GPU needed), then TensorRT itself.
_PARSERS = (("tensorrt_rtx", "tensorrt-rtx"), ("tensorrt", "tensorrt"))


@dataclass(frozen=True)
class ParserReport:
    """accepted: the parser took the whole graph. errors: its errors, "node NAME (Op): description". operators: op
    type -> count over the graph (subgraphs included). unsupported: the nodes the parser cannot take, "NAME (Op)".
    parser: which parser and version answered; seconds: how long the parse took."""

    onnx: str
    accepted: bool
    errors: tuple[str, ...]
    operators: dict[str, int]
    unsupported: tuple[str, ...]
    parser: str
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _import_parser() -> tuple[Any, str]:
    import importlib

    missing = []
    for module, label in _PARSERS:
        try:
            return importlib.import_module(module), label
        except ImportError as exc:  # absent, or its libraries do not load here
            missing.append(f"{module}: {exc}")
    raise InputError(f"no TensorRT ONNX parser is installed ({'; '.join(missing)}): {INSTALL_HINT}")


def check_parser(onnx_path: str | Path) -> ParserReport:
    """Parse `onnx_path` with TensorRT's ONNX parser into a strongly typed network (as the device builds graphs
    that carry their precision) and report what it takes and what it does not."""
    import onnx

    path = Path(onnx_path).expanduser()
    if not path.is_file():
        raise InputError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # not protobuf, truncated ...
        raise InputError(f"{path.name} is not a readable ONNX model ({type(exc).__name__})") from None
    nodes = list(all_nodes(model.graph))
    trt, label = _import_parser()

    class Quiet(trt.ILogger):  # keep the parser's messages for the report instead of printing them
        def __init__(self):
            trt.ILogger.__init__(self)
            self.lines: list[str] = []

        def log(self, severity, msg):
            self.lines.append(str(msg))

    started = time.monotonic()
    logger = Quiet()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    accepted = bool(parser.parse_from_file(str(path)))
    errors, bad = [], []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        errors.append(f"node {err.node_name() or err.node()} ({err.node_operator()}): {err.desc()}")
        if err.node_name():
            bad.append(f"{err.node_name()} ({err.node_operator()})")
    lacking = {op for op in {n.op_type for n in nodes} if not parser.supports_operator(op)}
    bad += [f"{n.name} ({n.op_type})" for n in nodes if n.op_type in lacking]
    seconds = time.monotonic() - started
    return ParserReport(onnx=str(path), accepted=accepted, errors=tuple(errors),
                        operators=dict(sorted(Counter(n.op_type for n in nodes).items())),
                        unsupported=tuple(dict.fromkeys(bad)), parser=f"{label} {trt.__version__}",
                        seconds=round(seconds, 3))
