"""TFLite -> ONNX converter for the float32 vision models ergo-edge ships (MediaPipe BlazePose), with a parity check.

Self-contained: imports only numpy, onnx, tflite (flatbuffer schema), ai_edge_litert and onnxruntime, never `edge`,
because it runs inside an isolated tools venv (see `export/mediapipe/fetch.py`). `tflite`, `ai_edge_litert` and
`onnxruntime` are imported inside the functions that need them.

    python tflite_onnx.py SRC.tflite OUT.onnx [--input-range LO HI] [--tolerance T] [--no-verify | --verify-only]

prints one JSON object (inputs, outputs, op counts, verification figures). Exit codes: 0 converted and verified,
1 verification above tolerance, 2 conversion error (for example an unsupported op, named in the one-line message).

The ONNX graph (opset 17, IR 8, float32) keeps the TFLite graph's input/output names, shapes and layouts (NHWC in,
TFLite's layout out); inside it runs NCHW, with a Transpose (or a Reshape, when only size-1 axes move) at the
boundaries. Weights are folded to float32 initializers: fp16 DEQUANTIZE and sparse DENSIFY are decoded here, and a
zero PAD that only feeds convolutions is folded into their `pads`. Supported ops: see `SUPPORTED_OPS`; anything else
(integer quantization, control flow, other ops) is refused with a message naming it. Fused activations: RELU, RELU6,
RELU_N1_TO_1 (TFLite's float kernels silently skip a fused TANH or SIGN_BIT, so those are refused rather than
guessed). Mappings checked numerically: SAME padding as explicit (asymmetric) pads, DEPTH_TO_SPACE = ONNX DCR,
RESIZE_BILINEAR half_pixel_centers / align_corners / neither = ONNX half_pixel / align_corners / asymmetric.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONVERTER_VERSION = "1"
OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: loadable by older ONNX Runtime / TensorRT parsers too

SUPPORTED_OPS = (
    "ADD", "CONCATENATION", "CONV_2D", "DENSIFY", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "LOGISTIC",
    "MAX_POOL_2D", "PAD", "RESHAPE", "RESIZE_BILINEAR",
)

# tflite schema enums (stable across schema versions)
_TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_SAME, _VALID = 0, 1
_DENSE, _SPARSE_CSR = 0, 1
_ACTIVATIONS = {0: None, 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_OPTIONS_CLASS = {
    "ADD": "AddOptions", "CONCATENATION": "ConcatenationOptions", "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions", "DEPTH_TO_SPACE": "DepthToSpaceOptions",
    "MAX_POOL_2D": "Pool2DOptions", "RESIZE_BILINEAR": "ResizeBilinearOptions",
}
NATIVE, NCHW = "native", "nchw"  # NATIVE: the TFLite layout (NHWC for 4-D tensors)
_TO_NCHW, _TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


class ConversionError(Exception):
    """The TFLite model uses something this converter does not handle; the message says what."""


class VerificationError(Exception):
    """The ONNX model cannot be compared with the TFLite model (names or shapes differ)."""


# ---------------------------------------------------------------------------------------------------------------------
# Reading the flatbuffer


class _Tensor:
    __slots__ = ("data", "dtype", "index", "name", "shape", "sparsity")

    def __init__(self, index, name, shape, dtype, data, sparsity):
        self.index, self.name, self.shape, self.dtype, self.data, self.sparsity = (
            index, name, shape, dtype, data, sparsity)


class _Op:
    __slots__ = ("index", "inputs", "name", "options", "outputs")

    def __init__(self, index, name, inputs, outputs, options):
        self.index, self.name, self.inputs, self.outputs, self.options = index, name, inputs, outputs, options


class _Graph:
    def __init__(self, tensors, ops, inputs, outputs):
        self.tensors, self.ops, self.inputs, self.outputs = tensors, ops, inputs, outputs


def _int_vector(table, kind):
    """A SparseIndexVector union member (1 Int32Vector, 2 Uint16Vector, 3 Uint8Vector) as an int64 array."""
    import tflite

    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}.get(kind)
    if cls is None or table is None:
        raise ConversionError(f"unsupported sparse index vector type {kind}")
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    if vec.ValuesLength() == 0:
        return np.zeros(0, np.int64)
    return np.asarray(vec.ValuesAsNumpy(), dtype=np.int64)


def _read_sparsity(sp):
    if sp is None:
        return None
    levels = []
    for k in range(sp.DimMetadataLength()):
        d = sp.DimMetadata(k)
        if d.Format() == _DENSE:
            levels.append((_DENSE, int(d.DenseSize()), None, None))
        elif d.Format() == _SPARSE_CSR:
            levels.append((_SPARSE_CSR, 0, _int_vector(d.ArraySegments(), d.ArraySegmentsType()),
                           _int_vector(d.ArrayIndices(), d.ArrayIndicesType())))
        else:
            raise ConversionError(f"unsupported sparse dimension format {d.Format()}")
    traversal = [int(v) for v in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else []
    block_map = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    return {"traversal_order": traversal, "block_map": block_map, "levels": levels}


def _read_graph(buf: bytes) -> _Graph:
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        n_subgraphs = model.SubgraphsLength()
    except (IndexError, TypeError, ValueError, struct.error) as exc:  # flatbuffers on garbage
        raise ConversionError(f"not a TFLite flatbuffer ({type(exc).__name__}: {exc})") from None
    if buf[4:8] != b"TFL3" or n_subgraphs < 1:
        raise ConversionError("not a TFLite model (no TFL3 identifier or no subgraph)")
    if n_subgraphs > 1:
        raise ConversionError(f"models with {n_subgraphs} subgraphs (control flow) are not supported")
    g = model.Subgraphs(0)

    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        name = t.Name().decode("utf-8", "replace")
        shape = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if t.Type() not in _TENSOR_DTYPES:
            raise ConversionError(f"tensor {name!r} has unsupported TFLite type {t.Type()}")
        dtype = np.dtype(_TENSOR_DTYPES[t.Type()])
        data = None
        b = model.Buffers(t.Buffer())
        if b is not None:
            if b.Offset() > 1:  # large models keep buffers after the flatbuffer
                raw = buf[b.Offset(): b.Offset() + b.Size()]
            elif b.DataLength():
                raw = b.DataAsNumpy().tobytes()
            else:
                raw = b""
            if raw:
                data = np.frombuffer(raw, dtype=dtype).copy()
        sparsity = _read_sparsity(t.Sparsity())
        if data is not None and sparsity is None:
            if data.size != int(np.prod(shape, dtype=np.int64)):
                raise ConversionError(f"constant {name!r}: {data.size} values for shape {list(shape)}")
            data = data.reshape(shape)
        tensors.append(_Tensor(i, name, shape, dtype, data, sparsity))

    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{code.CustomCode().decode('utf-8', 'replace')}"
        inputs = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outputs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        options = None
        cls_name = _OPTIONS_CLASS.get(name)
        if cls_name is not None and op.BuiltinOptions() is not None:
            table = op.BuiltinOptions()
            options = getattr(tflite, cls_name)()
            options.Init(table.Bytes, table.Pos)
        ops.append(_Op(i, name, inputs, outputs, options))

    graph_inputs = [int(v) for v in g.InputsAsNumpy()]
    graph_outputs = [int(v) for v in g.OutputsAsNumpy()]
    return _Graph(tensors, ops, graph_inputs, graph_outputs)


def densify(values: np.ndarray, dense_shape, traversal_order, block_map, levels) -> np.ndarray:
    """Decode a TFLite sparse tensor (TACO-style dim metadata, as in tflite::internal::sparsity::FormatConverter).

    `levels[k]` describes the k-th dimension in `traversal_order`: (DENSE=0, dense_size, None, None) or
    (SPARSE_CSR=1, 0, array_segments, array_indices). Dimensions after the original rank are block dimensions,
    `block_map[j]` naming the original dimension that block j subdivides. Values are stored in traversal order.
    """
    dense_shape = [int(v) for v in dense_shape]
    rank = len(dense_shape)
    n_levels = len(traversal_order)
    if len(levels) != n_levels or n_levels != rank + len(block_map):
        raise ConversionError("inconsistent sparsity parameters (traversal order, block map, dim metadata)")
    block_size = [levels[rank + j][1] for j in range(len(block_map))]
    prev = np.zeros(1, np.int64)  # position of each partial path in the previous level
    coords: list[np.ndarray] = []
    for fmt, size, segments, indices in levels:
        if fmt == _DENSE:
            counts = np.full(prev.size, size, np.int64)
            local = np.tile(np.arange(size, dtype=np.int64), prev.size)
            prev = (prev[:, None] * size + np.arange(size, dtype=np.int64)[None, :]).ravel()
        else:
            if prev.size and prev.max() + 1 >= segments.size:
                raise ConversionError("sparse tensor: array_segments too short")
            starts, ends = segments[prev], segments[prev + 1]
            counts = ends - starts
            total = int(counts.sum())
            offsets = np.cumsum(counts) - counts
            prev = np.repeat(starts, counts) + np.arange(total, dtype=np.int64) - np.repeat(offsets, counts)
            local = indices[prev]
        coords = [np.repeat(c, counts) for c in coords]
        coords.append(local)
    if prev.size != values.size:
        raise ConversionError(f"sparse tensor: {values.size} values for {prev.size} stored positions")
    orig: list[np.ndarray | None] = [None] * rank
    for level in range(rank):
        orig[traversal_order[level]] = coords[level]
    for level in range(rank, n_levels):
        j = traversal_order[level] - rank
        d = block_map[j]
        orig[d] = orig[d] * block_size[j] + coords[level]
    dense = np.zeros(int(np.prod(dense_shape, dtype=np.int64)), dtype=values.dtype)
    if values.size:
        dense[np.ravel_multi_index(tuple(orig), dense_shape)] = values
    return dense.reshape(dense_shape)


def same_pads(in_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (begin, end); the extra pixel of an odd total goes at the end."""
    effective = (kernel - 1) * dilation + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------------------------------------------------------
