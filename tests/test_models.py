"""Pose model files: fetch (normally already done by scripts/setup.sh), manifest, sha256 checks, ONNX I/O, offline
re-fetch, a stale converter version, directory precedence; the converter's files and pure helpers (SAME padding,
TFLite sparse decoding); and, in the tools venv when it exists, the converter's verify on the detector and on tiny
TFLite models written by the test."""

import json
import shutil
import socket
import subprocess

import numpy as np
import pytest

from export.mediapipe import fetch
from edge.errors import InputError
from edge.artifacts import MANIFEST_FORMAT, POSE_MODELS, ModelError, load_manifest, model_file, model_path, models_dir
from edge.paths import user_dir
from export.mediapipe.fetch import fetch_models

DETECTOR_IO = ({"input_1": [1, 224, 224, 3]}, {"Identity": [1, 2254, 12], "Identity_1": [1, 2254, 1]})
LANDMARK_IO = (
    {"input_1": [1, 256, 256, 3]},
    {"Identity": [1, 195], "Identity_1": [1, 1], "Identity_2": [1, 256, 256, 1], "Identity_3": [1, 64, 64, 39],
     "Identity_4": [1, 117]},
)
EXPECTED_IO = {"pose_detection": DETECTOR_IO, "pose_landmark_full": LANDMARK_IO}


@pytest.fixture(scope="session")
def manifest():
    return fetch_models(log=lambda msg: None)


@pytest.fixture(scope="session")
def mdir(manifest):
    return models_dir()


def test_manifest_records_sources_files_and_io(manifest, mdir):
    assert manifest["format"] == MANIFEST_FORMAT
    src = manifest["source"]
    assert (src["package"], src["version"], src["license"]) == ("mediapipe", fetch.MEDIAPIPE_VERSION, "Apache-2.0")
    assert src["wheel"].startswith(f"mediapipe-{fetch.MEDIAPIPE_VERSION}-") and len(src["wheel_sha256"]) == 64
    assert "Apache License" in (mdir / src["license_file"]).read_text()
    conv = manifest["converter"]
    assert conv["opset"] == 17 and conv["version"] == fetch.converter_version(fetch.converter_script())
    assert set(manifest["files"]) == {"LICENSE.mediapipe", "pose_detection.onnx", "pose_detection.tflite",
                                      "pose_landmark_full.onnx", "pose_landmark_full.tflite"}
    for name, (inputs, outputs) in EXPECTED_IO.items():
        info = manifest["models"][name]
        assert info["tflite_sha256"] == fetch.SOURCES[name].sha256
        assert manifest["files"][f"{name}.tflite"]["sha256"] == fetch.SOURCES[name].sha256
        assert manifest["files"][f"{name}.onnx"]["sha256"] == info["onnx_sha256"]
        assert {t["name"]: t["shape"] for t in info["inputs"]} == inputs
        assert {t["name"]: t["shape"] for t in info["outputs"]} == outputs
        assert {t["dtype"] for t in info["inputs"] + info["outputs"]} == {"float32"}
    assert manifest["models"]["pose_detection"]["tflite_ops"]["DENSIFY"] == 38


def test_recorded_verification_is_within_tolerance(manifest):
    det = manifest["models"]["pose_detection"]["verification"]
    lm = manifest["models"]["pose_landmark_full"]["verification"]
    for v in (det, lm):
        assert v["ok"] and v["tolerance"] <= 1e-3 and v["samples"] >= 4
        for name, out in v["outputs"].items():
            assert out["relative_diff"] <= 1e-3, name
            # about as far from TFLite as TFLite's own two CPU paths are from each other: the float32 noise floor
            assert out["max_abs_diff"] <= 3 * out["tflite_kernels_diff"] + 1e-6, name
    assert det["densify_ops"] == 38 and det["densify_max_abs_diff"] == 0.0
    assert lm["outputs"]["Identity_4"]["max_abs_diff"] < 1e-4  # world landmarks, metres
    assert lm["outputs"]["Identity_1"]["max_abs_diff"] < 1e-5  # pose presence (a sigmoid)


