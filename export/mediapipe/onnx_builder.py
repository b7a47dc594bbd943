"""The ONNX graph of a `tflite_graph.TfliteGraph`, built one TFLite op at a time: the op mapping of the converter.

The graph keeps the TFLite graph's input/output names, shapes and layouts (NHWC in, TFLite's layout out); inside it
runs NCHW, with a Transpose (or a Reshape, when only size-1 axes move) at the boundaries. Weights are folded to
float32 initializers: fp16 DEQUANTIZE and sparse DENSIFY are decoded here, and a zero PAD that only feeds
convolutions is folded into their `pads`. Ops: `SUPPORTED_OPS`; anything else is refused with a message naming it.
Fused activations: RELU, RELU6, RELU_N1_TO_1 (TFLite's float kernels silently skip a fused TANH or SIGN_BIT, so those
are refused rather than guessed). Mappings checked numerically: SAME padding as explicit (asymmetric) pads,
DEPTH_TO_SPACE = ONNX DCR, RESIZE_BILINEAR half_pixel_centers / align_corners / neither = ONNX half_pixel /
align_corners / asymmetric.

Part of the converter that `tflite_onnx.py` runs in the tools venv: imports numpy and onnx only, never `edge`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Run as a script in the tools venv (no ergo-edge there) the converter's modules are top-level modules of the
# script's folder; imported from ergo-edge they are modules of the package export.mediapipe.
if __package__:
    from .tflite_graph import ConversionError, TfliteGraph, TfliteOp, densify
else:
    from tflite_graph import ConversionError, TfliteGraph, TfliteOp, densify

SUPPORTED_OPS = (
    "ADD", "CONCATENATION", "CONV_2D", "DENSIFY", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "LOGISTIC",
    "MAX_POOL_2D", "PAD", "RESHAPE", "RESIZE_BILINEAR",
)

# tflite schema enums (stable across schema versions)
_SAME, _VALID = 0, 1
_ACTIVATIONS = {0: None, 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
NATIVE, NCHW = "native", "nchw"  # NATIVE: the TFLite layout (NHWC for 4-D tensors)
_TO_NCHW, _TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


def same_pads(in_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (begin, end); the extra pixel of an odd total goes at the end."""
    effective = (kernel - 1) * dilation + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


class OnnxBuilder:
    """Collects the ONNX nodes and initializers of one TFLite graph (`run`); `base` maps tensor index -> ONNX name."""

    def __init__(self, graph: TfliteGraph):
        self.g = graph
        self.t = graph.tensors
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.const: dict[int, np.ndarray] = {}  # folded constants, TFLite layout
        self.layout: dict[int, str] = {}  # activation tensors: which layout the produced ONNX value has
        self.views: set[tuple[int, str]] = set()
        self.pending_pad: dict[int, tuple[int, list[int]]] = {}  # PAD output -> (PAD input, [top, left, bottom, right])
        self.consumers: dict[int, list[TfliteOp]] = {}
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

    def produce(self, op: TfliteOp, out_idx: int, layout: str, op_type: str, inputs, activation=None, **attrs):
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

    def _need_const(self, op: TfliteOp, pos: int, what: str) -> np.ndarray:
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
        w = self._need_const(op, 1, "weights").astype(np.float32)  # [O, KH, KW, I]
        cin = w.shape[3]
        if self.t[op.inputs[0]].shape[3] != cin:
            raise ConversionError(f"CONV_2D (op {op.index}): grouped convolution is not supported")
        self._conv(op, self.base[op.inputs[1]] + "__oihw", w.transpose(0, 3, 1, 2), group=1)

    def _op_depthwise_conv_2d(self, op):
        o = op.options
        w = self._need_const(op, 1, "weights").astype(np.float32)  # [1, KH, KW, I*M]
        cout = w.shape[3]
        cin = self.t[op.inputs[0]].shape[3]
        if cout != cin * o.DepthMultiplier() and not (o.DepthMultiplier() == 0 and cout % cin == 0):
            raise ConversionError(f"DEPTHWISE_CONV_2D (op {op.index}): {cout} output channels for {cin} inputs "
                                  f"with depth multiplier {o.DepthMultiplier()}")
        self._conv(op, self.base[op.inputs[1]] + "__dw", w.transpose(3, 0, 1, 2), group=cin)

    def _conv(self, op, weight_name: str, weight: np.ndarray, group: int):
        """CONV_2D and DEPTHWISE_CONV_2D as one ONNX Conv; `weight` is [O, I/group, KH, KW]."""
        o = op.options
        kh, kw = weight.shape[2:]
        src, pads = self._spatial_pads(op, op.inputs[0], kh, kw, o.StrideH(), o.StrideW(), o.DilationHFactor(),
                                       o.DilationWFactor(), o.Padding())
        inputs = [self.value(src, NCHW), self.init(weight_name, weight)]
        inputs += self._bias(op)
        self.produce(op, op.outputs[0], NCHW, "Conv", inputs, o.FusedActivationFunction(),
                     kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                     dilations=[o.DilationHFactor(), o.DilationWFactor()], pads=pads, group=group)

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

