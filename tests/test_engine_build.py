"""TensorRT engines (edge/inference/tensorrt_build.py, engine_cache.py, `open_backend` "auto", `ergoedge build`):
what the builder asks TensorRT for, checked against a thin builder stand-in (tests/trt_builder_stand_ins.py) on real
ONNX files (made with onnx, quantised with ONNX Runtime); the engine cache; the fallback on this machine; and, where
TensorRT and a GPU exist, a real engine of the streaming step against ONNX Runtime (marked tensorrt, skipped here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.errors import InputError
from edge.inference import engine_cache, tensorrt_build
from edge.inference.backends import onnx_runtime_for_auto, open_backend
from edge.inference.engine_cache import engine_for
from edge.inference.tensorrt_backend import TensorRTBackend
from edge.inference.tensorrt_build import (
    EngineSpec, TensorRTMissing, build_engine, inspect_onnx, plan_build, resolve_profile, trt_features,
)
from trt_builder_stand_ins import UNSUPPORTED, built_record, fake_cuda_device, fake_tensorrt_builder

ABSENT_PYCUDA = {"pycuda": None, "pycuda.driver": None}
RNG = np.random.default_rng(3)


def _forget_probe():
    """Each test decides afresh whether TensorRT is usable, and says so afresh."""
    engine_cache.tensorrt_unusable.cache_clear()
    engine_cache._say_once.cache_clear()


# ---- real ONNX files ------------------------------------------------------------------------------------------

def mlp_onnx(path: Path, seed: int = 0, extra_op: str | None = None) -> Path:
    """x (batch, time, 3) -> MatMul (3x3) -> Relu -> y: a small FP32 graph with a batch and a time axis."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(seed).normal(size=(3, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul0"),
             helper.make_node("Relu", ["h"], ["y"], name="relu0")]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 3])]
    if extra_op:
        nodes.append(helper.make_node(extra_op, ["y"], ["u"], name=f"the_{extra_op.lower()}"))
        outputs.append(helper.make_tensor_value_info("u", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                           ["batch", "time", 3])],
                              outputs, [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def fp16_onnx(path: Path) -> Path:
    """The same computation in FP16 inside the graph (float32 at its edges)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float16)
    nodes = [helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16, name="cast_in"),
             helper.make_node("MatMul", ["x16", "w"], ["h"], name="matmul0"),
             helper.make_node("Relu", ["h"], ["r"], name="relu0"),
             helper.make_node("Cast", ["r"], ["y"], to=TensorProto.FLOAT, name="cast_out")]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "time", 3]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "mlp16", io[:1], io[1:], [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def qdq_onnx(fp32: Path, path: Path) -> Path:
    """INT8 QDQ in the form TensorRT's parser takes, by ONNX Runtime's quantize_static."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": RNG.normal(size=(1, 16, 3)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(fp32), str(path), Feeds(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, extra_options={"ActivationSymmetric": True,
                                                                "WeightSymmetric": True, "QuantizeBias": False})
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the stand-in machine --------------------------------------------------------------------------------------

@pytest.fixture
def device(monkeypatch):
    """Make this machine a Jetson Orin with TensorRT `version` (callable again to upgrade it); returns the
    installed tensorrt stand-in."""
    def install(version: str = "10.3.0", dla_cores: int = 0, l4t: str = "36.3.0", **kw):
        trt = fake_tensorrt_builder(version, dla_cores, **kw)
        for name, module in {**ABSENT_PYCUDA, **fake_cuda_device(), "tensorrt": trt}.items():
            monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.setattr(tensorrt_build, "l4t_version", lambda: l4t)
        monkeypatch.setattr(tensorrt_build, "board_name", lambda: "NVIDIA Jetson AGX Orin Developer Kit")
        _forget_probe()
        return trt

    yield install
    _forget_probe()


@pytest.fixture
def mlp(tmp_path):
    return mlp_onnx(tmp_path / "mlp.onnx")


# ---- spec, profile, plan -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, words", [
    (dict(precision="bf16"), "unknown precision 'bf16'"), (dict(max_batch=0), "max_batch must be"),
    (dict(workspace_mb=True), "workspace_mb must be"), (dict(dla_core=-1), "dla_core must be"),
    (dict(dla_core=0), "DLA runs FP16 and INT8 only"),
    (dict(profiles=(("x", (1, 8, 3), (1, 4, 3), (2, 8, 3)),)), "min <= opt <= max"),
])
def test_bad_specs_are_one_line_errors(kw, words):
    with pytest.raises(InputError, match=words) as err:
        EngineSpec(**kw)
    assert "\n" not in str(err.value)