def test_model_file_and_path(manifest, mdir):
    mf = model_file("pose_landmark_full")
    assert mf.path == mdir / "pose_landmark_full.onnx" == model_path("pose_landmark_full")
    assert mf.sha256 == manifest["models"]["pose_landmark_full"]["onnx_sha256"]
    assert [(t.name, t.shape, t.dtype) for t in mf.inputs] == [("input_1", (1, 256, 256, 3), "float32")]
    assert [t.name for t in mf.outputs] == list(LANDMARK_IO[1])
    with pytest.raises(ModelError, match="unknown model 'pose_landmark_heavy'.*pose_detection"):
        model_path("pose_landmark_heavy")


@pytest.mark.parametrize("name", ["pose_detection", "pose_landmark_full"])
def test_onnx_runtime_loads_and_runs(manifest, name):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(model_path(name)), opts, providers=["CPUExecutionProvider"])
    inputs, outputs = EXPECTED_IO[name]
    assert {i.name: i.shape for i in sess.get_inputs()} == inputs
    assert {o.name: o.shape for o in sess.get_outputs()} == outputs
    assert {i.type for i in sess.get_inputs() + sess.get_outputs()} == {"tensor(float)"}
    (in_name, in_shape), = inputs.items()
    x = np.full(in_shape, 0.5, np.float32)
    got = dict(zip(outputs, sess.run(list(outputs), {in_name: x})))
    assert {k: list(v.shape) for k, v in got.items()} == outputs
    assert all(np.isfinite(v).all() for v in got.values())


def test_onnx_graph_is_clean(manifest):
    import onnx

    for name in POSE_MODELS:
        m = onnx.load(str(model_path(name)))
        assert m.opset_import[0].version == 17
        ops = {n.op_type for n in m.graph.node}
        assert not ops & {"DequantizeLinear", "Cast", "Pad", "Identity"}, ops  # weights folded, pads fused
        # layout changes only at the NHWC boundaries: graph input, graph outputs, and before NHWC-order Reshapes
        boundary = {i.name for i in m.graph.input} | {o.name for o in m.graph.output}
        reshape_inputs = {n.input[0] for n in m.graph.node if n.op_type == "Reshape"}
        for n in m.graph.node:
            if n.op_type == "Transpose":
                assert n.input[0] in boundary or n.output[0] in boundary | reshape_inputs, n.name
        assert all(init.data_type == onnx.TensorProto.FLOAT or init.data_type == onnx.TensorProto.INT64
                   for init in m.graph.initializer)


def _copy_models(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and not f.name.startswith("."):
            shutil.copy2(f, dst / f.name)
    return dst


def test_load_manifest_detects_changed_and_missing_files(mdir, tmp_path):
    d = _copy_models(mdir, tmp_path / "models")
    assert load_manifest(d)["models"].keys() == set(POSE_MODELS)
    onnx_file = d / "pose_detection.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    onnx_file.write_bytes(bytes(data))
    (d / "LICENSE.mediapipe").unlink()
    with pytest.raises(ModelError) as exc:
        load_manifest(d)
    msg = str(exc.value)
    assert isinstance(exc.value, InputError) and "\n" not in msg
    assert "pose_detection.onnx (changed)" in msg and "LICENSE.mediapipe (missing)" in msg
    assert str(d) in msg and "ergoedge models fetch" in msg
    with pytest.raises(ModelError, match="changed"):
        model_path("pose_detection", d)


def test_malformed_manifest_entries_are_one_line(mdir, tmp_path):
    d = _copy_models(mdir, tmp_path / "models")
    edited = json.loads((d / "manifest.json").read_text())
    edited["files"]["LICENSE.mediapipe"] = "no entry"
    del edited["models"]["pose_detection"]["onnx_sha256"]
    (d / "manifest.json").write_text(json.dumps(edited))
    with pytest.raises(ModelError, match=r"LICENSE.mediapipe \(not a manifest entry\)"):
        load_manifest(d)
    edited["files"]["LICENSE.mediapipe"] = json.loads((mdir / "manifest.json").read_text())["files"]["LICENSE.mediapipe"]
    (d / "manifest.json").write_text(json.dumps(edited))
    with pytest.raises(ModelError, match="the entry of pose_detection is incomplete; run `ergoedge models fetch`"):
        model_path("pose_detection", d)
    assert model_path("pose_landmark_full", d) == d / "pose_landmark_full.onnx"


def test_missing_or_bad_manifest(tmp_path):
    with pytest.raises(ModelError, match=r"no pose models in .*; run `ergoedge models fetch`"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 999}))
    with pytest.raises(ModelError, match="another version"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(["format", 1]))
    with pytest.raises(ModelError, match="another version"):
        load_manifest(tmp_path)


