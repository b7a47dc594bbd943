"""What the pose adapters share: NMS, letterbox, the Person type, and the one registry `open_estimator` builds
adapters from (by the command line's names)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.inference.ort_backend import OrtBackend
from edge.pose.adapters.common import letterbox, nms
from edge.pose.adapters.registry import ADAPTERS
from edge.pose.adapters.rtmo import RTMOAdapter
from edge.pose.adapters.rtmpose import RTMPoseAdapter
from edge.pose.adapters.yolo_pose import YoloPoseAdapter
from edge.pose.estimator import EstimatorSpec, open_estimator
from edge.pose.types import Person
from onnx_stand_ins import (  # tests/ is on sys.path under pytest; skips this module without onnx/onnxruntime/cv2
    J, frame, rtmo_random_model, rtmpose_dot_model, yolo_constant_model,
)


@pytest.fixture
def yolo_const(tmp_path):
    return yolo_constant_model(tmp_path)


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
    assert list(ADAPTERS) == ["yolo-pose", "rtmpose", "rtmo"]      # the command line's names, in its order
    assert {name: choice.adapter for name, choice in ADAPTERS.items()} == {
        "yolo-pose": YoloPoseAdapter, "rtmpose": RTMPoseAdapter, "rtmo": RTMOAdapter}
    assert isinstance(OrtBackend(yolo_const), InferenceBackend)


def _user_model_estimator(model, adapter, max_people):
    return open_estimator(EstimatorSpec(model=str(model), adapter=adapter, backend="onnxruntime",
                                        max_people=max_people))


def test_open_estimator_builds_each_adapter_from_the_registry(tmp_path, yolo_const):
    yolo = _user_model_estimator(yolo_const, "yolo-pose", 2)
    assert (yolo.layout, yolo.keypoints_3d, yolo.runtime) == ("coco17", False, "CPUExecutionProvider")
    assert [p.track_id for p in yolo(frame(240, 320), 0.0)] == [0, 1]          # IouTracker gives the ids
    assert len(_user_model_estimator(yolo_const, "yolo-pose", 1)(frame(240, 320), 0.0)) == 1
    with pytest.raises(InputError, match="max_people"):
        _user_model_estimator(yolo_const, "yolo-pose", 0)
    rtmo = _user_model_estimator(rtmo_random_model(tmp_path / "rtmo.onnx"), "rtmo", 2)
    assert (rtmo.layout, rtmo.keypoints_3d) == ("coco17", False)
    assert [p.track_id for p in rtmo(frame(480, 640), 0.0)] == [0, 1]
    rtmpose = _user_model_estimator(rtmpose_dot_model(tmp_path / "dot.onnx"), "rtmpose", 3)
    assert (rtmpose.layout, rtmpose.keypoints_3d) == ("coco17", False)
    (person,) = rtmpose(frame(300, 400), 0.0)                                   # no detector: the whole frame
    assert person.track_id == 0 and person.layout == "coco17"
    for wrong in (None, "yolo_pose"):
        with pytest.raises(InputError, match="needs --adapter, one of: yolo-pose, rtmpose, rtmo"):
            _user_model_estimator(yolo_const, wrong, 1)


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