def test_profile_defaults_from_the_dynamic_axes_and_explicit_rows(mlp):
    graph = inspect_onnx(mlp)
    assert graph.precision == "fp32"
    assert graph.inputs == ({"name": "x", "shape": ["batch", "time", 3], "dtype": "float32"},)
    assert resolve_profile(EngineSpec(max_batch=4, max_frames=64), graph) == {
        "x": {"min": [1, 1, 3], "opt": [1, 64, 3], "max": [4, 64, 3]}}
    explicit = EngineSpec(profiles=(("x", (1, 10, 3), (2, 20, 3), (2, 30, 3)),))
    assert resolve_profile(explicit, graph)["x"] == {"min": [1, 10, 3], "opt": [2, 20, 3], "max": [2, 30, 3]}
    with pytest.raises(InputError, match="does not fit its shape"):
        resolve_profile(EngineSpec(profiles=(("x", (1, 1, 4), (1, 1, 4), (1, 1, 4)),)), graph)
    with pytest.raises(InputError, match="no such input"):
        resolve_profile(EngineSpec(profiles=(("z", (1,), (1,), (1,)),)), graph)


def test_versions_decide_what_can_be_built():
    ten, eleven = trt_features("10.3.0"), trt_features("11.0.0.1")
    assert (ten.fp16_flag, ten.implicit_int8) == (True, True)
    assert (eleven.fp16_flag, eleven.implicit_int8) == (False, False)
    assert trt_features("10.16.1").fp16_flag                       # compared as versions, not strings
    with pytest.raises(InputError, match="TensorRT 8.6.1 is too old"):
        trt_features("8.6.1")
    with pytest.raises(InputError, match="cannot be compared"):
        trt_features("ten")
    cache = Path("calib.cache")
    assert plan_build(EngineSpec("int8"), "int8", eleven).strongly_typed   # QDQ: strongly typed on both
    assert plan_build(EngineSpec("fp16"), "fp16", eleven).flags == ()
    assert plan_build(EngineSpec("fp16"), "fp32", ten).flags == ("FP16",)
    assert plan_build(EngineSpec("int8", calibration_cache=cache), "fp32", ten).implicit_int8
    with pytest.raises(InputError, match="TensorRT 11.0.0.1 has no FP16 builder flag"):
        plan_build(EngineSpec("fp16"), "fp32", eleven)
    with pytest.raises(InputError, match="TensorRT 11.0.0.1 has no implicit INT8"):
        plan_build(EngineSpec("int8", calibration_cache=cache), "fp32", eleven)
    with pytest.raises(InputError, match="needs --calibration-cache"):
        plan_build(EngineSpec("int8"), "fp32", ten)
    with pytest.raises(InputError, match="the graph carries int8.*--precision int8"):
        plan_build(EngineSpec("fp16"), "int8", ten)
    with pytest.raises(InputError, match="leave out the calibration cache"):
        plan_build(EngineSpec("int8", calibration_cache=cache), "int8", ten)


# ---- builds through the stand-in -----------------------------------------------------------------------------

