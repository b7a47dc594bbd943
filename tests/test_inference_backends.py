"""Inference backends (`edge/inference/`) on tiny ONNX models: ONNX Runtime specs, dtype checks and providers, and
`open_backend` dispatch. TensorRT on its CUDA bindings (stand-ins and the real thing): tests/test_cuda_bindings.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.backends import open_backend
from edge.inference.ort_backend import OrtBackend
from edge.inference.tensorrt_backend import TensorRTBackend
from onnx_stand_ins import (  # tests/ is on sys.path under pytest; skips this module without onnx/onnxruntime/cv2
    rtmpose_dot_model, yolo_constant_model, yolo_rows,
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


def test_ort_backend_accepts_provider_options(yolo_const):
    b = OrtBackend(yolo_const, providers=[("CPUExecutionProvider", {})])
    assert b.provider == "CPUExecutionProvider" and b.requested_providers == ("CPUExecutionProvider",)


def _accumulator(path, open_output=False):
    """A recurrent step: next_total = total + x (state), y = 2 * total + x (the step's output); `open_output`: y is
    where x is nonzero instead (its length depends on the data)."""
    from onnx import TensorProto, helper

    from onnx_stand_ins import const_tensor, save_model, value_info

    nodes = [helper.make_node("Add", ["total", "x"], ["next_total"]),
             helper.make_node("Mul", ["total", "two"], ["twice"]),
             helper.make_node("NonZero", ["x"], ["y"]) if open_output
             else helper.make_node("Add", ["twice", "x"], ["y"])]
    y = value_info("y", [2, "n"], TensorProto.INT64) if open_output else value_info("y", ["batch", 3])
    return save_model(path, nodes, [value_info("x", ["batch", 3]), value_info("total", ["batch", 3])],
                      [value_info("next_total", ["batch", 3]), y], [const_tensor("two", np.array(2.0, np.float32))])


def test_ort_recurrence_keeps_the_state_in_its_buffers_step_after_step(tmp_path):
    b = OrtBackend(_accumulator(tmp_path / "acc.onnx"))
    start = np.array([[1.0, -2.0, 0.5]], np.float32)
    stream = b.recurrence("x", [("total", "next_total")], [start], ["y"])
    other = b.recurrence("x", [("total", "next_total")], [np.zeros_like(start)], ["y"])
    xs = np.random.default_rng(0).standard_normal((7, 1, 3)).astype(np.float32)
    total, kept = start.copy(), []
    for x in xs:  # odd and even steps run on the two bindings in turn
        got = stream.run(x)
        assert set(got) == {"y"} and got["y"].shape == (1, 3) and got["y"].dtype == np.float32
        np.testing.assert_allclose(got["y"], 2 * total + x, rtol=0, atol=1e-6)
        kept.append(got["y"])
        total = total + x
        np.testing.assert_allclose(stream.state()[0], total, rtol=0, atol=1e-6)
    # What it returned earlier is not overwritten by later steps; another stream has its own state.
    np.testing.assert_allclose(kept[0], 2 * start + xs[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(other.run(xs[0])["y"], xs[0], rtol=0, atol=1e-6)
    with pytest.raises(InputError, match=r"shape \[1, 4\]"):
        stream.run(np.zeros((1, 4), np.float32))
    with pytest.raises(InputError, match="dtype float64"):
        stream.run(np.zeros((1, 3)))
    # An output whose shape is left open beyond the stream axis cannot be bound: None, the caller feeds the state.
    open_shape = OrtBackend(_accumulator(tmp_path / "open.onnx", open_output=True))
    assert open_shape.recurrence("x", [("total", "next_total")], [start], ["y"]) is None


# ------------------------------------------------------------------------------------------- vendor telemetry


def _in_fresh_home(tmp_path: Path, code: str) -> tuple[Path, Path]:
    """`code` run by a new interpreter with an empty home and cache and no ORT_DISABLE_TELEMETRY of its own."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir(parents=True)
    cache.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return home, cache


def test_onnx_runtime_loads_without_its_telemetry(tmp_path):
    model = rtmpose_dot_model(tmp_path / "dot.onnx")
    home, cache = _in_fresh_home(tmp_path / "a", "from edge.inference.ort_backend import OrtBackend; "
                                                 f"OrtBackend({str(model)!r})")
    # ONNX Runtime 1.32 with its telemetry on keeps a device id in $XDG_CACHE_HOME/Microsoft/DeveloperTools.
    assert list(cache.iterdir()) == [] and list(home.iterdir()) == []
    # Any `ergoedge` command switches it off before the libraries it calls load ONNX Runtime themselves.
    _, cache = _in_fresh_home(tmp_path / "b", "from edge.cli import main; main(['layouts']); import onnxruntime")
    assert list(cache.iterdir()) == []


def test_openvino_loads_with_its_telemetry_declined(tmp_path, monkeypatch):
    pytest.importorskip("openvino", reason="OpenVINO is installed on x86_64 only")
    from edge.inference.telemetry import openvino_consent_file, quiet_openvino

    model = rtmpose_dot_model(tmp_path / "dot.onnx")
    home, _ = _in_fresh_home(tmp_path, "from edge.inference.openvino_backend import OpenVinoBackend; "
                                       f"OpenVinoBackend({str(model)!r})")
    # Declined as OpenVINO's `opt_in_out --opt_out` records it; accepted, it keeps a client id and counters there.
    assert sorted(p.name for p in (home / "intel").iterdir()) == ["openvino_telemetry"]
    assert (home / "intel" / "openvino_telemetry").read_text() == "0"
    # A choice the user has made stands.
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    openvino_consent_file().parent.mkdir(parents=True)
    openvino_consent_file().write_text("1")
    quiet_openvino()
    assert openvino_consent_file().read_text() == "1"
