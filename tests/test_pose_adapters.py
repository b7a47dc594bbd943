"""Pose adapters and inference backends, on tiny ONNX models built here (no downloads, no GPU).

Stand-in models either emit constant tensors (post-processing checked to the pixel) or compute simple functions of
the input (a bright-dot locator for RTMPose, so that the crop warp and its inverse are checked end to end), plus
random-weight Conv models with the real signatures.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import types
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edge.errors import InputError  # noqa: E402
from edge.pose.adapters import (  # noqa: E402
    ADAPTERS, RTMOAdapter, RTMOConfig, RTMPoseAdapter, RTMPoseConfig, YoloPoseAdapter, YoloPoseConfig, letterbox,
    nms,
)
from edge.inference.backends import open_backend  # noqa: E402
from edge.inference.ort_backend import OrtBackend  # noqa: E402
from edge.inference.tensorrt_backend import TensorRTBackend  # noqa: E402
from edge.inference.base import InferenceBackend
from edge.pose.types import Person  # noqa: E402

J = 17
RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------------------------ model builders

def _save(path, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=list(inits))
    # IR 8 / opset 17: the newest onnx writes an IR version that ONNX Runtime 1.31 refuses.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def constant_model(path, input_name, input_shape, outputs, declared=None):
    """A model whose outputs are the given constants, broadcast over the input's batch.

    Each output is value[0] repeated for every batch entry: const (1, ...) + zeros (B, 1, ...), the zeros being
    0 x mean(input) so that the input is genuinely consumed.
    """
    declared = declared or {}
    nodes = [
        helper.make_node("Reshape", [input_name, "flat_shape"], ["flat"]),
        helper.make_node("ReduceMean", ["flat"], ["mean_b1"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean_b1", "zero"], ["zero_b1"]),
    ]
    inits = [_const("flat_shape", [0, -1], np.int64), _const("zero", 0.0)]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        rank = value.ndim
        nodes += [
            helper.make_node("Unsqueeze", ["zero_b1", f"{name}_axes"], [f"{name}_zero"]),
            helper.make_node("Add", [f"{name}_value", f"{name}_zero"], [name]),
        ]
        inits += [_const(f"{name}_axes", list(range(2, rank)), np.int64), _const(f"{name}_value", value)]
        outs.append(_vi(name, declared.get(name, [input_shape[0], *value.shape[1:]])))
    return _save(path, nodes, [_vi(input_name, input_shape)], outs, inits)


def yolo_random_model(path, size=640):
    weight = RNG.normal(0, 0.02, (5 + 3 * J, 3, 32, 32))
    scale = np.ones(5 + 3 * J, np.float32)
    scale[[0, 1]] = size
    scale[[2, 3]] = 200
    scale[5::3] = size
    scale[6::3] = size
    n = (size // 32) ** 2
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["feat"], strides=[32, 32]),
        helper.make_node("Reshape", ["feat", "shape"], ["flat"]),
        helper.make_node("Sigmoid", ["flat"], ["prob"]),
        helper.make_node("Mul", ["prob", "scale"], ["output0"]),
    ]
    inits = [_const("w", weight), _const("shape", [1, 5 + 3 * J, n], np.int64),
             _const("scale", scale.reshape(1, -1, 1))]
    return _save(path, nodes, [_vi("images", [1, 3, size, size])], [_vi("output0", [1, 5 + 3 * J, n])], inits)


def rtmpose_random_model(path, height=256, width=192):
    nodes = [
        helper.make_node("Conv", ["input", "wx"], ["fx"]),          # [1, J, 1, W]
        helper.make_node("Reshape", ["fx", "shape_x"], ["rx"]),
        helper.make_node("Concat", ["rx", "rx"], ["simcc_x"], axis=2),
        helper.make_node("Conv", ["input", "wy"], ["fy"]),          # [1, J, H, 1]
        helper.make_node("Reshape", ["fy", "shape_y"], ["ry"]),
        helper.make_node("Concat", ["ry", "ry"], ["simcc_y"], axis=2),
    ]
    inits = [_const("wx", RNG.normal(0, 0.01, (J, 3, height, 1))), _const("wy", RNG.normal(0, 0.01, (J, 3, 1, width))),
             _const("shape_x", [1, J, width], np.int64), _const("shape_y", [1, J, height], np.int64)]
    return _save(path, nodes, [_vi("input", [1, 3, height, width])],
                 [_vi("simcc_x", [1, J, 2 * width]), _vi("simcc_y", [1, J, 2 * height])], inits)


def rtmpose_dot_model(path, batch=1, height=256, width=192):
    """SimCC stand-in that locates the brightest input pixel: simcc_x peaks at 2 x its column, simcc_y at 2 x row."""
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["m"], axes=[1], keepdims=0),     # [B, H, W]
        helper.make_node("ReduceMax", ["m"], ["col"], axes=[1], keepdims=0),       # [B, W]
        helper.make_node("ReduceMax", ["m"], ["row"], axes=[2], keepdims=0),       # [B, H]
    ]
    inits = [_const("ax2", [2], np.int64), _const("ax1", [1], np.int64), _const("flat", [0, -1], np.int64),
             _const("reps", [1, J, 1], np.int64)]
    for src, out in (("col", "simcc_x"), ("row", "simcc_y")):
        nodes += [
            helper.make_node("Unsqueeze", [src, "ax2"], [f"{src}_u"]),
            helper.make_node("Concat", [f"{src}_u", f"{src}_u"], [f"{src}_2"], axis=2),  # each bin twice
            helper.make_node("Reshape", [f"{src}_2", "flat"], [f"{src}_f"]),
            helper.make_node("Unsqueeze", [f"{src}_f", "ax1"], [f"{src}_k"]),
            helper.make_node("Tile", [f"{src}_k", "reps"], [out]),
        ]
    return _save(path, nodes, [_vi("input", [batch, 3, height, width])],
                 [_vi("simcc_x", [batch, J, 2 * width]), _vi("simcc_y", [batch, J, 2 * height])], inits)


def rtmo_random_model(path, n_grid=20):
    n = n_grid * n_grid
    nodes = [
        helper.make_node("Conv", ["input", "wd"], ["fd"], strides=[32, 32]),
        helper.make_node("Reshape", ["fd", "sd"], ["rd"]),
        helper.make_node("Transpose", ["rd"], ["td"], perm=[0, 2, 1]),
        helper.make_node("Sigmoid", ["td"], ["pd"]),
        helper.make_node("Mul", ["pd", "scale_d"], ["dets"]),
        helper.make_node("Conv", ["input", "wk"], ["fk"], strides=[32, 32]),
        helper.make_node("Reshape", ["fk", "sk"], ["rk"]),
        helper.make_node("Transpose", ["rk"], ["tk"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["tk", "sk4"], ["qk"]),
        helper.make_node("Sigmoid", ["qk"], ["pk"]),
        helper.make_node("Mul", ["pk", "scale_k"], ["keypoints"]),
    ]
    inits = [_const("wd", RNG.normal(0, 1e-4, (5, 3, 32, 32))), _const("wk", RNG.normal(0, 1e-4, (3 * J, 3, 32, 32))),
             _const("sd", [1, 5, n], np.int64), _const("sk", [1, 3 * J, n], np.int64),
             _const("sk4", [1, n, J, 3], np.int64), _const("scale_d", [640, 640, 640, 640, 1]),
             _const("scale_k", [640, 640, 1])]
    return _save(path, nodes, [_vi("input", [1, 3, 640, 640])],
                 [_vi("dets", [1, n, 5]), _vi("keypoints", [1, n, J, 3])], inits)


class Recording:
    """Backend wrapper that keeps every input it was given."""

    def __init__(self, inner):
        self.inner = inner
        self.input_specs = inner.input_specs
        self.output_specs = inner.output_specs
        self.output_names = inner.output_names
        self.calls = []

    def infer(self, inputs):
        self.calls.append({k: np.array(v) for k, v in inputs.items()})
        return self.inner.infer(inputs)


def frame(h, w, bgr=(0, 0, 0)):
    return np.full((h, w, 3), bgr, np.uint8)


# ------------------------------------------------------------------------------------------------ YOLO-pose

def _kpts(x0, y0, dx, dy, conf):
    j = np.arange(J, dtype=np.float32)
    return np.stack([x0 + dx * j, y0 + dy * j, np.full(J, conf, np.float32) + 0.01 * j], axis=1)


YOLO_PEOPLE = {   # input pixels of a 640x640 model: cx, cy, w, h, score, keypoints
    "a": (200, 300, 100, 200, 0.90, _kpts(160, 40, 4, 16, 0.50)),     # keypoint 0 in the top pad: clipped to y 0
    "a_dup": (205, 305, 100, 200, 0.85, _kpts(161, 41, 4, 16, 0.50)),  # IoU with a: 0.86 -> suppressed
    "b": (450, 320, 120, 220, 0.80, _kpts(400, 230, 5, 9, 0.70)),
    "c": (100, 100, 50, 50, 0.10, _kpts(90, 90, 1, 1, 0.90)),          # below the score threshold
}


def _yolo_rows():
    rows = np.zeros((8, 5 + 3 * J), np.float32)
    for i, (cx, cy, w, h, s, k) in enumerate(YOLO_PEOPLE.values()):
        rows[i, :5] = cx, cy, w, h, s
        rows[i, 5:] = k.reshape(-1)
    rows[2, 5 + 3 * 16] = 700      # b's last keypoint right of the input: clipped to the frame's width
    return rows


@pytest.fixture
def yolo_const(tmp_path):
    return constant_model(tmp_path / "yolo.onnx", "images", [1, 3, 640, 640], {"output0": _yolo_rows().T[None]})


def _expected_yolo(name):
    # 320x240 frame -> 640x640 input: scale 2, image 640x480 centred with 80 pad rows on top.
    cx, cy, w, h, s, k = YOLO_PEOPLE[name]
    k = k.copy()
    if name == "b":
        k[16, 0] = 700
    xy = np.stack([k[:, 0] / 2, (k[:, 1] - 80) / 2], axis=1)
    xy = np.clip(xy, 0, [320, 240])
    box = np.clip([(cx - w / 2) / 2, (cy - h / 2 - 80) / 2, (cx + w / 2) / 2, (cy + h / 2 - 80) / 2], 0, [320, 240] * 2)
    return xy, k[:, 2], box, s


def _check_person(p, name, expected):
    xy, conf, box, s = expected(name)
    assert isinstance(p, Person) and p.layout == "coco17" and p.track_id == -1 and p.world is None
    assert p.keypoints.dtype == np.float32 and p.keypoints.shape == (J, 2)
    np.testing.assert_allclose(p.keypoints, xy, atol=1e-4)
    np.testing.assert_allclose(p.scores, conf, atol=1e-6)
    np.testing.assert_allclose(p.box, box, atol=1e-4)
    assert p.score == pytest.approx(s, abs=1e-6)


@pytest.mark.parametrize("transposed", [False, True])
def test_yolo_decodes_letterbox_nms_threshold_and_clip(tmp_path, transposed):
    rows = _yolo_rows()
    out = rows[None] if transposed else rows.T[None]
    path = constant_model(tmp_path / "yolo.onnx", "images", [1, 3, 640, 640], {"output0": out})
    people = YoloPoseAdapter(OrtBackend(path), YoloPoseConfig())(frame(240, 320))
    assert len(people) == 2                      # duplicate suppressed, low score dropped
    _check_person(people[0], "a", _expected_yolo)
    _check_person(people[1], "b", _expected_yolo)
    assert people[0].keypoints[0, 1] == 0.0 and people[1].keypoints[16, 0] == 320.0   # clipped


def test_yolo_config_thresholds(yolo_const):
    backend = OrtBackend(yolo_const)
    img = frame(240, 320)
    assert [p.score for p in YoloPoseAdapter(backend, YoloPoseConfig(score_threshold=0.82))(img)] == \
        pytest.approx([0.90])
    assert len(YoloPoseAdapter(backend, YoloPoseConfig(max_people=1))(img)) == 1
    kept = YoloPoseAdapter(backend, YoloPoseConfig(iou_threshold=0.9))(img)     # the duplicate now survives
    assert [p.score for p in kept] == pytest.approx([0.90, 0.85, 0.80])
    assert len(YoloPoseAdapter(backend, YoloPoseConfig(score_threshold=0.05))(img)) == 3   # c, after NMS


def test_yolo_preprocess_rgb_scaled_and_padded(yolo_const):
    rec = Recording(OrtBackend(yolo_const))
    YoloPoseAdapter(rec)(frame(240, 320, bgr=(10, 20, 30)))
    (x,) = rec.calls[0].values()
    assert x.shape == (1, 3, 640, 640) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, :80], 114 / 255, atol=1e-6)            # pad above
    np.testing.assert_allclose(x[0, :, 560:], 114 / 255, atol=1e-6)           # pad below
    np.testing.assert_allclose(x[0, :, 80:560].reshape(3, -1).mean(1), np.float32([30, 20, 10]) / 255, atol=1e-6)


def test_yolo_dynamic_input_uses_config_size(tmp_path):
    path = constant_model(tmp_path / "yolo_dyn.onnx", "images", [1, 3, "h", "w"], {"output0": _yolo_rows().T[None]},
                          declared={"output0": [1, 56, 8]})
    rec = Recording(OrtBackend(path))
    YoloPoseAdapter(rec)(frame(240, 320))
    assert rec.calls[-1]["images"].shape == (1, 3, 640, 640)
    YoloPoseAdapter(rec, YoloPoseConfig(input_size=(320, 416)))(frame(240, 320))
    assert rec.calls[-1]["images"].shape == (1, 3, 320, 416)


def test_yolo_random_weights_end_to_end(tmp_path):
    backend = OrtBackend(yolo_random_model(tmp_path / "yolo_rand.onnx"))
    img = RNG.integers(0, 256, (360, 480, 3), dtype=np.uint8)
    people = YoloPoseAdapter(backend, YoloPoseConfig(max_people=5))(img)
    assert 1 <= len(people) <= 5
    scores = [p.score for p in people]
    assert scores == sorted(scores, reverse=True)
    for p in people:
        assert p.keypoints.shape == (J, 2) and p.scores.shape == (J,) and p.box.shape == (4,)
        assert np.isfinite(p.keypoints).all() and (p.keypoints >= 0).all()
        assert (p.keypoints <= [480, 360]).all() and (p.scores >= 0).all() and (p.scores <= 1).all()


def test_yolo_contract_mismatches(tmp_path):
    rows = _yolo_rows().T[None]
    wrong_name = constant_model(tmp_path / "a.onnx", "input", [1, 3, 640, 640], {"output0": rows})
    with pytest.raises(InputError, match="no input named 'images'"):
        YoloPoseAdapter(OrtBackend(wrong_name))
    four_channels = constant_model(tmp_path / "b.onnx", "images", [1, 4, 640, 640], {"output0": rows})
    with pytest.raises(InputError, match=r"input 'images' has shape \[1, 4, 640, 640\]"):
        YoloPoseAdapter(OrtBackend(four_channels))
    wrong_out = constant_model(tmp_path / "c.onnx", "images", [1, 3, 640, 640],
                               {"output0": np.zeros((1, 57, 8), np.float32)})
    with pytest.raises(InputError, match=r"output 'output0' has shape \[1, 57, 8\]"):
        YoloPoseAdapter(OrtBackend(wrong_out))
    other_out = constant_model(tmp_path / "d.onnx", "images", [1, 3, 640, 640], {"preds": rows})
    with pytest.raises(InputError, match="missing output"):
        YoloPoseAdapter(OrtBackend(other_out))
    fixed = constant_model(tmp_path / "e.onnx", "images", [1, 3, 640, 640], {"output0": rows})
    with pytest.raises(InputError, match="640, 640"):
        YoloPoseAdapter(OrtBackend(fixed), YoloPoseConfig(input_size=(320, 320)))
    batch4 = constant_model(tmp_path / "f.onnx", "images", [4, 3, 640, 640], {"output0": rows})
    with pytest.raises(InputError, match="batch 4"):
        YoloPoseAdapter(OrtBackend(batch4))


def test_yolo_rejects_bad_frames_and_configs(yolo_const):
    adapter = YoloPoseAdapter(OrtBackend(yolo_const))
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((10, 10, 4), np.uint8)):
        with pytest.raises(InputError, match="HxWx3 uint8"):
            adapter(bad)
    for kw in ({"score_threshold": 1.5}, {"max_people": 0}, {"pad_value": 300}, {"input_size": (0, 640)},
               {"layout": "nope"}):
        with pytest.raises(InputError):
            YoloPoseConfig(**kw)


# ------------------------------------------------------------------------------------------------ helpers

def test_nms_and_letterbox():
    boxes = np.float32([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]])
    scores = np.float32([0.5, 0.9, 0.7, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]      # box 1 (IoU 0.68 with 0 and 3) wins
    assert nms(boxes, scores, 0.7).tolist() == [1, 2, 0]   # 0 vs 1 under 0.7; 3 equals 0 (IoU 1)
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    img, lb = letterbox(frame(100, 50, (1, 2, 3)), (64, 64), 114, center=True)
    assert img.shape == (64, 64, 3) and (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y) == (0.64, 0.64, 16, 0)
    assert (img[:, :16] == 114).all() and (img[:, 16:48] == [1, 2, 3]).all() and (img[:, 48:] == 114).all()
    np.testing.assert_allclose(lb.to_original([[16, 0], [48, 64]]), [[0, 0], [50, 100]], atol=1e-5)
    _, lb = letterbox(frame(100, 50), (64, 64), 114, center=False)
    assert (lb.pad_x, lb.pad_y) == (0, 0)


def test_registry_and_protocol(yolo_const):
    assert set(ADAPTERS) == {"yolo_pose", "rtmpose", "rtmo"}
    assert isinstance(OrtBackend(yolo_const), InferenceBackend)


# ------------------------------------------------------------------------------------------------ RTMPose

def _simcc(bins, peaks, length, base=-1.0):
    out = np.full((1, J, length), base, np.float32)
    out[0, np.arange(J), bins] = peaks
    return out


def test_rtmpose_constant_peaks_map_back_through_the_box(tmp_path):
    # Peaks at known bins: keypoint j at input (u, v) = (bins_x / 2, bins_y / 2).
    bins_x = np.linspace(0, 382, J).astype(int)
    bins_y = np.linspace(510, 0, J).astype(int)
    peak_x = np.linspace(0.2, 1.4, J).astype(np.float32)
    peak_y = np.linspace(0.9, 0.5, J).astype(np.float32)
    peak_x[3] = peak_y[3] = -0.5                             # no response at all: score 0
    path = constant_model(tmp_path / "rtmpose.onnx", "input", [1, 3, 256, 192],
                          {"simcc_x": _simcc(bins_x, peak_x, 384), "simcc_y": _simcc(bins_y, peak_y, 512)})
    box = np.float32([[100, 50, 220, 210, 0.8]])           # 120 x 160 box, centre (160, 130)
    adapter = RTMPoseAdapter(OrtBackend(path), RTMPoseConfig(), detector=lambda f: box)
    (p,) = adapter(frame(300, 400))
    # Padded by 1.25: 150 x 200, which already has the input's 3:4 aspect, so it spans the whole 192 x 256 input:
    # left edge x = 160 - 75 = 85, top y = 130 - 100 = 30, 150/192 frame pixels per input pixel.
    u, v = bins_x / 2, bins_y / 2
    np.testing.assert_allclose(p.keypoints, np.stack([85 + u * 150 / 192, 30 + v * 200 / 256], 1), atol=1e-3)
    want = np.clip(np.minimum(peak_x, peak_y), 0, 1)         # MMPose: the smaller maximum
    np.testing.assert_allclose(p.scores, want, atol=1e-6)
    assert p.scores[3] == 0 and p.score == pytest.approx(0.8)
    np.testing.assert_allclose(p.box, box[0, :4])
    (p_max,) = RTMPoseAdapter(OrtBackend(path), RTMPoseConfig(score_mode="max"), detector=lambda f: box)(
        frame(300, 400))
    np.testing.assert_allclose(p_max.scores, np.clip(np.maximum(peak_x, peak_y), 0, 1), atol=1e-6)


def test_rtmpose_wide_box_and_whole_frame(tmp_path):
    # A box wider than 3:4 is heightened: 200 x 50 -> padded 250 x 62.5 -> 250 x 333.3 around the centre.
    bins = np.full(J, 0)
    path = constant_model(tmp_path / "rtmpose.onnx", "input", [1, 3, 256, 192],
                          {"simcc_x": _simcc(bins, 1.0, 384), "simcc_y": _simcc(bins, 1.0, 512)})
    (p,) = RTMPoseAdapter(OrtBackend(path), detector=lambda f: [[0, 100, 200, 150]])(frame(300, 400))
    np.testing.assert_allclose(p.keypoints[0], [100 - 125, 125 - 250 * 4 / 3 / 2], atol=1e-3)
    (whole,) = RTMPoseAdapter(OrtBackend(path))(frame(300, 400))    # no detector: the whole frame, score 1
    np.testing.assert_allclose(whole.box, [0, 0, 400, 300])
    assert whole.score == 1.0
    # Whole frame 400 x 300 padded: 500 x 375 -> 500 x 666.7 (3:4), centred on (200, 150).
    np.testing.assert_allclose(whole.keypoints[0], [200 - 250, 150 - 500 * 4 / 3 / 2], atol=1e-3)


def _dot_box(cx, cy, k=1.0):
    """A box whose padded, aspect-fixed region is exactly 192/k x 256/k around (cx, cy)."""
    w, h = 192 / k / 1.25, 256 / k / 1.25
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_rtmpose_warp_round_trip_finds_a_bright_dot(tmp_path):
    backend = OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx"))
    img = frame(480, 640)
    img[200, 300] = 255
    (p,) = RTMPoseAdapter(backend, detector=lambda f: [_dot_box(290, 210)])(img)   # scale 1, integer shift
    np.testing.assert_array_equal(p.keypoints, np.tile([300, 200], (J, 1)))
    yy, xx = np.mgrid[:480, :640]
    blob = 255 * np.exp(-((xx - 300) ** 2 + (yy - 200) ** 2) / (2 * 3.0 ** 2))     # Gaussian peak at (300, 200)
    img = np.repeat(blob[:, :, None], 3, axis=2).astype(np.uint8)
    (p,) = RTMPoseAdapter(backend, detector=lambda f: [_dot_box(311, 187, k=0.5)])(img)
    # At half scale the peak falls between two input pixels (90.5, 134.5): one input pixel is 2 frame pixels.
    assert np.abs(p.keypoints - [300, 200]).max() <= 1.0 + 1e-4


@pytest.mark.parametrize("batch, calls", [(1, 3), (2, 2), ("batch", 1)])
def test_rtmpose_batches(tmp_path, batch, calls):
    rec = Recording(OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx", batch=batch)))
    img = frame(480, 640)
    centres = [(100, 120), (320, 240), (520, 380)]
    for x, y in centres:
        img[y, x] = 255
    boxes = np.float32([_dot_box(x + 7, y - 5) + [s] for (x, y), s in zip(centres, (0.5, 0.9, 0.7))])
    people = RTMPoseAdapter(rec, detector=lambda f: boxes)(img)
    assert len(rec.calls) == calls
    assert [p.score for p in people] == pytest.approx([0.9, 0.7, 0.5])          # best box first
    for p, i in zip(people, (1, 2, 0)):
        np.testing.assert_array_equal(p.keypoints, np.tile(centres[i], (J, 1)))
    assert len(RTMPoseAdapter(rec, RTMPoseConfig(max_people=2), detector=lambda f: boxes)(img)) == 2


def test_rtmpose_detector_edge_cases(tmp_path):
    backend = OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx"))
    img = frame(100, 100)
    assert RTMPoseAdapter(backend, detector=lambda f: np.zeros((0, 4)))(img) == []
    assert RTMPoseAdapter(backend, detector=lambda f: [[10, 10, 10, 50]])(img) == []      # empty box dropped
    with pytest.raises(InputError, match=r"\(M, 4\) or \(M, 5\)"):
        RTMPoseAdapter(backend, detector=lambda f: np.zeros((2, 3)))(img)


def test_rtmpose_normalisation(tmp_path):
    rec = Recording(OrtBackend(rtmpose_dot_model(tmp_path / "dot.onnx")))
    RTMPoseAdapter(rec)(frame(256, 192, bgr=(200, 100, 50)))   # whole frame, padded by 1.25: crop scale 0.8
    x = rec.calls[0]["input"][0]
    # The crop's centre is image content, RGB (50, 100, 200) normalised; its corner lies outside the frame: black.
    np.testing.assert_allclose(x[:, 128, 96], (np.float32([50, 100, 200]) - [123.675, 116.28, 103.53])
                               / [58.395, 57.12, 57.375], atol=1e-4)
    np.testing.assert_allclose(x[:, 0, 0], -np.float32([123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375],
                               atol=1e-4)


def test_rtmpose_random_weights_end_to_end(tmp_path):
    backend = OrtBackend(rtmpose_random_model(tmp_path / "rtmpose_rand.onnx"))
    img = RNG.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    (p,) = RTMPoseAdapter(backend)(img)
    assert p.keypoints.shape == (J, 2) and p.keypoints.dtype == np.float32 and p.scores.dtype == np.float32
    # Keypoints lie inside the padded whole-frame region: 400 x 300 -> 400 x 533.3 around (160, 120).
    assert (p.keypoints[:, 0] >= -40).all() and (p.keypoints[:, 0] <= 360).all()
    assert (p.keypoints[:, 1] >= 120 - 267).all() and (p.keypoints[:, 1] <= 120 + 267).all()
    assert ((p.scores >= 0) & (p.scores <= 1)).all()


def test_rtmpose_contract_mismatches(tmp_path):
    sx, sy = _simcc(np.zeros(J, int), 1.0, 384), _simcc(np.zeros(J, int), 1.0, 512)
    small = constant_model(tmp_path / "a.onnx", "input", [1, 3, 224, 224], {"simcc_x": sx, "simcc_y": sy})
    with pytest.raises(InputError, match=r"input 'input' has shape \[1, 3, 224, 224\], expected \[1, 3, 256, 192\]"):
        RTMPoseAdapter(OrtBackend(small))
    wrong_len = constant_model(tmp_path / "b.onnx", "input", [1, 3, 256, 192],
                               {"simcc_x": sx[:, :, :300], "simcc_y": sy})
    with pytest.raises(InputError, match=r"output 'simcc_x' has shape \[1, 17, 300\]"):
        RTMPoseAdapter(OrtBackend(wrong_len))
    wrong_j = constant_model(tmp_path / "c.onnx", "input", [1, 3, 256, 192],
                             {"simcc_x": np.zeros((1, 133, 384)), "simcc_y": np.zeros((1, 133, 512))})
    with pytest.raises(InputError, match="simcc_x"):
        RTMPoseAdapter(OrtBackend(wrong_j))
    with pytest.raises(InputError, match="score_mode"):
        RTMPoseConfig(score_mode="sum")


def test_rtmpose_input_size_override(tmp_path):
    sx, sy = _simcc(np.full(J, 288), 1.0, 576), _simcc(np.full(J, 384), 1.0, 768)
    path = constant_model(tmp_path / "m.onnx", "input", [1, 3, 384, 288], {"simcc_x": sx, "simcc_y": sy})
    with pytest.raises(InputError, match="set input_size"):
        RTMPoseAdapter(OrtBackend(path))
    (p,) = RTMPoseAdapter(OrtBackend(path), RTMPoseConfig(input_size=(384, 288)),
                          detector=lambda f: [[100, 50, 220, 210]])(frame(300, 400))
    np.testing.assert_allclose(p.keypoints[0], [160, 130], atol=1e-3)              # input centre -> box centre


# ------------------------------------------------------------------------------------------------ RTMO

RTMO_DETS = np.float32([
    [100, 150, 200, 400, 0.90],
    [102, 152, 202, 402, 0.80],    # duplicate of the first
    [300, 100, 420, 380, 0.70],
    [500, 500, 550, 560, 0.20],    # below threshold
    [0, 0, 0, 0, 0.0],
    [0, 0, 0, 0, 0.0],
])


def _rtmo_kpts():
    k = np.zeros((6, J, 3), np.float32)
    for i, (x1, y1, x2, y2, _) in enumerate(RTMO_DETS[:4]):
        k[i] = _kpts(x1 + 5, y1 + 10, 3, 12, 0.6)
    k[0, 0, 1] = 30       # in the top pad when centred
    k[2, 5, 2] = 1.7      # score out of range: clipped to 1
    return k


@pytest.fixture
def rtmo_const(tmp_path):
    return constant_model(tmp_path / "rtmo.onnx", "input", [1, 3, 640, 640],
                          {"dets": RTMO_DETS[None], "keypoints": _rtmo_kpts()[None]})


@pytest.mark.parametrize("pad_mode, pad_y", [("center", 80), ("top_left", 0)])
def test_rtmo_decodes_threshold_nms_and_letterbox(rtmo_const, pad_mode, pad_y):
    people = RTMOAdapter(OrtBackend(rtmo_const), RTMOConfig(pad_mode=pad_mode))(frame(480, 640))
    assert [p.score for p in people] == pytest.approx([0.9, 0.7])
    k = _rtmo_kpts()
    for p, i in zip(people, (0, 2)):
        want = np.clip(k[i, :, :2] - [0, pad_y], 0, [640, 480])
        np.testing.assert_allclose(p.keypoints, want, atol=1e-4)
        np.testing.assert_allclose(p.scores, np.clip(k[i, :, 2], 0, 1), atol=1e-6)
        np.testing.assert_allclose(p.box, np.clip(RTMO_DETS[i, :4] - [0, pad_y, 0, pad_y], 0, [640, 480] * 2))
    assert people[1].scores[5] == 1.0
    if pad_y:
        assert people[0].keypoints[0, 1] == 0.0


def test_rtmo_config_thresholds(rtmo_const):
    backend = OrtBackend(rtmo_const)
    img = frame(480, 640)
    assert [p.score for p in RTMOAdapter(backend, RTMOConfig(nms_iou=None))(img)] == pytest.approx([0.9, 0.8, 0.7])
    assert [p.score for p in RTMOAdapter(backend, RTMOConfig(score_threshold=0.1))(img)] == \
        pytest.approx([0.9, 0.7, 0.2])
    assert len(RTMOAdapter(backend, RTMOConfig(max_people=1))(img)) == 1


def test_rtmo_scaled_frame(rtmo_const):
    # 1280 x 960 -> scale 0.5, 640 x 480 centred (80 pad rows): original = (x, y - 80) * 2.
    (p, _) = RTMOAdapter(OrtBackend(rtmo_const))(frame(960, 1280))
    np.testing.assert_allclose(p.box, [200, 140, 400, 640], atol=1e-3)


@pytest.mark.parametrize("order, first", [("bgr", 10), ("rgb", 30)])
def test_rtmo_preprocess_raw_pixels(rtmo_const, order, first):
    rec = Recording(OrtBackend(rtmo_const))
    RTMOAdapter(rec, RTMOConfig(channel_order=order, pad_mode="top_left"))(frame(480, 640, bgr=(10, 20, 30)))
    x = rec.calls[0]["input"]
    assert x.shape == (1, 3, 640, 640) and x.dtype == np.float32
    assert (x[0, 0, :480] == first).all() and (x[0, 1, :480] == 20).all()
    assert (x[0, :, 480:] == 114).all()           # pad at the bottom, raw 0..255 scale


def test_rtmo_random_weights_end_to_end(tmp_path):
    backend = OrtBackend(rtmo_random_model(tmp_path / "rtmo_rand.onnx"))
    img = RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    people = RTMOAdapter(backend, RTMOConfig(score_threshold=0.0, nms_iou=None, max_people=7))(img)
    assert len(people) == 7
    for p in people:
        assert p.keypoints.shape == (J, 2) and p.keypoints.dtype == np.float32 and p.box.dtype == np.float32
        assert ((p.keypoints >= 0) & (p.keypoints <= [640, 480])).all()
        assert ((p.scores >= 0) & (p.scores <= 1)).all()


def test_rtmo_contract_mismatches(tmp_path):
    kp = _rtmo_kpts()[None]
    bad_kpts = constant_model(tmp_path / "a.onnx", "input", [1, 3, 640, 640],
                              {"dets": RTMO_DETS[None], "keypoints": kp[..., :2]})
    with pytest.raises(InputError, match=r"output 'keypoints' has shape \[1, 6, 17, 2\]"):
        RTMOAdapter(OrtBackend(bad_kpts))
    bad_size = constant_model(tmp_path / "b.onnx", "input", [1, 3, 416, 416],
                              {"dets": RTMO_DETS[None], "keypoints": kp})
    with pytest.raises(InputError, match=r"expected \[1, 3, 640, 640\]"):
        RTMOAdapter(OrtBackend(bad_size))
    assert RTMOAdapter(OrtBackend(bad_size), RTMOConfig(input_size=(416, 416))).input_hw == (416, 416)
    with pytest.raises(InputError, match="pad_mode"):
        RTMOConfig(pad_mode="bottom")


# ------------------------------------------------------------------------------------------------ backends

def test_ort_backend_specs_infer_and_dtype_checks(tmp_path, yolo_const):
    b = OrtBackend(yolo_const)
    assert b.provider == "CPUExecutionProvider" and b.providers == ("CPUExecutionProvider",)
    assert b.input_specs == {"images": ((1, 3, 640, 640), np.dtype(np.float32))}
    assert b.output_names == ["output0"] and b.output_specs["output0"][0] == (1, 56, 8)
    assert b.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    out = b.infer({"images": np.zeros((1, 3, 640, 640), np.float32)})
    np.testing.assert_allclose(out["output0"], _yolo_rows().T[None])
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


def test_person_validates_and_converts():
    p = Person(keypoints=np.zeros((J, 2)), scores=np.ones(J), layout="coco17", box=[0, 0, 1, 1], score=0.5)
    assert p.keypoints.dtype == np.float32 and p.box.dtype == np.float32 and p.num_joints == J
    with pytest.raises(InputError, match="scores"):
        Person(keypoints=np.zeros((J, 2)), scores=np.ones(J - 1), layout="coco17", box=[0, 0, 1, 1], score=0.5)
    with pytest.raises(InputError, match="world"):
        Person(np.zeros((J, 2)), np.ones(J), "coco17", np.zeros(4), 1.0, world=np.zeros((J, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p != Person(p.keypoints, p.scores, p.layout, p.box, p.score)   # identity, no array truthiness


def test_ort_backend_accepts_provider_options(yolo_const):
    b = OrtBackend(yolo_const, providers=[("CPUExecutionProvider", {})])
    assert b.provider == "CPUExecutionProvider" and b.requested_providers == ("CPUExecutionProvider",)