def test_fp32_build_flags_profile_name_and_manifest(device, mlp, tmp_path):
    device("10.3.0")
    source = {"format": 1, "kind": "streaming_step", "layout": "uwiom15", "preprocessing": "joints in uwiom15",
              "onnx": mlp.name, "onnx_sha256": sha256(mlp), "classes": ["walk", "bend"],
              "calibration": {"method": "percentile", "samples": 512, "digest": "ab" * 32}}
    mlp.with_suffix(".json").write_text(json.dumps(source))
    art = build_engine(mlp, EngineSpec(max_batch=4, max_frames=64, workspace_mb=256), tmp_path / "out")
    assert art.engine == tmp_path / "out" / "mlp_b4_fp32.engine"
    assert art.manifest == tmp_path / "out" / "mlp_b4_fp32.json"
    rec = built_record(art.engine)
    assert rec["strongly_typed"] and rec["flags"] == [] and rec["workspace"] == 256 << 20
    assert rec["profiles"] == [{"x": [[1, 1, 3], [1, 64, 3], [4, 64, 3]]}]
    assert rec["device"] == "gpu" and rec["calibrator"] is None and rec["timing_cache_in"] is None
    m = json.loads(art.manifest.read_text())
    assert m["inputs"] == [{"name": "x", "shape": ["batch", "time", 3], "dtype": "float32"}]
    assert m["outputs"] == [{"name": "y", "shape": ["batch", "time", 3], "dtype": "float32"}]
    assert m["profile"] == {"x": {"min": [1, 1, 3], "opt": [1, 64, 3], "max": [4, 64, 3]}}
    assert (m["precision"], m["graph_precision"], m["strongly_typed"]) == ("fp32", "fp32", True)
    assert (m["tensorrt"], m["cuda"], m["l4t"], m["jetpack"]) == ("10.3.0", "12.6", "36.3.0", "6.0")
    assert (m["device"], m["compute_capability"]) == ("Orin", "8.7")
    assert m["onnx_sha256"] == sha256(mlp) and m["engine_sha256"] == sha256(art.engine)
    assert m["calibration"] == {"method": "percentile", "samples": 512, "sha256": "ab" * 32, "source": None}
    assert (m["kind"], m["artifact"], m["layout"], m["classes"]) == ("streaming_step", "tensorrt_engine", "uwiom15",
                                                                    ["walk", "bend"])
    assert m["preprocessing"] == "joints in uwiom15" and m["ergo_edge_version"] and m["built"].endswith("+00:00")
    assert m["cache_key"] == art.key and m["cache_key"]["dla_core"] is None
    mlp_onnx(mlp, seed=1)                                          # the ONNX no longer matches its manifest
    with pytest.raises(InputError, match="does not match its manifest"):
        build_engine(mlp, EngineSpec(), tmp_path / "out")


def test_qdq_graph_is_built_strongly_typed_without_int8_flags(device, mlp, tmp_path):
    device("10.3.0")
    qdq = qdq_onnx(mlp, tmp_path / "mlp_int8.onnx")
    assert inspect_onnx(qdq).precision == "int8"
    with pytest.raises(InputError, match="carries int8"):
        build_engine(qdq, EngineSpec("fp32"), tmp_path / "out")
    art = build_engine(qdq, EngineSpec("int8", max_batch=2), tmp_path / "out")
    assert art.engine.name == "mlp_b2_int8.engine"                 # the stem's _int8 is not repeated
    rec = built_record(art.engine)
    assert rec["strongly_typed"] and rec["flags"] == [] and rec["calibrator"] is None
    device("11.0.0")                                               # TensorRT 11 builds QDQ the same way
    rec11 = built_record(build_engine(qdq, EngineSpec("int8", max_batch=2), tmp_path / "out11").engine)
    assert rec11["strongly_typed"] and rec11["flags"] == []


def test_fp16_flag_only_where_tensorrt_still_has_it(device, mlp, tmp_path):
    device("10.3.0")
    rec = built_record(build_engine(mlp, EngineSpec("fp16"), tmp_path / "a").engine)
    assert not rec["strongly_typed"] and rec["flags"] == ["FP16"]
    half = fp16_onnx(tmp_path / "mlp_fp16.onnx")
    assert inspect_onnx(half).precision == "fp16"
    device("11.0.0")
    with pytest.raises(InputError, match="TensorRT 11.0.0 has no FP16 builder flag") as err:
        build_engine(mlp, EngineSpec("fp16"), tmp_path / "b")
    assert "\n" not in str(err.value) and not (tmp_path / "b").exists()
    rec = built_record(build_engine(half, EngineSpec("fp16"), tmp_path / "b").engine)
    assert rec["strongly_typed"] and rec["flags"] == []