def test_second_fetch_is_offline(manifest, mdir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"fetch_models ran a tool or opened a socket: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(socket, "socket", refuse)
    lines = []
    again = fetch_models(log=lines.append)
    assert again == manifest
    assert lines == [f"pose models ready in {mdir}"]


def test_fetch_into_a_copy_is_offline_too(mdir, tmp_path, monkeypatch):
    d = _copy_models(mdir, tmp_path / "models")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a subprocess"))
    assert fetch_models(d, log=lambda m: None)["models"].keys() == set(POSE_MODELS)


def test_fetch_failure_is_one_line_model_error(tmp_path, monkeypatch):
    # a broken copy must be made again: with the tools venv unavailable, that fails with one clear line
    def failing_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "Error: No module named venv\n")

    monkeypatch.setattr(subprocess, "run", failing_run)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with pytest.raises(ModelError) as exc:
        fetch_models("models", log=lambda m: None)
    msg = str(exc.value)
    assert "\n" not in msg and "could not create the converter venv" in msg and "python3-venv" in msg
    assert not (cwd / "models" / "manifest.json").exists()
    # The lock and the tools venv live in ergo-edge's cache folder, not beside a models directory given by name.
    assert [p.name for p in cwd.iterdir()] == ["models"]
    assert (tmp_path / "cache" / "ergo-edge" / ".fetch.lock").is_file()
    # A folder holding another manifest.json (a data set's) is refused before anything is made or removed.
    data = cwd / "synth"
    data.mkdir()
    (data / "manifest.json").write_text('{"counts": {"sequences": 3}}\n')
    with pytest.raises(ModelError, match="is not a models manifest"):
        fetch_models(data, log=lambda m: None)
    assert (data / "manifest.json").read_text() == '{"counts": {"sequences": 3}}\n'


def test_a_set_from_another_converter_version_is_made_again(mdir, tmp_path, monkeypatch):
    d = _copy_models(mdir, tmp_path / "models")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no tools venv there: it must be made
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["converter"]["version"] += "-old"
    (d / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kwargs: subprocess.CompletedProcess(cmd, 1, "", "stop"))
    with pytest.raises(ModelError, match="could not create the converter venv"):  # not reused: being made again
        fetch_models(d, log=lambda m: None)


def test_sources_are_the_pose_models():
    assert tuple(fetch.SOURCES) == POSE_MODELS


def test_converter_files_are_the_folder_and_its_version_is_readable():
    from export.mediapipe import tflite_onnx

    script = fetch.converter_script()
    modules = {f.name for f in script.parent.glob("*.py")} - {"__init__.py", "fetch.py"}
    assert script.name == fetch.CONVERTER_FILES[0] and set(fetch.CONVERTER_FILES) == modules
    assert fetch.converter_version(script) == tflite_onnx.CONVERTER_VERSION


def test_models_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ERGOEDGE_MODELS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert models_dir() == tmp_path / "home" / ".cache" / "ergo-edge" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert models_dir() == tmp_path / "home" / ".cache" / "ergo-edge" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_dir() == tmp_path / "xdg" / "ergo-edge" / "models"
    monkeypatch.setenv("ERGOEDGE_MODELS", str(tmp_path / "env"))
    assert models_dir() == tmp_path / "env"
    assert models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert models_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    assert models_dir("~/m") == tmp_path / "home" / "m"


@pytest.fixture(scope="session")
def tools_python(mdir):
    python = fetch.venv_python(user_dir("cache") / "tools" / "convert-venv")
    if not python.is_file():
        pytest.skip(f"no converter tools venv at {python.parent.parent}")
    return python


