"""The TensorRT backend on either CUDA binding (`edge/inference/cuda_memory.py`): pycuda and cuda-python behind one
interface, chosen by `cuda=` ("auto" prefers pycuda), with thin CPU stand-ins for TensorRT, pycuda and cuda-python
(tests/trt_stand_ins.py); the real thing runs only where TensorRT and a GPU are (markers tensorrt, gpu)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.backends import open_backend
from edge.inference.base import InferenceBackend
from edge.inference.cuda_memory import BINDINGS, open_cuda
from edge.inference.tensorrt_backend import TensorRTBackend
from trt_stand_ins import fake_cuda_python, fake_pycuda, fake_tensorrt  # tests/ is on sys.path under pytest

ABSENT_PYCUDA = {"pycuda": None, "pycuda.driver": None}
ABSENT_CUDA_PYTHON = {"cuda": None, "cuda.bindings": None, "cuda.bindings.runtime": None, "cuda.cudart": None}


def install(monkeypatch, modules: dict) -> None:
    """Put stand-ins in sys.modules (None makes `import name` fail, even where the real package is installed)."""
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def only(binding: str, **kw) -> dict:
    """The modules for a machine that has exactly this binding (and TensorRT)."""
    if binding == "pycuda":
        return {**ABSENT_CUDA_PYTHON, **fake_pycuda(**kw), "tensorrt": fake_tensorrt()}
    return {**ABSENT_PYCUDA, **fake_cuda_python(**kw), "tensorrt": fake_tensorrt()}


def device_memory(modules: dict) -> dict:
    """What the stand-in device holds: pointer -> buffer."""
    return (modules["pycuda.driver"] or modules["cuda.bindings.runtime"]).memory


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "m_b8_fp16.engine"
    path.write_bytes(b"FAKE engine")
    return path


@pytest.mark.parametrize("binding", BINDINGS)
def test_tensorrt_backend_runs_on_each_binding(binding, engine, tmp_path, monkeypatch):
    modules = only(binding)
    install(monkeypatch, modules)
    b = open_backend(engine)
    assert isinstance(b, TensorRTBackend) and isinstance(b, InferenceBackend)
    assert b.cuda_bindings == binding
    assert b.input_specs == {"x": ((None, 3), np.dtype(np.float32))} and b.output_names == ["y"]
    rng = np.random.default_rng(7)
    for n in (2, 5, 1):                                       # grows the device buffers, then reuses them
        x = rng.normal(size=(n, 3)).astype(np.float32)
        out = b.infer({"x": x})
        assert out["y"].shape == (n, 3)
        np.testing.assert_allclose(out["y"], 2 * x + 1, rtol=1e-6)
    assert len(device_memory(modules)) == 2
    with pytest.raises(InputError, match="optimisation profile"):
        b.infer({"x": np.zeros((9, 3), np.float32)})
    with pytest.raises(InputError, match="dtype"):
        b.infer({"x": np.zeros((2, 3), np.float64)})
    b.close()
    assert device_memory(modules) == {}
    if binding == "pycuda":                                   # every push of the primary context was popped
        assert modules["pycuda.driver"].stack == []

    bad = tmp_path / "bad.plan"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot deserialize.*bad.plan"):
        TensorRTBackend(bad)


@pytest.mark.parametrize("binding, error", [("pycuda", "mem_alloc: cuMemAlloc failed: out of memory"),
                                            ("cuda-python", "cudaMalloc: cudaErrorMemoryAllocation")])
def test_a_failed_cuda_call_names_the_error(binding, error, engine, monkeypatch):
    install(monkeypatch, only(binding, fail_malloc=True))
    backend = TensorRTBackend(engine)
    with pytest.raises(RuntimeError, match=f"CUDA call failed: {error}"):
        backend.infer({"x": np.zeros((2, 3), np.float32)})


def test_auto_prefers_pycuda_and_either_can_be_named(engine, monkeypatch):
    install(monkeypatch, {**fake_pycuda(), **fake_cuda_python(), "tensorrt": fake_tensorrt()})
    assert TensorRTBackend(engine).cuda_bindings == "pycuda"
    assert TensorRTBackend(engine, cuda="cuda-python").cuda_bindings == "cuda-python"
    assert open_backend(engine, cuda="pycuda").cuda_bindings == "pycuda"
    with pytest.raises(InputError, match="unknown CUDA bindings 'cupy'"):
        TensorRTBackend(engine, cuda="cupy")


def test_without_either_binding_the_error_says_what_to_install(engine, monkeypatch):
    install(monkeypatch, {**ABSENT_PYCUDA, **ABSENT_CUDA_PYTHON, "tensorrt": fake_tensorrt()})
    with pytest.raises(InputError) as err:
        TensorRTBackend(engine)
    message = str(err.value)
    assert "\n" not in message
    for words in ("pycuda or cuda-python", ".[jetson]", "pip install cuda-python"):
        assert words in message
    with pytest.raises(InputError, match="needs pycuda for device memory.*cannot import it"):
        TensorRTBackend(engine, cuda="pycuda")             # a named binding that is missing is not replaced


@pytest.mark.parametrize("binding", BINDINGS)
def test_a_binding_without_a_device_says_so(binding, engine, monkeypatch):
    install(monkeypatch, only(binding, devices=0))
    with pytest.raises(InputError, match=f"{binding} cannot use CUDA here.*no usable NVIDIA GPU or driver"):
        TensorRTBackend(engine)


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.parametrize("binding", BINDINGS)
def test_tensorrt_engine_matches_onnxruntime(binding, tmp_path):
    """A real engine from a small Conv model against ONNX Runtime, on each CUDA binding that is installed (needs
    TensorRT and an NVIDIA GPU: skipped elsewhere, with the reason)."""
    from edge.inference.ort_backend import OrtBackend
    from onnx_stand_ins import RNG, rtmpose_random_model

    trt = pytest.importorskip("tensorrt", reason="TensorRT's Python bindings are not installed (JetPack/GPU only)")
    try:
        open_cuda(binding)
    except InputError as exc:
        pytest.skip(f"no CUDA through {binding} here: {exc}")
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
    backend = TensorRTBackend(engine, cuda=binding)
    assert backend.cuda_bindings == binding
    got = backend.infer({"input": x})
    want = OrtBackend(onnx_path).infer({"input": x})
    for name in ("simcc_x", "simcc_y"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-4)