@pytest.mark.parametrize("header, base", [("TRT-100300-EntropyCalibration2", "IInt8EntropyCalibrator2"),
                                          ("TRT-100300-MinMaxCalibration", "IInt8MinMaxCalibrator")])
def test_implicit_int8_reads_the_calibration_cache_only(device, mlp, tmp_path, header, base):
    device("10.3.0")
    cache = tmp_path / "mlp.calib"
    cache.write_text(f"{header}\nx: 3c010a14\nh: 3d4ccccd\n")
    art = build_engine(mlp, EngineSpec("int8", calibration_cache=cache), tmp_path / "out")
    rec = built_record(art.engine)
    assert not rec["strongly_typed"] and rec["flags"] == ["INT8"]
    assert rec["calibrator"] == {"algorithm": base, "batch": None, "cache": cache.read_text()}
    assert rec["calibration_profile"] == rec["profiles"][0]
    m = json.loads(art.manifest.read_text())
    assert m["calibration"] == {"source": "tensorrt calibration cache", "file": "mlp.calib", "sha256": sha256(cache),
                                "method": header.rsplit("-", 1)[1]}
    assert m["cache_key"]["calibration_cache_sha256"] == sha256(cache)
    cache.write_text("not a cache\n")
    with pytest.raises(InputError, match="not a TensorRT calibration cache"):
        build_engine(mlp, EngineSpec("int8", calibration_cache=cache), tmp_path / "out")
    with pytest.raises(InputError, match="calibration cache not found"):
        build_engine(mlp, EngineSpec("int8", calibration_cache=tmp_path / "none"), tmp_path / "out")
    device("11.0.0")
    with pytest.raises(InputError, match="TensorRT 11.0.0 has no implicit INT8"):
        build_engine(mlp, EngineSpec("int8", calibration_cache=cache), tmp_path / "out")


def test_dla_core_with_gpu_fallback(device, mlp, tmp_path):
    device("10.3.0", dla_cores=2)
    rec = built_record(build_engine(mlp, EngineSpec("fp16", dla_core=1), tmp_path / "out").engine)
    assert rec["device"] == "dla" and rec["dla_core"] == 1 and rec["flags"] == ["FP16", "GPU_FALLBACK"]
    with pytest.raises(InputError, match="DLA core 2 asked for; this device has 2 DLA core"):
        build_engine(mlp, EngineSpec("fp16", dla_core=2), tmp_path / "out")
    device("10.3.0", dla_cores=0)
    with pytest.raises(InputError, match="has 0 DLA core.*Orin"):
        build_engine(mlp, EngineSpec("fp16", dla_core=0), tmp_path / "out")


