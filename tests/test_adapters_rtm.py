"""The MMPose adapters on ONNX stand-ins: RTMPose (detector boxes, affine crops, SimCC decoding, batching) and RTMO
(letterbox, thresholds, NMS, channel order), each with its contract checks."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.ort_backend import OrtBackend
from edge.pose.adapters.rtmo import RTMOAdapter, RTMOConfig
from edge.pose.adapters.rtmpose import RTMPoseAdapter, RTMPoseConfig
from onnx_stand_ins import (  # tests/ is on sys.path under pytest; skips this module without onnx/onnxruntime/cv2
    J, RNG, Recording, constant_model, frame, keypoint_line, rtmo_random_model, rtmpose_dot_model,
    rtmpose_random_model,
)


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
        k[i] = keypoint_line(x1 + 5, y1 + 10, 3, 12, 0.6)
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