# Building the ONNX graph


class _Builder:
    def __init__(self, graph: _Graph):
        self.g = graph
        self.t = graph.tensors
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.const: dict[int, np.ndarray] = {}  # folded constants, TFLite layout
        self.layout: dict[int, str] = {}  # activation tensors: which layout the produced ONNX value has
        self.views: set[tuple[int, str]] = set()
        self.pending_pad: dict[int, tuple[int, list[int]]] = {}  # PAD output -> (PAD input, [top, left, bottom, right])
        self.consumers: dict[int, list[_Op]] = {}
        for op in graph.ops:
            for i in op.inputs:
                if i >= 0:
                    self.consumers.setdefault(i, []).append(op)
        self.base = self._unique_names()
        for t in self.t:
            if t.data is not None and t.sparsity is None:
                self.const[t.index] = t.data

    def _unique_names(self) -> dict[int, str]:
        """TFLite tensor names as ONNX names: graph inputs/outputs keep theirs, any other clash gets ':<index>'."""
        io = [self.t[i].name for i in dict.fromkeys(self.g.inputs + self.g.outputs)]
        dupes = sorted({n for n in io if io.count(n) > 1})
        if dupes:
            raise ConversionError(f"graph input/output names are not unique: {', '.join(dupes)}")
        seen = Counter(t.name for t in self.t)
        io_idx = set(self.g.inputs + self.g.outputs)
        names = {}
        for t in self.t:
            clash = not t.name or (t.index not in io_idx and (seen[t.name] > 1 or t.name in io))
            names[t.index] = f"{t.name}:{t.index}" if clash else t.name
        return names

    # -- names and values ---------------------------------------------------------------------------------------------
    def name(self, idx: int, layout: str) -> str:
        return self.base[idx] if layout == NATIVE else f"{self.base[idx]}__nchw"

    def rank(self, idx: int) -> int:
        return len(self.t[idx].shape)

    def shape_in(self, idx: int, layout: str) -> list[int]:
        shape = list(self.t[idx].shape)
        return [shape[p] for p in _TO_NCHW] if layout == NCHW and len(shape) == 4 else shape

    def node(self, op_type, inputs, outputs, name, **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))

    def init(self, name: str, array: np.ndarray) -> str:
        array = np.ascontiguousarray(array)
        if name in self.inits:
            old = numpy_helper.to_array(self.inits[name])
            if old.dtype != array.dtype or old.shape != array.shape or not np.array_equal(old, array):
                raise ConversionError(f"internal: two different constants named {name!r}")
        else:
            self.inits[name] = numpy_helper.from_array(array, name)
        return name

    def int64_const(self, values) -> str:
        values = [int(v) for v in values]
        return self.init("const_i64_" + "_".join(str(v).replace("-", "m") for v in values),
                         np.asarray(values, np.int64))

    def f32_scalar(self, value: float) -> str:
        return self.init(f"const_f32_{value:g}".replace("-", "m"), np.asarray(value, np.float32))

    def value(self, idx: int, layout: str) -> str:
        """ONNX name of tensor `idx` in `layout` (NATIVE for non-4-D tensors), adding the transposition once."""
        if self.rank(idx) != 4:
            layout = NATIVE
        arr = self.const.get(idx)
        if arr is not None:  # constants are laid out at conversion time
            arr = arr.astype(np.float32) if arr.dtype == np.float16 else arr
            if layout == NCHW:
                arr = arr.transpose(_TO_NCHW)
            return self.init(self.name(idx, layout), arr)
        if idx not in self.layout:
            raise ConversionError(f"tensor {self.t[idx].name!r} is used before it is computed")
        have = self.layout[idx]
        if have == layout or (idx, layout) in self.views:
            return self.name(idx, layout)
        perm = _TO_NCHW if layout == NCHW else _TO_NHWC
        src_shape = self.shape_in(idx, have)
        dst_shape = [src_shape[p] for p in perm]
        moved = [p for p in perm if src_shape[p] != 1]
        src, dst = self.name(idx, have), self.name(idx, layout)
        if moved == sorted(moved):  # only size-1 axes move: the data order is unchanged
            self.node("Reshape", [src, self.int64_const(dst_shape)], [dst], f"{dst}__reshape")
        else:
            self.node("Transpose", [src], [dst], f"{dst}__transpose", perm=list(perm))
        self.views.add((idx, layout))
        return dst

    def produce(self, op: _Op, out_idx: int, layout: str, op_type: str, inputs, activation=None, **attrs):
        """Emit `op_type` writing tensor `out_idx` (in `layout`), followed by the fused activation if any."""
        if self.rank(out_idx) != 4:
            layout = NATIVE
        final = self.name(out_idx, layout)
        act = _ACTIVATIONS.get(activation, f"#{activation}") if activation is not None else None
        if act not in (None, "RELU", "RELU6", "RELU_N1_TO_1"):
            # TFLite's float kernels clamp for these three only and silently skip TANH / SIGN_BIT: refuse to guess
            raise ConversionError(f"{op.name} (op {op.index}): unsupported fused activation {act}")
        target = f"{final}__preact" if act else final
        self.node(op_type, inputs, [target], f"{op.name.lower()}_{op.index}", **attrs)
        if act == "RELU":
            self.node("Relu", [target], [final], f"relu_{op.index}")
        elif act == "RELU6":
            self.node("Clip", [target, self.f32_scalar(0.0), self.f32_scalar(6.0)], [final], f"relu6_{op.index}")
        elif act == "RELU_N1_TO_1":
            self.node("Clip", [target, self.f32_scalar(-1.0), self.f32_scalar(1.0)], [final], f"relu1_{op.index}")
        self.layout[out_idx] = layout

    # -- ops ----------------------------------------------------------------------------------------------------------
    def run(self):
        for i in self.g.inputs:
            t = self.t[i]
            if t.dtype != np.float32:
                raise ConversionError(f"input {t.name!r} is {t.dtype}, only float32 inputs are supported")
            self.layout[i] = NATIVE
        unsupported = sorted({op.name for op in self.g.ops if op.name not in SUPPORTED_OPS})
        if unsupported:
            raise ConversionError(f"unsupported TFLite op(s): {', '.join(unsupported)} "
                                  f"(supported: {', '.join(SUPPORTED_OPS)})")
        for op in self.g.ops:
            for o in op.outputs:
                if self.t[o].dtype != np.float32 and not (op.name == "DENSIFY" and self.t[o].dtype == np.float16):
                    raise ConversionError(f"{op.name} (op {op.index}) produces {self.t[o].dtype} tensor "
                                          f"{self.t[o].name!r}: only float models are supported")
            getattr(self, "_op_" + op.name.lower())(op)
        for o in self.g.outputs:
            if o in self.const:
                raise ConversionError(f"output {self.t[o].name!r} is a constant")
            self.value(o, NATIVE)

    def _need_const(self, op: _Op, pos: int, what: str) -> np.ndarray:
        idx = op.inputs[pos] if pos < len(op.inputs) else -1
        arr = self.const.get(idx) if idx >= 0 else None
        if arr is None:
            raise ConversionError(f"{op.name} (op {op.index}): non-constant {what} is not supported")
        return arr

    def _op_densify(self, op):
        t = self.t[op.inputs[0]]
        if t.sparsity is None or t.data is None:
            raise ConversionError(f"DENSIFY (op {op.index}): input {t.name!r} is not a sparse constant")
        sp = t.sparsity
        self.const[op.outputs[0]] = densify(t.data, t.shape, sp["traversal_order"], sp["block_map"], sp["levels"])

    def _op_dequantize(self, op):
        t = self.t[op.inputs[0]]
        arr = self.const.get(t.index)
        if arr is None:
            raise ConversionError(f"DEQUANTIZE (op {op.index}): non-constant input {t.name!r} is not supported")
        if arr.dtype != np.float16:
            raise ConversionError(f"DEQUANTIZE (op {op.index}): only float16 constants are supported, "
                                  f"{t.name!r} is {arr.dtype} (integer-quantized models are not supported)")
        self.const[op.outputs[0]] = arr.astype(np.float32)

    def _spatial_pads(self, op, in_idx, kh, kw, sh, sw, dh, dw, padding):
        _, h, w, _ = self.t[in_idx].shape
        if padding == _SAME:
            (pt, pb), (pl, pr) = same_pads(h, kh, sh, dh), same_pads(w, kw, sw, dw)
        elif padding == _VALID:
            pt = pb = pl = pr = 0
        else:
            raise ConversionError(f"{op.name} (op {op.index}): unknown padding {padding}")
        src, src_h, src_w = in_idx, h, w
        if in_idx in self.pending_pad:  # a zero PAD folded into this op: its pads add to the op's own
            src, (ft, fl, fb, fr) = self.pending_pad[in_idx]
            src_h, src_w = self.t[src].shape[1:3]
            pt, pl, pb, pr = pt + ft, pl + fl, pb + fb, pr + fr
        out_h = (src_h + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
        out_w = (src_w + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
        if (out_h, out_w) != tuple(self.t[op.outputs[0]].shape[1:3]):
            raise ConversionError(f"{op.name} (op {op.index}): computed output {out_h}x{out_w} does not match "
                                  f"the model's {list(self.t[op.outputs[0]].shape)}")
        return src, [pt, pl, pb, pr]

    def _bias(self, op) -> list[str]:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return []
        return [self.init(self.base[op.inputs[2]] + "__bias", self._need_const(op, 2, "bias").astype(np.float32))]

    def _op_conv_2d(self, op):
        o = op.options
        w = self._need_const(op, 1, "weights").astype(np.float32)  # [O, KH, KW, I]
        _, kh, kw, cin = w.shape
        if self.t[op.inputs[0]].shape[3] != cin:
            raise ConversionError(f"CONV_2D (op {op.index}): grouped convolution is not supported")
        src, pads = self._spatial_pads(op, op.inputs[0], kh, kw, o.StrideH(), o.StrideW(), o.DilationHFactor(),
                                       o.DilationWFactor(), o.Padding())
        inputs = [self.value(src, NCHW), self.init(self.base[op.inputs[1]] + "__oihw", w.transpose(0, 3, 1, 2))]
        inputs += self._bias(op)
        self.produce(op, op.outputs[0], NCHW, "Conv", inputs, o.FusedActivationFunction(),
                     kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                     dilations=[o.DilationHFactor(), o.DilationWFactor()], pads=pads, group=1)

    def _op_depthwise_conv_2d(self, op):
        o = op.options
        w = self._need_const(op, 1, "weights").astype(np.float32)  # [1, KH, KW, I*M]
        _, kh, kw, cout = w.shape
        cin = self.t[op.inputs[0]].shape[3]
        if cout != cin * o.DepthMultiplier() and not (o.DepthMultiplier() == 0 and cout % cin == 0):
            raise ConversionError(f"DEPTHWISE_CONV_2D (op {op.index}): {cout} output channels for {cin} inputs "
                                  f"with depth multiplier {o.DepthMultiplier()}")
        src, pads = self._spatial_pads(op, op.inputs[0], kh, kw, o.StrideH(), o.StrideW(), o.DilationHFactor(),
                                       o.DilationWFactor(), o.Padding())
        inputs = [self.value(src, NCHW), self.init(self.base[op.inputs[1]] + "__dw", w.transpose(3, 0, 1, 2))]
        inputs += self._bias(op)
        self.produce(op, op.outputs[0], NCHW, "Conv", inputs, o.FusedActivationFunction(),
                     kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                     dilations=[o.DilationHFactor(), o.DilationWFactor()], pads=pads, group=cin)

    def _op_max_pool_2d(self, op):
        o = op.options
        kh, kw = o.FilterHeight(), o.FilterWidth()
        _, h, w, _ = self.t[op.inputs[0]].shape
        if o.Padding() == _SAME:
            (pt, pb), (pl, pr) = same_pads(h, kh, o.StrideH()), same_pads(w, kw, o.StrideW())
        else:
            pt = pb = pl = pr = 0
        self.produce(op, op.outputs[0], NCHW, "MaxPool", [self.value(op.inputs[0], NCHW)],
                     o.FusedActivationFunction(), kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                     pads=[pt, pl, pb, pr])

    def _op_pad(self, op):
        pads = self._need_const(op, 1, "paddings").astype(np.int64)
        src = op.inputs[0]
        rank = self.rank(src)
        if pads.shape != (rank, 2):
            raise ConversionError(f"PAD (op {op.index}): paddings of shape {list(pads.shape)} for rank {rank}")
        if src in self.const:
            raise ConversionError(f"PAD (op {op.index}): padding a constant is not supported")
        out = op.outputs[0]
        consumers = self.consumers.get(out, [])
        foldable = (
            rank == 4 and (pads >= 0).all() and not pads[0].any() and not pads[3].any() and consumers
            and out not in self.g.outputs
            and all(c.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and c.inputs[0] == out
                    and out not in c.inputs[1:] for c in consumers)
        )
        if foldable:  # zero padding then a convolution == a convolution with pads
            self.pending_pad[out] = (src, [int(pads[1, 0]), int(pads[2, 0]), int(pads[1, 1]), int(pads[2, 1])])
            return
        if (pads < 0).any():
            raise ConversionError(f"PAD (op {op.index}): negative paddings are not supported")
        order = list(_TO_NCHW) if rank == 4 else list(range(rank))
        onnx_pads = [int(pads[d, 0]) for d in order] + [int(pads[d, 1]) for d in order]
        layout = NCHW if rank == 4 else NATIVE
        self.produce(op, out, layout, "Pad", [self.value(src, layout), self.int64_const(onnx_pads)], None,
                     mode="constant")

    def _op_add(self, op):
        a, b = op.inputs[:2]
        out = op.outputs[0]
        layout = NCHW if self.rank(out) == 4 else NATIVE
        names = []
        for idx in (a, b):
            arr = self.const.get(idx)
            if arr is not None and layout == NCHW:  # broadcast constant: align to NHWC rank 4, then to NCHW
                arr = arr.astype(np.float32).reshape((1,) * (4 - arr.ndim) + arr.shape).transpose(_TO_NCHW)
                names.append(self.init(f"{self.base[idx]}__bcast_nchw", arr))
            elif arr is not None:
                names.append(self.value(idx, NATIVE))
            else:
                names.append(self.value(idx, layout))
        self.produce(op, out, layout, "Add", names, op.options.FusedActivationFunction())

    def _op_logistic(self, op):
        src = op.inputs[0]
        layout = self.layout.get(src, NATIVE)
        self.produce(op, op.outputs[0], layout, "Sigmoid", [self.value(src, layout)])

    def _op_reshape(self, op):
        src, out = op.inputs[0], op.outputs[0]
        shape = list(self.t[out].shape)
        if any(v < 0 for v in shape):
            raise ConversionError(f"RESHAPE (op {op.index}): dynamic output shape {shape}")
        if src in self.const:
            self.const[out] = self.const[src].reshape(shape)
            return
        layout = self.layout.get(src, NATIVE)
        if layout == NCHW:  # reshape straight from NCHW when only size-1 axes would move
            nchw = self.shape_in(src, NCHW)
            moved = [p for p in _TO_NHWC if nchw[p] != 1]
            if moved != sorted(moved):
                layout = NATIVE
        self.produce(op, out, NATIVE, "Reshape", [self.value(src, layout), self.int64_const(shape)])

    def _op_concatenation(self, op):
        out = op.outputs[0]
        rank = self.rank(out)
        axis = op.options.Axis()
        axis = axis + rank if axis < 0 else axis
        layout = NATIVE
        if rank == 4:
            layout, axis = NCHW, _TO_NCHW.index(axis)
        self.produce(op, out, layout, "Concat", [self.value(i, layout) for i in op.inputs],
                     op.options.FusedActivationFunction(), axis=axis)

    def _op_resize_bilinear(self, op):
        o = op.options
        size = self._need_const(op, 1, "size").astype(np.int64).ravel()
        out = op.outputs[0]
        if o.AlignCorners() and o.HalfPixelCenters():
            raise ConversionError(f"RESIZE_BILINEAR (op {op.index}): align_corners and half_pixel_centers together")
        mode = "align_corners" if o.AlignCorners() else "half_pixel" if o.HalfPixelCenters() else "asymmetric"
        n, _, _, c = self.t[op.inputs[0]].shape
        if tuple(size) != self.t[out].shape[1:3]:
            raise ConversionError(f"RESIZE_BILINEAR (op {op.index}): size {list(size)} does not match the output")
        self.produce(op, out, NCHW, "Resize",
                     [self.value(op.inputs[0], NCHW), "", "", self.int64_const([n, c, size[0], size[1]])],
                     mode="linear", coordinate_transformation_mode=mode)

    def _op_depth_to_space(self, op):
        # TFLite (NHWC): out[b, h*bs+i, w*bs+j, c] = in[b, h, w, (i*bs+j)*C + c], which is ONNX's DCR order
        self.produce(op, op.outputs[0], NCHW, "DepthToSpace", [self.value(op.inputs[0], NCHW)],
                     blocksize=int(op.options.BlockSize()), mode="DCR")


def _value_info(tensor: _Tensor, name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(tensor.shape))


def convert(tflite_bytes: bytes) -> onnx.ModelProto:
    """Convert a float32 TFLite model (fp16 weights allowed, sparse weights allowed) to an ONNX model."""
    graph = _read_graph(bytes(tflite_bytes))
    b = _Builder(graph)
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
    return dict(sorted(Counter(op.name for op in _read_graph(bytes(tflite_bytes)).ops).items()))


# ---------------------------------------------------------------------------------------------------------------------
# Verification


def _samples(shape, lo: float, hi: float, n_random: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [rng.uniform(lo, hi, size=shape).astype(np.float32) for _ in range(n_random)]
    if len(shape) == 4:  # a smooth synthetic image: low-frequency gradients and a bright disc, per channel
        _, h, w, c = shape
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        y, x = y / max(h - 1, 1), x / max(w - 1, 1)
        chans = []
        for k in range(c):
            img = 0.5 + 0.3 * np.sin(2 * np.pi * (x * (1 + k) + 0.5 * y)) * np.cos(2 * np.pi * y * (1.5 - 0.3 * k))
            img += 0.4 * (((x - 0.5) ** 2 + (y - 0.45) ** 2) < 0.05)
            chans.append(np.clip(img, 0, 1))
        smooth = np.stack(chans, -1)[None]
        out.append((lo + (hi - lo) * smooth).astype(np.float32).reshape(shape))
    else:
        out.append(np.full(shape, (lo + hi) / 2, np.float32))
    return out


def verify(tflite_path, onnx_path, input_range=(-1.0, 1.0), tolerance: float = 1e-3, samples: int = 3,
           seed: int = 0) -> dict:
    """Run TFLite (ai-edge-litert, default CPU path with XNNPACK) and ONNX Runtime (CPU) on `samples` uniform random
    inputs in `input_range` plus one smooth synthetic image; report per output the max abs difference and that
    difference relative to the output's scale (max |value|, at least 1). `ok` is False when a relative difference
    exceeds `tolerance` or a decoded DENSIFY constant differs from the interpreter's own.

    For scale, `tflite_kernels_diff` is how far TFLite's two CPU paths (XNNPACK and its builtin kernels) differ from
    each other on the same inputs: the float32 noise floor of the model.
    """
    import warnings

    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    tflite_path, onnx_path = Path(tflite_path), Path(onnx_path)
    lo, hi = float(input_range[0]), float(input_range[1])
    if not lo < hi:
        raise VerificationError(f"empty input range [{lo}, {hi}]")
    interp = Interpreter(model_path=str(tflite_path), num_threads=2)
    interp.allocate_tensors()
    with warnings.catch_warnings():  # preserving all tensors warns that it is meant for debugging: it is
        warnings.simplefilter("ignore")
        builtin = Interpreter(model_path=str(tflite_path), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    builtin.allocate_tensors()
    sess_opts = ort.SessionOptions()
    sess_opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), sess_opts, providers=["CPUExecutionProvider"])
    in_details = interp.get_input_details()
    out_details = interp.get_output_details()
    onnx_inputs = sorted(i.name for i in sess.get_inputs())
    onnx_outputs = [o.name for o in sess.get_outputs()]
    if onnx_inputs != sorted(d["name"] for d in in_details):
        raise VerificationError(f"input names differ: ONNX {onnx_inputs}, TFLite {[d['name'] for d in in_details]}")
    if sorted(onnx_outputs) != sorted(d["name"] for d in out_details):
        raise VerificationError(f"output names differ: ONNX {onnx_outputs}, TFLite {[d['name'] for d in out_details]}")

    per_input = {d["name"]: _samples(tuple(int(v) for v in d["shape"]), lo, hi, samples, seed) for d in in_details}
    names = [d["name"] for d in out_details]
    diff = dict.fromkeys(names, 0.0)
    floor = dict.fromkeys(names, 0.0)
    scale = dict.fromkeys(names, 0.0)
    shapes = {}
    for k in range(samples + 1):
        feed = {name: xs[k] for name, xs in per_input.items()}
        for it in (interp, builtin):
            for d in in_details:
                it.set_tensor(d["index"], feed[d["name"]])
            it.invoke()
        ref = {d["name"]: interp.get_tensor(d["index"]).astype(np.float64) for d in out_details}
        alt = {d["name"]: builtin.get_tensor(d["index"]).astype(np.float64) for d in out_details}
        got = dict(zip(onnx_outputs, sess.run(onnx_outputs, feed)))
        for name in names:
            r, g = ref[name], got[name]
            if g.shape != r.shape:
                raise VerificationError(f"output {name}: ONNX shape {list(g.shape)} != TFLite {list(r.shape)}")
            shapes[name] = list(r.shape)
            diff[name] = max(diff[name], float(np.max(np.abs(g - r))))
            floor[name] = max(floor[name], float(np.max(np.abs(alt[name] - r))))
            scale[name] = max(scale[name], float(np.max(np.abs(r))))

    # DENSIFY: the decoding here against the interpreter's own (its builtin kernel; XNNPACK bypasses the op)
    graph = _read_graph(tflite_path.read_bytes())
    densify_ops = [op for op in graph.ops if op.name == "DENSIFY"]
    densify_diff = None
    if densify_ops:
        densify_diff = 0.0
        for op in densify_ops:
            t = graph.tensors[op.inputs[0]]
            sp = t.sparsity
            mine = densify(t.data, t.shape, sp["traversal_order"], sp["block_map"], sp["levels"])
            theirs = builtin.get_tensor(op.outputs[0])
            if theirs.shape != mine.shape:
                densify_diff = float("inf")
                break
            densify_diff = max(densify_diff, float(np.max(np.abs(mine.astype(np.float64) - theirs))))

    outputs = {}
    ok = densify_diff in (None, 0.0)
    for name in names:
        rel = diff[name] / max(scale[name], 1.0)
        ok = ok and rel <= tolerance
        outputs[name] = {"shape": shapes[name], "max_abs_diff": diff[name], "max_abs_value": scale[name],
                         "relative_diff": rel, "tflite_kernels_diff": floor[name]}
    return {
        "ok": bool(ok),
        "tolerance": tolerance,
        "samples": samples + 1,
        "seed": seed,
        "input_range": [lo, hi],
        "outputs": outputs,
        "densify_ops": len(densify_ops),
        "densify_max_abs_diff": densify_diff,
        "reference": "ai-edge-litert default CPU path (XNNPACK)",
        "onnxruntime": ort.__version__,
    }


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