def test_timing_cache_per_version_and_device_loaded_saved_and_stale_refused(device, mlp, tmp_path):
    timing = tmp_path / "timing"
    spec = EngineSpec(timing_cache_dir=timing)
    device("10.3.0")
    assert built_record(build_engine(mlp, spec, tmp_path / "out").engine)["timing_cache_in"] == ""
    cache_file = timing / "timing_trt10.3.0_Orin_sm8.7.cache"
    assert cache_file.read_bytes() == b"TIMING-10.3.0|+timed"
    assert json.loads(cache_file.with_suffix(".json").read_text()) == {
        "tensorrt": "10.3.0", "device": "Orin", "compute_capability": "8.7", "cuda": "12.6"}
    rec = built_record(build_engine(mlp, spec, tmp_path / "out").engine)   # loaded, then grown
    assert rec["timing_cache_in"] == "TIMING-10.3.0|+timed"
    assert cache_file.read_bytes() == b"TIMING-10.3.0|+timed+timed"
    device("10.4.0")                                               # another version: its own file, started empty
    assert built_record(build_engine(mlp, spec, tmp_path / "out").engine)["timing_cache_in"] == ""
    assert sorted(p.name for p in timing.glob("*.cache")) == ["timing_trt10.3.0_Orin_sm8.7.cache",
                                                               "timing_trt10.4.0_Orin_sm8.7.cache"]
    sidecar = timing / "timing_trt10.4.0_Orin_sm8.7.json"          # a record naming another build: refused
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "tensorrt": "10.3.0"}))
    with pytest.raises(InputError, match="stale timing cache .*timing_trt10.4.0"):
        build_engine(mlp, spec, tmp_path / "out")
    sidecar.unlink()
    with pytest.raises(InputError, match="stale timing cache"):
        build_engine(mlp, spec, tmp_path / "out")
    sidecar.write_text(json.dumps({"tensorrt": "10.4.0", "device": "Orin", "compute_capability": "8.7",
                                   "cuda": "12.6"}))
    (timing / "timing_trt10.4.0_Orin_sm8.7.cache").write_bytes(b"TIMING-10.3.0|copied")  # TensorRT says no
    with pytest.raises(InputError, match="TensorRT 10.4.0 refuses the timing cache"):
        build_engine(mlp, spec, tmp_path / "out")


