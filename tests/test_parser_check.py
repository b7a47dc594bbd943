"""The CPU-side TensorRT ONNX parser check (export/parser_check.py, TensorRT-RTX's parser, no GPU): it takes the
FP32, FP16 and INT8 (QDQ in TensorRT's form, made here by the calibration stage from real frames and real
step inputs) graphs of BlazePose's detector and landmark model and of the edge_stream streaming step, and rejects a
graph with an op TensorRT lacks, naming the node."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.tensorrt_build import inspect_onnx
from export.parser_check import check_parser

pytest.importorskip("tensorrt_rtx", reason="the parser check needs `pip install tensorrt-rtx` (set-up installs it)")

MODELS = ("pose_detection", "pose_landmark_full", "edge_stream_step")
SAMPLES = 4


def _frames(footage, size: int, count: int) -> list[np.ndarray]:
    """RGB frames of a real clip, spread over it, resized to the model's square input."""
    import cv2

    cap = cv2.VideoCapture(str(footage / "pose2sim" / "cam01.mp4"))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for index in np.linspace(0, total - 1, count).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = cap.read()
        assert ok, f"cannot read frame {index} of cam01.mp4"
        frames.append(cv2.resize(frame, (size, size))[..., ::-1].astype(np.float32))
    cap.release()
    return frames


def _step_feeds(onnx_path) -> list[dict]:
    """Inputs of the streaming step as a stream sees them: smooth joint motion, the state fed back by the FP32
    step itself (ONNX Runtime)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    state = {n: np.zeros((1, *s[1:]), np.float32) for n, s in inputs.items() if n != "joints"}
    base = np.random.default_rng(0).normal(scale=0.3, size=(15, 3)).astype(np.float32)
    feeds = []
    for t in range(12):
        joints = (base + 0.05 * np.sin(t / 3 + np.arange(15))[:, None]).astype(np.float32)[None]
        feed = {"joints": joints, **state}
        got = dict(zip(outputs, session.run(None, feed)))
        if t % 3 == 2:
            feeds.append(feed)
        state = {n: got[f"next_{n}"] for n in state}
    return feeds


@pytest.fixture(scope="module")
def stream_step(tmp_path_factory):
    torch = pytest.importorskip("torch", reason="exporting the streaming step needs torch (the train extra)")
    from edge.train.config import NormConfig
    from export.onnx_stream import export_streaming

    import activity_helpers

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("step")
    return export_streaming(activity_helpers.trained_checkpoint(tmp / "best.pt", NormConfig(root="first")),
                            tmp / "out").onnx


def _fp32_and_feeds(name, blazepose_models, stream_step, footage):
    if name == "edge_stream_step":
        return stream_step, _step_feeds(stream_step)
    detector, landmarks = blazepose_models
    if name == "pose_detection":  # the detector takes [-1, 1], the landmark model [0, 1]
        return detector, [{"input_1": (f * (2 / 255) - 1)[None]} for f in _frames(footage, 224, SAMPLES)]
    return landmarks, [{"input_1": (f / 255)[None]} for f in _frames(footage, 256, SAMPLES)]


def _int8(fp32, feeds, out):
    """The calibration stage's INT8 QDQ (TensorRT's form) from these few real samples."""
    from calibration.quantize import QuantSpec, quantize_int8
    from calibration.readers import calibration_set

    return quantize_int8(fp32, calibration_set(feeds, "test frames"), QuantSpec(allow_small=True), out)


def _fp16(fp32, feeds, out):
    from calibration.quantize import convert_fp16

    return convert_fp16(fp32, out, feeds[0])


@pytest.fixture(scope="module")
def graphs(request, blazepose_models, stream_step, footage, tmp_path_factory):
    """Per model: precision -> ONNX path, made once."""
    made = {}

    def get(name):
        if name not in made:
            fp32, feeds = _fp32_and_feeds(name, blazepose_models, stream_step, footage)
            tmp = tmp_path_factory.mktemp(name)
            made[name] = {"fp32": fp32, "fp16": _fp16(fp32, feeds, tmp / f"{name}_fp16.onnx"),
                          "int8": _int8(fp32, feeds, tmp / f"{name}_int8.onnx")}
        return made[name]

    return get


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("name", MODELS)
def test_the_parser_takes_every_graph_of_the_real_models(graphs, name, precision):
    path = graphs(name)[precision]
    assert inspect_onnx(path).precision == precision               # the graph carries what its name says
    report = check_parser(path)
    assert report.accepted, report.errors
    assert report.errors == () and report.unsupported == ()
    assert report.parser.startswith("tensorrt-rtx ")
    ops = report.operators
    assert sum(ops.values()) > 20 and ops.get("Conv", 0) > 0
    if precision == "int8":  # TensorRT's form: every quantised tensor in int8, no quantised bias
        assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] >= ops["QuantizeLinear"]
        _assert_trt_qdq_form(path)
    else:
        assert "QuantizeLinear" not in ops
    if precision == "fp16":
        assert ops.get("Cast", 0) >= 2                              # float32 kept at the graph's edges


def _assert_trt_qdq_form(path):
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    zero_points = [n.input[2] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert zero_points and all(inits[z].data_type == TensorProto.INT8 for z in zero_points)
    assert all(not numpy_helper.to_array(inits[z]).any() for z in zero_points)       # symmetric
    assert not any(t.data_type == TensorProto.INT32 for t in model.graph.initializer)   # no int32 bias


def test_a_graph_with_an_op_tensorrt_lacks_is_rejected_naming_the_node(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [8])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("r", "u")]
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu0"),
             helper.make_node("Unique", ["r"], ["u"], name="dedupe_scores")]
    path = tmp_path / "unique.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], outs),
                                opset_imports=[helper.make_opsetid("", 17)]), str(path))
    report = check_parser(path)
    assert not report.accepted
    assert report.unsupported == ("dedupe_scores (Unique)",)
    assert len(report.errors) == 1 and report.errors[0].startswith("node dedupe_scores (Unique): ")
    assert report.operators == {"Relu": 1, "Unique": 1}
    assert report.to_dict()["accepted"] is False


def test_bad_input_and_no_parser_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="ONNX file not found"):
        check_parser(tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not protobuf")
    with pytest.raises(InputError, match="junk.onnx is not a readable ONNX model"):
        check_parser(junk)
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    path = tmp_path / "relu.onnx"
    import onnx
    from onnx import TensorProto, helper

    v = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("x", "y")]
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", v[:1], v[1:])),
              str(path))
    with pytest.raises(InputError, match="no TensorRT ONNX parser is installed.*pip install tensorrt-rtx") as err:
        check_parser(path)
    assert "\n" not in str(err.value)
