"""The YOLO-pose adapter on ONNX stand-ins: letterbox, decoding, NMS, thresholds, clipping and contract checks."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.ort_backend import OrtBackend
from edge.pose.adapters.common import letterbox
from edge.pose.adapters.yolo_pose import YoloPoseAdapter, YoloPoseConfig
from edge.pose.types import Person
from onnx_stand_ins import (  # tests/ is on sys.path under pytest; skips this module without onnx/onnxruntime/cv2
    J, RNG, YOLO_PEOPLE, Recording, constant_model, frame, yolo_constant_model, yolo_random_model, yolo_rows,
)


@pytest.fixture
def yolo_const(tmp_path):
    return yolo_constant_model(tmp_path)


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
    rows = yolo_rows()
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
    # Every pixel of a noisy frame: channels swapped, letterboxed, each value scaled in float32 as pixel * (1/255).
    noisy = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    YoloPoseAdapter(rec)(noisy)
    (x,) = rec.calls[1].values()
    boxed, _ = letterbox(noisy, (640, 640), 114)
    np.testing.assert_array_equal(x[0], boxed[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))


def test_yolo_dynamic_input_uses_config_size(tmp_path):
    path = constant_model(tmp_path / "yolo_dyn.onnx", "images", [1, 3, "h", "w"], {"output0": yolo_rows().T[None]},
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
    rows = yolo_rows().T[None]
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