def test_parser_and_builder_failures_are_one_line(device, tmp_path):
    device("10.3.0")
    op = sorted(UNSUPPORTED)[0]
    bad = mlp_onnx(tmp_path / "bad.onnx", extra_op=op)
    with pytest.raises(InputError, match=f"parser rejects bad.onnx at node 'the_{op.lower()}' \\({op}\\)") as err:
        build_engine(bad, EngineSpec(), tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
    device("10.3.0", build_fails=True)
    with pytest.raises(InputError, match="could not build"):
        build_engine(mlp_onnx(tmp_path / "m.onnx"), EngineSpec(), tmp_path / "out")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not onnx")
    with pytest.raises(InputError, match="junk.onnx is not a readable ONNX model"):
        build_engine(junk, EngineSpec(), tmp_path / "out")


def test_without_tensorrt_one_line_says_what_to_install(monkeypatch, mlp, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(TensorRTMissing) as err:
        build_engine(mlp, EngineSpec(), tmp_path / "out")
    assert "\n" not in str(err.value) and "JetPack 6" in str(err.value) and "python3-libnvinfer" in str(err.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="ONNX file not found"):
        build_engine(tmp_path / "none.onnx", EngineSpec(), tmp_path / "out")


# ---- engine cache ----------------------------------------------------------------------------------------------

def test_engine_cache_builds_once_reuses_and_rebuilds_on_changes(device, mlp, tmp_path, monkeypatch, caplog):
    builds = []
    real = engine_cache.build_engine
    monkeypatch.setattr(engine_cache, "build_engine", lambda *a: builds.append(a[0]) or real(*a))
    cache = tmp_path / "engines"
    spec = EngineSpec(max_batch=2)
    caplog.set_level(logging.WARNING, logger="edge.inference.engine_cache")

    def reasons():
        out = [r.getMessage() for r in caplog.records]
        caplog.clear()
        return out

    device("10.3.0")
    engine = engine_for(mlp, spec, cache)
    assert engine == cache / "mlp_b2_fp32.engine" and len(builds) == 1
    assert reasons() == ["building the TensorRT engine mlp_b2_fp32.engine from mlp.onnx (no engine cached yet); "
                         "this can take minutes"]
    assert (cache / "timing" / "timing_trt10.3.0_Orin_sm8.7.cache").is_file()   # timing cache inside the cache
    assert engine_for(mlp, spec, cache) == engine and len(builds) == 1 and reasons() == []   # second start
    mlp_onnx(mlp, seed=1)                                          # a new ONNX shipped
    engine_for(mlp, spec, cache)
    assert len(builds) == 2 and "the ONNX changed" in reasons()[0]
    device("10.7.0")                                               # JetPack upgrade: new TensorRT
    engine_for(mlp, spec, cache)
    assert len(builds) == 3 and "tensorrt 10.3.0 -> 10.7.0" in reasons()[0]
    device("10.7.0", l4t="36.4.3")
    engine_for(mlp, spec, cache)
    assert len(builds) == 4 and "l4t 36.3.0 -> 36.4.3" in reasons()[0]
    engine_for(mlp, EngineSpec(max_batch=2, max_frames=32), cache)  # another profile
    assert len(builds) == 5 and "profile" in reasons()[0]
    engine.write_bytes(engine.read_bytes()[:-3])                   # a damaged engine is not reused
    engine_for(mlp, EngineSpec(max_batch=2, max_frames=32), cache)
    assert len(builds) == 6 and "does not match its manifest" in reasons()[0]
    assert json.loads(engine.with_suffix(".json").read_text())["engine_sha256"] == sha256(engine)


def test_open_backend_auto_on_this_machine_falls_back_with_one_line(tmp_path, monkeypatch, caplog):
    from edge.inference.openvino_backend import OpenVinoBackend
    from edge.inference.ort_backend import OrtBackend

    monkeypatch.setitem(sys.modules, "tensorrt", None)             # as here, even where TensorRT exists
    _forget_probe()
    caplog.set_level(logging.INFO, logger="edge.inference.engine_cache")
    model = mlp_onnx(tmp_path / "mlp.onnx")
    runtime = onnx_runtime_for_auto()
    first, second = open_backend(model), open_backend(model)       # two models in one process: one line
    assert all(isinstance(b, OpenVinoBackend if runtime == "openvino" else OrtBackend) for b in (first, second))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["no TensorRT engines: TensorRT is not installed; .onnx models run on "
                     + {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}[runtime]]
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    want = np.maximum(x @ np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32), 0)
    np.testing.assert_allclose(first.infer({"x": x})["y"], want, rtol=1e-5, atol=1e-5)
    _forget_probe()


def test_open_backend_auto_picks_a_cached_engine_where_tensorrt_and_a_gpu_are(device, tmp_path, monkeypatch,
                                                                                caplog):
    from edge.inference.ort_backend import OrtBackend

    monkeypatch.setenv(engine_cache.ENV, str(tmp_path / "engines"))
    device("10.3.0")
    model = mlp_onnx(tmp_path / "mlp.onnx")
    backend = open_backend(model)
    assert isinstance(backend, TensorRTBackend) and backend.path == tmp_path / "engines" / "mlp_b8_fp32.engine"
    assert backend.infer({"x": np.ones((2, 3), np.float32)})["y"].tolist() == [[3.0] * 3] * 2  # stand-in engine
    backend.close()
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert isinstance(open_backend(model, intra_op_threads=1), OrtBackend)   # options for a CPU runtime: no engine
    caplog.set_level(logging.INFO, logger="edge.inference.engine_cache")
    caplog.clear()
    modules = fake_cuda_device()
    modules["cuda.bindings.runtime"].cudaGetDeviceCount = lambda: (modules["cuda.bindings.runtime"].cudaError_t
                                                                   .cudaErrorNoDevice, 0)
    for name, module in modules.items():                           # TensorRT, but no GPU
        monkeypatch.setitem(sys.modules, name, module)
    _forget_probe()
    fallback = open_backend(model)
    assert not isinstance(fallback, TensorRTBackend)
    assert len(caplog.records) == 1 and "cudaErrorNoDevice" in caplog.records[0].getMessage()


# ---- the command line ------------------------------------------------------------------------------------------

def test_cli_build_here_is_one_line_and_exit_1(monkeypatch, mlp, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    code = main(["build", str(mlp), "--precision", "fp16", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("ergoedge: error: TensorRT's Python bindings are not installed") and "JetPack" in err
    assert not (tmp_path / "out").exists()
    assert main(["build", str(mlp), "--precision", "fp32", "--out", str(tmp_path / "out"), "--max-batch", "0"]) == 2


def test_cli_build_with_tensorrt(device, mlp, tmp_path, capsys):
    device("10.3.0", dla_cores=1)
    code = main(["build", str(mlp), "--precision", "fp16", "--out", str(tmp_path / "out"), "--max-batch", "3",
                 "--max-frames", "40", "--dla-core", "0", "--timing-cache", str(tmp_path / "t"),
                 "--workspace-mb", "64"])
    assert code == 0
    engine = tmp_path / "out" / "mlp_b3_fp16.engine"
    assert capsys.readouterr().out.startswith(f"built {engine} in ")
    rec = built_record(engine)
    assert rec["flags"] == ["FP16", "GPU_FALLBACK"] and rec["dla_core"] == 0 and rec["workspace"] == 64 << 20
    assert rec["profiles"] == [{"x": [[1, 1, 3], [1, 40, 3], [3, 40, 3]]}]
    assert len(list((tmp_path / "t").glob("*.cache"))) == 1


# ---- the real thing ----------------------------------------------------------------------------------------------

@pytest.mark.tensorrt
@pytest.mark.gpu
def test_streaming_step_engine_matches_onnxruntime(tmp_path):
    """A real engine of a small streaming step, stepped with its state fed back, against ONNX Runtime (needs
    TensorRT and an NVIDIA GPU: skipped elsewhere, with the reason)."""
    pytest.importorskip("tensorrt", reason="TensorRT's Python bindings are not installed (JetPack/GPU only)")
    torch = pytest.importorskip("torch", reason="the streaming export needs torch")
    from edge.inference.cuda_memory import open_cuda
    from edge.inference.ort_backend import OrtBackend
    from edge.train.config import NormConfig
    from export.onnx_stream import export_streaming

    import activity_helpers

    try:
        open_cuda("auto")
    except InputError as exc:
        pytest.skip(f"no CUDA device here: {exc}")
    torch.set_num_threads(1)
    onnx_path = export_streaming(activity_helpers.trained_checkpoint(tmp_path / "best.pt", NormConfig(root="first")),
                                 tmp_path / "onnx").onnx
    art = build_engine(onnx_path, EngineSpec("fp32", max_batch=4), tmp_path / "engines")
    trt_model, ort_model = TensorRTBackend(art.engine), OrtBackend(onnx_path)
    state_in = [n for n in ort_model.input_specs if n.startswith("state_")]
    feed = {n: np.zeros((2, *ort_model.input_specs[n][0][1:]), np.float32) for n in state_in}
    rng = np.random.default_rng(0)
    for _ in range(40):
        feed["joints"] = (0.3 * rng.standard_normal((2, 15, 3))).astype(np.float32)
        got, want = trt_model.infer(feed), ort_model.infer(feed)
        for name in ("activity_logits", "reba", "reba_partials"):
            np.testing.assert_allclose(got[name], want[name], rtol=1e-3, atol=1e-3)
        feed = {n: want[n.replace("state_", "next_state_")] for n in state_in}


def test_the_activity_step_runs_its_engine_where_tensorrt_is(device, tmp_path, monkeypatch):
    """The streaming model's "auto" (edge/streaming/model.py): the cached engine with TensorRT and a GPU, else ONNX
    Runtime on one thread (never OpenVINO, slower on that step)."""
    from edge.streaming.model import _resolve_backend

    model = mlp_onnx(tmp_path / "step.onnx")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    _forget_probe()
    assert _resolve_backend(model, "auto") == ("onnxruntime", {"intra_op_threads": 1}, model)
    monkeypatch.setenv(engine_cache.ENV, str(tmp_path / "engines"))
    device("10.3.0")
    assert _resolve_backend(model, "auto") == ("tensorrt", {}, tmp_path / "engines" / "step_b8_fp32.engine")
    assert _resolve_backend(model, "onnxruntime") == ("onnxruntime", {"intra_op_threads": 1}, model)
    _forget_probe()