def test_tools_venv_runs_the_converter_verify(manifest, mdir, tools_python):
    script = fetch.converter_script()
    proc = subprocess.run(
        [str(tools_python), str(script), str(mdir / "pose_detection.tflite"), str(mdir / "pose_detection.onnx"),
         "--verify-only", "--input-range", "-1", "1"],
        check=False, capture_output=True, text=True, timeout=120, cwd=mdir.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    v = report["verification"]
    assert v["ok"] and v["densify_max_abs_diff"] == 0.0
    assert report["onnx_sha256"] == manifest["models"]["pose_detection"]["onnx_sha256"]
    recorded = manifest["models"]["pose_detection"]["verification"]["outputs"]
    for name, out in v["outputs"].items():
        assert out["relative_diff"] <= 1e-3
        assert out["max_abs_diff"] == pytest.approx(recorded[name]["max_abs_diff"], rel=0.5, abs=1e-5)


def test_converter_on_tiny_tflite_models(tools_python, tmp_path):
    """Ops and options the BlazePose models do not use, on TFLite models written here (see _TINY_MODELS)."""
    script = tmp_path / "tiny_models.py"
    script.write_text(_TINY_MODELS)
    proc = subprocess.run([str(tools_python), str(script), str(fetch.converter_script().parent), str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    v = report["verify"]
    assert v["ok"], v
    assert all(o["max_abs_diff"] < 1e-5 for o in v["outputs"].values()), v["outputs"]
    assert {"Pad", "DepthToSpace", "Concat", "MaxPool", "Resize", "Sigmoid", "Relu", "Clip"} <= set(report["ops"])
    assert report["pad_nodes"] == 1  # the PAD feeding a VALID convolution went into the Conv's pads
    assert report["errors"]["mul"].startswith("unsupported TFLite op(s): MUL (supported: ADD, ")
    assert report["errors"]["tanh"] == "CONV_2D (op 0): unsupported fused activation TANH"


# -- the converter's pure helpers (its modules import only numpy and onnx at module level) ---------------------------


def test_same_padding_matches_tensorflow():
    from export.mediapipe.onnx_builder import same_pads

    assert same_pads(224, 3, 2) == (0, 1)  # even input, stride 2: the extra pixel goes at the end
    assert same_pads(225, 3, 2) == (1, 1)
    assert same_pads(8, 3, 2) == (0, 1)
    assert same_pads(7, 5, 1) == (2, 2)
    assert same_pads(10, 4, 1) == (1, 2)
    assert same_pads(10, 3, 1, dilation=2) == (2, 2)
    assert same_pads(4, 1, 2) == (0, 0)


def test_densify_csr_and_block_sparse():
    from export.mediapipe.tflite_graph import densify

    dense = np.array([[1, 0, 2, 3], [0, 4, 0, 0], [0, 0, 5, 0], [0, 0, 0, 6]], np.float32)
    # plain CSR on the last axis (the detector's format)
    segments, indices = np.array([0, 3, 4, 5, 6]), np.array([0, 2, 3, 1, 2, 3])
    got = densify(np.array([1, 2, 3, 4, 5, 6], np.float32), [4, 4], [0, 1], [],
                  [(0, 4, None, None), (1, 0, segments, indices)])
    np.testing.assert_array_equal(got, dense)
    # 2x2 blocks (TFLite FormatConverterTest.BlockTestD0S1)
    values = np.array([1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6], np.float32)
    got = densify(values, [4, 4], [0, 1, 2, 3], [0, 1],
                  [(0, 2, None, None), (1, 0, np.array([0, 2, 3]), np.array([0, 1, 1])),
                   (0, 2, None, None), (0, 2, None, None)])
    np.testing.assert_array_equal(got, dense)
    # 1x2 blocks along axis 1 (TFLite FormatConverterTest.BlockTestD0S11DBlock)
    values = np.array([1, 0, 2, 3, 0, 4, 5, 0, 0, 6], np.float32)
    got = densify(values, [4, 4], [0, 1, 2], [1],
                  [(0, 4, None, None), (1, 0, np.array([0, 2, 3, 4, 5]), np.array([0, 1, 0, 1, 1])),
                   (0, 2, None, None)])
    np.testing.assert_array_equal(got, dense)
    # column-major traversal of a dense 2x3
    got = densify(np.arange(6, dtype=np.float32), [2, 3], [1, 0], [], [(0, 3, None, None), (0, 2, None, None)])
    np.testing.assert_array_equal(got, np.arange(6).reshape(3, 2).T)


# A TFLite flatbuffer writer (the `tflite` package's generated builders) and one model using every op and option the
# converter supports but BlazePose does not: a channel-padding PAD, SAME stride 2 on odd sizes, fp16 DEQUANTIZE,
# depthwise with multiplier 2 and dilation 2, MAX_POOL SAME, channel CONCATENATION, broadcast ADD, all three
# RESIZE_BILINEAR coordinate modes, RELU / RELU6 / RELU_N1_TO_1, DEPTH_TO_SPACE, PAD folded into a convolution,
# RESHAPE. Run by the tools venv's python: argv[1] is the directory of tflite_onnx.py, argv[2] the output directory.
_TINY_MODELS = r'''import importlib, json, sys
from pathlib import Path

import flatbuffers
import numpy as np

sys.path.insert(0, sys.argv[1])
import tflite_onnx as T  # noqa: E402
from tflite.BuiltinOperator import BuiltinOperator as OPS  # noqa: E402
from tflite.BuiltinOptions import BuiltinOptions as OPTIONS  # noqa: E402

OUT = Path(sys.argv[2])
M = {n: importlib.import_module("tflite." + n) for n in ("Model", "SubGraph", "Tensor", "Operator", "OperatorCode",
                                                         "Buffer")}


class Net:
    """A tiny TFLite flatbuffer writer: float32 tensors, constants, builtin ops with scalar options."""

    def __init__(self):
        self.tensors, self.buffers, self.ops = [], [b""], []

    def tensor(self, name, shape, data=None, ttype=0):
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append((name, [int(v) for v in shape], ttype, buf))
        return len(self.tensors) - 1

    def const(self, name, arr):
        arr = np.asarray(arr)
        return self.tensor(name, arr.shape, arr, {np.float32: 0, np.float16: 1, np.int32: 2}[arr.dtype.type])

    def op(self, name, inputs, outputs, options=None, **fields):
        self.ops.append((name, inputs, outputs, options, fields))
        return outputs[0]

    def write_ops(self, b, ivec, codes):
        """The operators, each with its builtin options table, into builder `b`; their offsets."""
        Op = M["Operator"]
        ops = []
        for name, ins, outs, options, fields in self.ops:
            opt = None
            if options:
                mod = importlib.import_module("tflite." + options)
                getattr(mod, options + "Start")(b)
                for k, v in fields.items():
                    getattr(mod, f"{options}Add{k}")(b, v)
                opt = getattr(mod, options + "End")(b)
            iv, ov = ivec(Op.OperatorStartInputsVector, ins), ivec(Op.OperatorStartOutputsVector, outs)
            Op.OperatorStart(b)
            Op.OperatorAddOpcodeIndex(b, codes.index(name))
            Op.OperatorAddInputs(b, iv)
            Op.OperatorAddOutputs(b, ov)
            if opt is not None:
                Op.OperatorAddBuiltinOptionsType(b, getattr(OPTIONS, options))
                Op.OperatorAddBuiltinOptions(b, opt)
            ops.append(Op.OperatorEnd(b))
        return ops

    def build(self, inputs, outputs):
        b = flatbuffers.Builder(1024)

        def vec(start, items, prepend):
            start(b, len(items))
            for x in reversed(items):
                prepend(x)
            return b.EndVector()

        def ivec(start, items):
            return vec(start, [int(v) for v in items], b.PrependInt32)

        def ovec(start, items):
            return vec(start, items, b.PrependUOffsetTRelative)

        Bu, Te, OC, SG, Mo = (M[n] for n in ("Buffer", "Tensor", "OperatorCode", "SubGraph", "Model"))
        bufs = []
        for data in self.buffers:
            dv = b.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
            Bu.BufferStart(b)
            if dv is not None:
                Bu.BufferAddData(b, dv)
            bufs.append(Bu.BufferEnd(b))
        tens = []
        for name, shape, ttype, buf in self.tensors:
            n, s = b.CreateString(name), ivec(Te.TensorStartShapeVector, shape)
            Te.TensorStart(b)
            Te.TensorAddShape(b, s)
            Te.TensorAddType(b, ttype)
            Te.TensorAddBuffer(b, buf)
            Te.TensorAddName(b, n)
            tens.append(Te.TensorEnd(b))
        codes = sorted({op[0] for op in self.ops})
        ops = self.write_ops(b, ivec, codes)
        code_offsets = []
        for name in codes:
            c = getattr(OPS, name)
            OC.OperatorCodeStart(b)
            OC.OperatorCodeAddDeprecatedBuiltinCode(b, min(c, 127))
            OC.OperatorCodeAddBuiltinCode(b, c)
            OC.OperatorCodeAddVersion(b, 1)
            code_offsets.append(OC.OperatorCodeEnd(b))
        tv, iv, ov = ovec(SG.SubGraphStartTensorsVector, tens), ivec(SG.SubGraphStartInputsVector, inputs), ivec(
            SG.SubGraphStartOutputsVector, outputs)
        opv, sname = ovec(SG.SubGraphStartOperatorsVector, ops), b.CreateString("main")
        SG.SubGraphStart(b)
        SG.SubGraphAddTensors(b, tv)
        SG.SubGraphAddInputs(b, iv)
        SG.SubGraphAddOutputs(b, ov)
        SG.SubGraphAddOperators(b, opv)
        SG.SubGraphAddName(b, sname)
        sg = SG.SubGraphEnd(b)
        cv = ovec(Mo.ModelStartOperatorCodesVector, code_offsets)
        sgv = ovec(Mo.ModelStartSubgraphsVector, [sg])
        bv = ovec(Mo.ModelStartBuffersVector, bufs)
        desc = b.CreateString("ergo-edge test model")
        Mo.ModelStart(b)
        Mo.ModelAddVersion(b, 3)
        Mo.ModelAddOperatorCodes(b, cv)
        Mo.ModelAddSubgraphs(b, sgv)
        Mo.ModelAddDescription(b, desc)
        Mo.ModelAddBuffers(b, bv)
        b.Finish(Mo.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


rng = np.random.default_rng(0)


def w(*shape, dtype=np.float32):
    return (rng.standard_normal(shape) * 0.5).astype(dtype)


SAME, VALID = 0, 1
RELU, RELU_N1_TO_1, RELU6, TANH = 1, 2, 3, 4
n = Net()
x = n.tensor("x", [1, 7, 9, 3])
# a zero PAD that also pads channels and feeds a non-convolution: kept as an ONNX Pad
pad = n.op("PAD", [x, n.const("pads", np.array([[0, 0], [1, 0], [0, 2], [0, 1]], np.int32))],
           [n.tensor("pad", [1, 8, 11, 4])])
sig = n.op("LOGISTIC", [pad], [n.tensor("sigmoid_out", [1, 8, 11, 4])])
# fp16 weights behind DEQUANTIZE; SAME, stride 2, odd input sizes: asymmetric padding
w1 = n.op("DEQUANTIZE", [n.const("w1_fp16", w(4, 3, 3, 3, dtype=np.float16))], [n.tensor("w1", [4, 3, 3, 3])])
conv1 = n.op("CONV_2D", [x, w1, n.const("b1", w(4))], [n.tensor("conv1", [1, 4, 5, 4])], "Conv2DOptions",
             Padding=SAME, StrideH=2, StrideW=2, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=RELU)
dw = n.op("DEPTHWISE_CONV_2D", [x, n.const("wd", w(1, 3, 3, 6)), n.const("bd", w(6))], [n.tensor("dw", [1, 7, 9, 6])],
          "DepthwiseConv2DOptions", Padding=SAME, StrideH=1, StrideW=1, DepthMultiplier=2, DilationHFactor=2,
          DilationWFactor=2, FusedActivationFunction=RELU)
mp = n.op("MAX_POOL_2D", [dw], [n.tensor("maxpool", [1, 4, 5, 6])], "Pool2DOptions", Padding=SAME, StrideH=2,
          StrideW=2, FilterHeight=3, FilterWidth=3, FusedActivationFunction=0)
cat = n.op("CONCATENATION", [conv1, mp], [n.tensor("concat", [1, 4, 5, 10])], "ConcatenationOptions", Axis=-1,
           FusedActivationFunction=0)
add = n.op("ADD", [cat, n.const("bias10", w(10) * 4)], [n.tensor("add_out", [1, 4, 5, 10])], "AddOptions",
           FusedActivationFunction=RELU6)
rs_ac = n.op("RESIZE_BILINEAR", [add, n.const("size79", np.array([7, 9], np.int32))],
             [n.tensor("resize_ac", [1, 7, 9, 10])],
             "ResizeBilinearOptions", AlignCorners=True, HalfPixelCenters=False)
rs_as = n.op("RESIZE_BILINEAR", [add, n.const("size810", np.array([8, 10], np.int32))],
             [n.tensor("resize_asym", [1, 8, 10, 10])], "ResizeBilinearOptions", AlignCorners=False,
             HalfPixelCenters=False)
rs_hp = n.op("RESIZE_BILINEAR", [rs_as, n.const("size34", np.array([3, 4], np.int32))],
             [n.tensor("resize_half", [1, 3, 4, 10])], "ResizeBilinearOptions", AlignCorners=False,
             HalfPixelCenters=True)
conv2 = n.op("CONV_2D", [rs_ac, n.const("w2", w(8, 1, 1, 10)), n.const("b2", w(8))], [n.tensor("conv2", [1, 7, 9, 8])],
             "Conv2DOptions", Padding=VALID, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1,
             FusedActivationFunction=RELU_N1_TO_1)
d2s = n.op("DEPTH_TO_SPACE", [conv2], [n.tensor("d2s", [1, 14, 18, 2])], "DepthToSpaceOptions", BlockSize=2)
# a spatial zero PAD feeding only a VALID convolution: folded into the Conv's pads
pad2 = n.op("PAD", [d2s, n.const("pads2", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))],
            [n.tensor("pad2", [1, 16, 20, 2])])
conv3 = n.op("CONV_2D", [pad2, n.const("w3", w(3, 3, 3, 2)), n.const("b3", w(3))],
             [n.tensor("conv3_out", [1, 7, 9, 3])],
             "Conv2DOptions", Padding=VALID, StrideH=2, StrideW=2, DilationHFactor=1, DilationWFactor=1)
flat = n.op("RESHAPE", [rs_hp, n.const("shape", np.array([1, 120], np.int32))], [n.tensor("flat_out", [1, 120])])
buf = n.build([x], [sig, conv3, flat, add])
(OUT / "tiny.tflite").write_bytes(buf)
model = T.convert(buf)
(OUT / "tiny.onnx").write_bytes(model.SerializeToString())
report = {"ops": sorted({nd.op_type for nd in model.graph.node}),
          "verify": T.verify(OUT / "tiny.tflite", OUT / "tiny.onnx", (-1.0, 1.0), tolerance=1e-5)}

report["pad_nodes"] = sum(nd.op_type == "Pad" for nd in model.graph.node)
report["errors"] = {}
u = Net()  # an op the converter does not know
ux = u.tensor("x", [1, 4, 4, 2])
u.op("LOGISTIC", [u.op("MUL", [ux, ux], [u.tensor("sq", [1, 4, 4, 2])])], [u.tensor("y", [1, 4, 4, 2])])
t = Net()  # a fused TANH, which TFLite's conv kernels silently skip
tx = t.tensor("x", [1, 4, 4, 2])
t.op("CONV_2D", [tx, t.const("w", w(2, 1, 1, 2))], [t.tensor("y", [1, 4, 4, 2])], "Conv2DOptions", Padding=VALID,
     StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=TANH)
for key, net, x_in, y_out in (("mul", u, ux, 2), ("tanh", t, tx, 2)):
    try:
        T.convert(net.build([x_in], [y_out]))
        report["errors"][key] = None
    except T.ConversionError as exc:
        report["errors"][key] = str(exc)
print(json.dumps(report))
'''
