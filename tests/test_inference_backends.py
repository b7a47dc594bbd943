"""Inference backends (`edge/inference/`) on tiny ONNX models: ONNX Runtime specs, dtype checks and providers,
`open_backend` dispatch, and TensorRT's binding logic against CPU stand-ins for TensorRT and cuda-python."""

from __future__ import annotations

import ctypes
import enum
import sys
import types

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.backends import open_backend
from edge.inference.base import InferenceBackend
from edge.inference.ort_backend import OrtBackend
from edge.inference.tensorrt_backend import TensorRTBackend
from onnx_stand_ins import (  # tests/ is on sys.path under pytest; skips this module without onnx/onnxruntime/cv2
    RNG, rtmpose_dot_model, rtmpose_random_model, yolo_constant_model, yolo_rows,
)


@pytest.fixture
def yolo_const(tmp_path):
    return yolo_constant_model(tmp_path)


def test_ort_backend_specs_infer_and_dtype_checks(tmp_path, yolo_const):
    b = OrtBackend(yolo_const)
    assert b.provider == "CPUExecutionProvider" and b.providers == ("CPUExecutionProvider",)
    assert b.input_specs == {"images": ((1, 3, 640, 640), np.dtype(np.float32))}
    assert b.output_names == ["output0"] and b.output_specs["output0"][0] == (1, 56, 8)
    assert b.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    out = b.infer({"images": np.zeros((1, 3, 640, 640), np.float32)})
    np.testing.assert_allclose(out["output0"], yolo_rows().T[None])
    with pytest.raises(InputError, match="dtype float64"):
        b.infer({"images": np.zeros((1, 3, 640, 640))})
    with pytest.raises(InputError, match="do not match"):
        b.infer({"x": np.zeros((1, 3, 640, 640), np.float32)})
    with pytest.raises(InputError, match="shape"):
        b.infer({"images": np.zeros((1, 3, 320, 640), np.float32)})
    dyn = OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx", batch="n"), allow_spinning=True, intra_op_threads=1)
    assert dyn.input_specs["input"][0] == (None, 3, 256, 192)
    assert dyn.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_ort_backend_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found.*missing.onnx"):
        OrtBackend(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not protobuf \x00\x01")
    with pytest.raises(InputError, match="junk.onnx") as err:
        OrtBackend(junk)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="unknown ONNX Runtime provider"):
        OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx"), providers=("CPUExecutionProviderr",))


def test_ort_backend_default_providers_prefer_cuda_where_the_build_has_it(tmp_path, monkeypatch):
    import onnxruntime as ort

    from edge.inference.ort_backend import default_ort_providers

    model = rtmpose_dot_model(tmp_path / "dot.onnx")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        b = OrtBackend(model)  # a CPU build: CPU, and no fallback warning
        assert b.providers == ("CPUExecutionProvider",) and b.requested_providers == ("CPUExecutionProvider",)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                                 "CPUExecutionProvider"])
    assert default_ort_providers() == ("CUDAExecutionProvider", "CPUExecutionProvider")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider"])
    assert default_ort_providers() == ("CPUExecutionProvider",)


