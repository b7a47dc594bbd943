"""The TFLite flatbuffer as plain Python objects, so that `onnx_builder.py` and `tflite_verify.py` need not know the
flatbuffer API: tensors with their constant data as numpy arrays (sparse ones with their sparsity, decoded by
`densify`), ops with their builtin options, and the graph's inputs and outputs.

Part of the converter that `tflite_onnx.py` runs in the tools venv: it imports numpy at module level and the `tflite`
flatbuffer schema inside the functions that read a model, never `edge`.
"""

from __future__ import annotations

import struct

import numpy as np

# tflite schema enums (stable across schema versions)
_TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_DENSE, _SPARSE_CSR = 0, 1
_OPTIONS_CLASS = {
    "ADD": "AddOptions", "CONCATENATION": "ConcatenationOptions", "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions", "DEPTH_TO_SPACE": "DepthToSpaceOptions",
    "MAX_POOL_2D": "Pool2DOptions", "RESIZE_BILINEAR": "ResizeBilinearOptions",
}


class ConversionError(Exception):
    """The TFLite model uses something this converter does not handle; the message says what."""


class TfliteTensor:
    __slots__ = ("data", "dtype", "index", "name", "shape", "sparsity")

    def __init__(self, index, name, shape, dtype, data, sparsity):
        self.index, self.name, self.shape, self.dtype, self.data, self.sparsity = (
            index, name, shape, dtype, data, sparsity)


class TfliteOp:
    __slots__ = ("index", "inputs", "name", "options", "outputs")

    def __init__(self, index, name, inputs, outputs, options):
        self.index, self.name, self.inputs, self.outputs, self.options = index, name, inputs, outputs, options


class TfliteGraph:
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


def read_graph(buf: bytes) -> TfliteGraph:
    """The one subgraph of TFLite model `buf`; `ConversionError` for anything else (garbage, control flow)."""
    import tflite

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
    tensors = _read_tensors(buf, model, g)
    ops = _read_ops(model, g)
    graph_inputs = [int(v) for v in g.InputsAsNumpy()]
    graph_outputs = [int(v) for v in g.OutputsAsNumpy()]
    return TfliteGraph(tensors, ops, graph_inputs, graph_outputs)


def _read_tensors(buf: bytes, model, g) -> list[TfliteTensor]:
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
        tensors.append(TfliteTensor(i, name, shape, dtype, data, sparsity))
    return tensors


def _read_ops(model, g) -> list[TfliteOp]:
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
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
        ops.append(TfliteOp(i, name, inputs, outputs, options))
    return ops


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