def test_ort_backend_reports_provider_fallback(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime build has CUDA; the fallback case needs a CPU-only build")
    with pytest.warns(RuntimeWarning, match="runs on CPUExecutionProvider"):
        b = OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx"),
                       providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    assert b.provider == "CPUExecutionProvider"
    assert b.requested_providers == ("CUDAExecutionProvider", "CPUExecutionProvider")


def test_open_backend_dispatch(tmp_path, yolo_const, monkeypatch):
    from edge.inference.backends import onnx_runtime_for_auto
    from edge.inference.openvino_backend import OpenVinoBackend

    auto = open_backend(yolo_const)
    assert isinstance(auto, OpenVinoBackend if onnx_runtime_for_auto() == "openvino" else OrtBackend)
    assert isinstance(open_backend(yolo_const, backend="onnxruntime", intra_op_threads=1), OrtBackend)
    with pytest.raises(InputError, match=r"no option\(s\) \['threads'\]"):
        open_backend(yolo_const, backend="onnxruntime", threads=2)
    monkeypatch.setitem(sys.modules, "openvino", None)       # OpenVINO missing: auto falls back to ONNX Runtime
    assert isinstance(open_backend(yolo_const), OrtBackend)
    monkeypatch.undo()
    with pytest.raises(InputError, match="unknown backend 'trt'"):
        open_backend(yolo_const, backend="trt")
    with pytest.raises(InputError, match="cannot tell the backend"):
        open_backend(tmp_path / "model.tflite")
    monkeypatch.setitem(sys.modules, "tensorrt", None)       # make `import tensorrt` fail even where it exists
    for name in ("m.engine", "m.PLAN"):
        engine = tmp_path / name
        engine.write_bytes(b"x")
        with pytest.raises(InputError, match="TensorRT's Python bindings.*JetPack"):
            open_backend(engine)
    with pytest.raises(InputError, match="no option"):
        open_backend(tmp_path / "m.engine", providers=("CPUExecutionProvider",))
    with pytest.raises(InputError, match="not found"):
        TensorRTBackend(tmp_path / "absent.engine")


# A stand-in for TensorRT 10 and cuda-python, enough to exercise TensorRTBackend's binding logic on CPU: "device"
# memory is host memory, the "engine" computes y = 2 x + 1 for x of shape (1..8, 3).

class _Err(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2


def _fake_cuda(fail_malloc=False):
    rt = types.ModuleType("cuda.bindings.runtime")
    rt.memory = {}
    rt.cudaError_t = _Err
    rt.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    def malloc(n):
        if fail_malloc:
            return (_Err.cudaErrorMemoryAllocation, 0)
        buf = np.zeros(n, np.uint8)
        rt.memory[buf.ctypes.data] = buf
        return (_Err.cudaSuccess, buf.ctypes.data)

    def free(ptr):
        del rt.memory[ptr]
        return (_Err.cudaSuccess,)

    def memcpy(dst, src, n, kind, stream):
        assert kind in (1, 2) and stream == 77
        ctypes.memmove(dst, src, n)
        return (_Err.cudaSuccess,)

    rt.cudaMalloc, rt.cudaFree, rt.cudaMemcpyAsync = malloc, free, memcpy
    rt.cudaStreamCreate = lambda: (_Err.cudaSuccess, 77)
    rt.cudaStreamSynchronize = lambda s: (_Err.cudaSuccess,)
    rt.cudaStreamDestroy = lambda s: (_Err.cudaSuccess,)
    rt.cudaGetErrorName = lambda e: (_Err.cudaSuccess, e.name.encode())
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = rt
    cuda = types.ModuleType("cuda")
    cuda.bindings = bindings
    return {"cuda": cuda, "cuda.bindings": bindings, "cuda.bindings.runtime": rt}


def _fake_tensorrt():
    trt = types.ModuleType("tensorrt")
    trt.TensorIOMode = types.SimpleNamespace(INPUT="input", OUTPUT="output")
    trt.nptype = lambda dt: {"FLOAT": np.float32}[dt]

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class Context:
        def __init__(self):
            self.shape, self.addr = None, {}

        def set_input_shape(self, name, shape):
            ok = len(shape) == 2 and 1 <= shape[0] <= 8 and shape[1] == 3
            self.shape = tuple(shape) if ok else None
            return ok

        def get_tensor_shape(self, name):
            return self.shape if self.shape else (-1, 3)

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr
            return True

        def execute_async_v3(self, stream_handle):
            assert stream_handle == 77
            n = int(np.prod(self.shape))
            x = np.ctypeslib.as_array((ctypes.c_float * n).from_address(self.addr["x"]))
            y = np.ctypeslib.as_array((ctypes.c_float * n).from_address(self.addr["y"]))
            y[:] = 2 * x + 1
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ["x", "y"][i]

        def get_tensor_mode(self, name):
            return "input" if name == "x" else "output"

        def get_tensor_shape(self, name):
            return (-1, 3)

        def get_tensor_dtype(self, name):
            return "FLOAT"

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if data.startswith(b"FAKE") else None

    trt.Logger, trt.Runtime = Logger, Runtime
    return trt


def test_tensorrt_backend_binding_logic_with_stand_ins(tmp_path, monkeypatch):
    cuda = _fake_cuda()
    for name, module in {**cuda, "tensorrt": _fake_tensorrt()}.items():
        monkeypatch.setitem(sys.modules, name, module)
    engine = tmp_path / "m_b8_fp16.engine"
    engine.write_bytes(b"FAKE engine")
    b = open_backend(engine)
    assert isinstance(b, TensorRTBackend) and isinstance(b, InferenceBackend)
    assert b.input_specs == {"x": ((None, 3), np.dtype(np.float32))} and b.output_names == ["y"]
    for n in (2, 5, 1):                                       # grows the device buffers, then reuses them
        x = RNG.normal(size=(n, 3)).astype(np.float32)
        out = b.infer({"x": x})
        assert out["y"].shape == (n, 3)
        np.testing.assert_allclose(out["y"], 2 * x + 1, rtol=1e-6)
    assert len(cuda["cuda.bindings.runtime"].memory) == 2
    with pytest.raises(InputError, match="optimisation profile"):
        b.infer({"x": np.zeros((9, 3), np.float32)})
    with pytest.raises(InputError, match="dtype"):
        b.infer({"x": np.zeros((2, 3), np.float64)})
    b.close()
    assert cuda["cuda.bindings.runtime"].memory == {}

    bad = tmp_path / "bad.plan"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot deserialize.*bad.plan"):
        TensorRTBackend(bad)
    for name, module in _fake_cuda(fail_malloc=True).items():
        monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(RuntimeError, match="cudaErrorMemoryAllocation"):
        TensorRTBackend(engine).infer({"x": np.zeros((2, 3), np.float32)})


def test_tensorrt_backend_needs_cuda_python(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt())
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"FAKE")
    with pytest.raises(InputError, match="pip install cuda-python"):
        TensorRTBackend(engine)


@pytest.mark.tensorrt
def test_tensorrt_engine_matches_onnxruntime(tmp_path):
    """Build a real engine from a small Conv model and compare it with ONNX Runtime (needs TensorRT and a GPU)."""
    trt = pytest.importorskip("tensorrt", reason="TensorRT's Python bindings are not installed (JetPack/GPU only)")
    cudart = pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count < 1:
        pytest.skip("no CUDA device")
    onnx_path = rtmpose_random_model(tmp_path / "rtmpose_rand.onnx")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(onnx_path.read_bytes()), [parser.get_error(i) for i in range(parser.num_errors)]
    serialized = builder.build_serialized_network(network, builder.create_builder_config())
    engine = tmp_path / "rtmpose_rand_b1_fp32.engine"
    engine.write_bytes(bytes(serialized))
    x = RNG.normal(size=(1, 3, 256, 192)).astype(np.float32)
    got = TensorRTBackend(engine).infer({"input": x})
    want = OrtBackend(onnx_path).infer({"input": x})
    for name in ("simcc_x", "simcc_y"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-4)


def test_ort_backend_accepts_provider_options(yolo_const):
    b = OrtBackend(yolo_const, providers=[("CPUExecutionProvider", {})])
    assert b.provider == "CPUExecutionProvider" and b.requested_providers == ("CPUExecutionProvider",)
