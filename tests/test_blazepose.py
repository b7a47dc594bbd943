"""BlazePose on ONNX Runtime: the numpy pieces on synthetic data, the whole pipeline on real footage against
MediaPipe 0.10.21's own output (tests/data/mediapipe_reference.npz, made by benchmarks/mediapipe_reference.py)."""

import math
from pathlib import Path

import numpy as np
import pytest

from edge.errors import InputError
from edge.pose.blazepose import (
    BlazePose, BlazePoseConfig, Roi, crop_roi, decode_detections, refine_with_heatmap, roi_from_points, ssd_anchors,
    weighted_nms,
)

LIMBS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # shoulders, elbows, wrists, hips, knees, ankles
REFERENCE = Path(__file__).parent / "data" / "mediapipe_reference.npz"


# ------------------------------------------------------------------------------------------- numpy pieces
def test_anchor_grid():
    anchors = ssd_anchors()
    assert anchors.shape == (2254, 2)
    # Stride 8: 28x28 cells, 2 anchors each; stride 16: 14x14 x 2; the three stride-32 layers: 7x7 x 6.
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[1568 + 392], [0.5 / 7, 0.5 / 7])
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_decode_detections_offsets_from_anchor():
    raw = np.zeros((1, 2254, 12), np.float32)
    logits = np.full((1, 2254, 1), -10.0, np.float32)
    i = 1568 + 2 * (14 * 3 + 5)  # stride-16 cell (row 3, col 5)
    raw[0, i] = [11.2, -5.6, 44.8, 67.2, 2.24, 4.48, 0, 0, 0, 0, 0, 0]
    logits[0, i] = 3.0
    boxes, kps, scores = decode_detections(raw, logits, 0.5)
    assert boxes.shape == (1, 4) and kps.shape == (1, 4, 2)
    anchor = np.array([5.5 / 14, 3.5 / 14])
    np.testing.assert_allclose(boxes[0], [anchor[0] + 0.05, anchor[1] - 0.025, 0.2, 0.3], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], anchor + [0.01, 0.02], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1], anchor, atol=1e-6)
    assert scores[0] == pytest.approx(1 / (1 + math.exp(-3.0)))


def test_weighted_nms_merges_overlaps_and_keeps_the_rest():
    boxes = np.array([[0.5, 0.5, 0.2, 0.2], [0.52, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]])
    kps = np.zeros((3, 4, 2))
    kps[:, 0, 0] = [0.5, 0.52, 0.1]
    scores = np.array([0.6, 0.9, 0.8])
    out_boxes, out_kps, out_scores = weighted_nms(boxes, kps, scores, 0.3)
    assert len(out_scores) == 2
    np.testing.assert_allclose(out_scores, [0.9, 0.8])
    expected_x = (0.52 * 0.9 + 0.5 * 0.6) / 1.5  # score-weighted mean of the overlapping pair
    assert out_boxes[0, 0] == pytest.approx(expected_x) and out_kps[0, 0, 0] == pytest.approx(expected_x)
    np.testing.assert_allclose(out_boxes[1], boxes[2])


def test_heatmap_refinement_centroid_threshold_and_edges():
    h = w = 64
    heat = np.full((h, w, 3), -20.0, np.float32)  # sigmoid(-20) ~ 0: no weight
    heat[30, 40, 0] = 20.0
    heat[30, 41, 0] = 20.0  # two equal peaks: centroid halfway between columns 40 and 41
    heat[10, 10, 1] = -0.5  # peak confidence sigmoid(-0.5) = 0.38 < 0.5: not refined
    heat[0, 0, 2] = 20.0
    xy = np.array([[41.2 / 64, 30.4 / 64], [10.3 / 64, 10.6 / 64], [1.5 / 64, 0.5 / 64]])
    out = refine_with_heatmap(xy, heat)
    np.testing.assert_allclose(out[0], [40.5 / 64, 30.0 / 64], atol=1e-6)
    np.testing.assert_allclose(out[1], xy[1])
    np.testing.assert_allclose(out[2], [0.0, 0.0], atol=1e-6)  # window clipped at the corner
    outside = refine_with_heatmap(np.array([[1.2, 0.5], [0.5, 0.5], [0.5, 0.5]]), heat)
    assert outside[0, 0] == pytest.approx(1.2)


def test_roi_from_points_size_and_rotation():
    up = roi_from_points(np.array([100.0, 200.0]), np.array([100.0, 150.0]))
    assert (up.cx, up.cy, up.size, up.rotation) == pytest.approx((100.0, 200.0, 125.0, 0.0))
    right = roi_from_points(np.array([0.0, 0.0]), np.array([40.0, 0.0]))
    assert right.rotation == pytest.approx(math.pi / 2) and right.size == pytest.approx(100.0)


def test_tracking_roi_smoother_follows_mediapipe_one_euro():
    from edge.pose.blazepose import _AlignmentSmoother

    smoother = _AlignmentSmoother()
    still = np.array([[0.0, 0.0], [0.0, -100.0]])  # alignment square side 200 px
    np.testing.assert_array_equal(smoother(still, 1 / 30), still)
    np.testing.assert_array_equal(smoother(still, 2 / 30), still)
    moved = still + np.array([[20.0, 0.0], [0.0, 0.0]])
    out = smoother(moved, 3 / 30)
    # By hand: the object size is that of the new points, 2 x |(-20, -100)| = 203.96 px; speed 20 / 203.96 * 30 Hz
    # = 2.9418 /s; derivative alpha at 1 Hz = 0.17318 -> 0.50946 /s; cutoff 0.01 + 10 * 0.50946 = 5.1046 Hz ->
    # alpha 0.51669 -> 10.334 px of the 20 px step.
    assert out[0, 0] == pytest.approx(10.334, abs=1e-3)
    np.testing.assert_array_equal(out[1], still[1])
    assert smoother(moved, 3 / 30) is moved  # a repeated time cannot pace the filter: raw points pass through


def test_crop_and_inverse_map_round_trip():
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[120:124, 250:254] = 255  # a bright marker centred at (252, 122) in pixel-centre coordinates
    roi = Roi(cx=240.0, cy=140.0, size=120.0, rotation=math.radians(30))
    crop, to_frame = crop_roi(frame, roi, 256)
    ys, xs = np.nonzero(crop[:, :, 0] > 128)
    centre_crop = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    back = to_frame[:, :2] @ centre_crop + to_frame[:, 2]
    np.testing.assert_allclose(back, [252.0, 122.0], atol=0.6)
    black, _ = crop_roi(frame, Roi(0.0, 0.0, 100.0, 0.0), 64, replicate_border=False)
    assert black[:20, :20].max() == 0


def test_crops_become_rgb_in_their_own_memory():
    from edge.pose.blazepose import _rgb

    crop = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    rgb = _rgb(crop)
    assert rgb.dtype == np.uint8 and rgb.shape == crop.shape and rgb.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(rgb, crop[..., ::-1])
    # The landmark model's input, scaled in one pass: the values of a float32 cast then a division, to the bit.
    np.testing.assert_array_equal(np.divide(rgb, np.float32(255.0), dtype=np.float32),
                                  crop[..., ::-1].astype(np.float32) / 255.0)


# ------------------------------------------------------------------------------------------- real footage
def _reference(clip: str):
    ref = np.load(REFERENCE)
    return {k.split("/", 1)[1]: ref[k] for k in ref.files if k.startswith(clip + "/")}


def _limb_errors(person, ref_landmarks, ref_world):
    px = np.linalg.norm(person.keypoints[LIMBS] - ref_landmarks[LIMBS, :2], axis=1)
    world = np.linalg.norm(person.world[LIMBS] - ref_world[LIMBS], axis=1)
    return px, world


@pytest.mark.parametrize("name", ["messi5.jpg", "basketball1.png"])
def test_photos_match_mediapipe(blazepose, footage, name):
    import cv2

    frame = cv2.imread(str(footage / "opencv" / name))
    people = blazepose(frame)
    assert len(people) == 1
    p = people[0]
    assert p.keypoints.shape == (33, 2) and p.world.shape == (33, 3) and p.layout == "blazepose33"
    ref = _reference(Path(name).stem)
    px, world = _limb_errors(p, ref["image_landmarks"][0], ref["world_landmarks"][0])
    # Measured: 1.0 and 0.9 px median; world 0.5 and 0.3 cm.
    assert np.median(px) <= 3.0, px
    assert np.median(world) <= 0.03, world
    # Keypoints land on the person: inside MediaPipe's own keypoint box, grown by 10%.
    lo, hi = ref["image_landmarks"][0][:, :2].min(axis=0), ref["image_landmarks"][0][:, :2].max(axis=0)
    margin = 0.1 * (hi - lo)
    assert ((p.keypoints >= lo - margin) & (p.keypoints <= hi + margin)).all()


def _video(footage, clip):
    from edge.pose.frames import video_frames

    return [frame for _, _, frame, _ in video_frames(footage / "pose2sim" / f"{clip}.mp4")]


@pytest.mark.parametrize("clip", ["cam01", "cam03"])
def test_tracked_video_matches_mediapipe_video_mode(blazepose, footage, clip):
    frames = _video(footage, clip)
    assert len(frames) == 100
    ref = _reference(clip)
    pxs, worlds = [], []
    for i, frame in enumerate(frames):
        # MediaPipe's Python API clocks every process() call 33.333 ms apart, whatever the video's rate; the
        # tracking-ROI filter is paced by that clock, so the comparison uses the same one.
        people = blazepose(frame, (i + 1) / 30.0)
        assert len(people) == 1 and people[0].track_id == 0
        j = np.flatnonzero(ref["frame_index"] == i)
        if j.size:
            px, world = _limb_errors(people[0], ref["image_landmarks"][j[0]], ref["world_landmarks"][j[0]])
            pxs.append(px)
            worlds.append(world)
    # The detector ran once; every other frame was tracked from the previous landmarks.
    assert blazepose.stats.detector_runs == 1 and blazepose.stats.landmark_runs == 100
    # The model's output moves with its crop (MediaPipe's own static vs video mode differ by 5-9 px on these
    # frames), so this holds only because the tracking crops follow MediaPipe's smoothed ROI. Measured on the
    # fixture frames: 1.4 px / 0.6 cm (cam01), 2.0 px / 0.8 cm (cam03); the limits are 5 px and 3 cm.
    assert np.median(np.concatenate(pxs)) <= 3.0
    assert np.median(np.concatenate(worlds)) <= 0.015


def test_no_person_and_bad_frames(blazepose):
    assert blazepose(np.full((240, 320, 3), 127, np.uint8)) == []
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(InputError):
            blazepose(bad)


def test_two_people_side_by_side_get_two_tracks(blazepose_models, footage):
    from edge.inference.ort_backend import OrtBackend

    left, right = _video(footage, "cam01")[0], _video(footage, "cam03")[0]
    frame = np.concatenate([left, right], axis=1)  # two views of the demo person, one in each half
    pose = BlazePose(OrtBackend(blazepose_models[0]), OrtBackend(blazepose_models[1]), BlazePoseConfig(max_people=2))
    people = pose(frame)
    assert len(people) == 2 and {p.track_id for p in people} == {0, 1}
    centres = sorted(float(p.box[[0, 2]].mean()) for p in people)
    assert centres[0] < left.shape[1] < centres[1]
    again = pose(frame)  # both tracked: same ids, and no detector run while the house is full
    assert {p.track_id for p in again} == {0, 1} and pose.stats.detector_runs == 1
    single = BlazePose(OrtBackend(blazepose_models[0]), OrtBackend(blazepose_models[1]))
    assert len(single(frame)) == 1  # max_people=1 keeps the largest


def test_wrong_models_are_refused(blazepose_models, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from edge.inference.ort_backend import OrtBackend

    detector, landmarks = (OrtBackend(p) for p in blazepose_models)
    with pytest.raises(InputError, match="expects input shape"):
        BlazePose(landmarks, landmarks)  # the landmark model where the detector belongs
    # A model with the right name but the wrong input size.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input_1"], ["out"])], "g",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [1, 128, 128, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 128, 128, 3])])
    path = tmp_path / "small.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    with pytest.raises(InputError, match=r"\[1, 224, 224, 3\]"):
        BlazePose(OrtBackend(path), landmarks)
    with pytest.raises(InputError, match="max_people"):
        BlazePoseConfig(max_people=0)


def test_landmark_model_is_cut_to_the_outputs_used(blazepose_models):
    from edge.inference.ort_backend import OrtBackend

    full = OrtBackend(blazepose_models[1])
    cut = OrtBackend(blazepose_models[1])
    BlazePose(OrtBackend(blazepose_models[0]), cut)  # asks the backend for the four outputs it reads
    assert len(cut.output_names) == 4 and len(full.output_names) == 5
    assert "Identity_2" not in cut.output_names  # the segmentation head is gone
    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    a, b = full.infer({"input_1": x}), cut.infer({"input_1": x})
    assert set(b) == set(cut.output_names)
    for name in b:
        np.testing.assert_array_equal(a[name], b[name])
    with pytest.raises(InputError, match="no output named"):
        cut.use_outputs(["nope"])


def test_openvino_backend_matches_onnxruntime(blazepose_models, tmp_path):
    pytest.importorskip("openvino", reason="OpenVINO is installed on x86_64 only")
    from edge.inference.openvino_backend import OpenVinoBackend
    from edge.inference.ort_backend import OrtBackend

    rng = np.random.default_rng(1)
    for path, shape in zip(blazepose_models, [(1, 224, 224, 3), (1, 256, 256, 3)]):
        ort_b, ov_b = OrtBackend(path), OpenVinoBackend(path)
        assert ov_b.input_specs == ort_b.input_specs and ov_b.output_names == ort_b.output_names
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        name = next(iter(ort_b.input_specs))
        a, b = ort_b.infer({name: x}), ov_b.infer({name: x})
        for out in ort_b.output_names:
            assert b[out].shape == a[out].shape and b[out].dtype == np.float32
            # float32 in both: the same numbers to rounding, at most 4e-4 of the output's scale (in the segmentation
            # head's logits; 2e-6 for the landmarks). bf16, OpenVINO's own default on this CPU, is 25 units off.
            assert np.abs(b[out] - a[out]).max() <= 1e-3 * max(1.0, np.abs(a[out]).max()), out
        with pytest.raises(InputError, match="dtype float64"):
            ov_b.infer({name: x.astype(np.float64)})
    cut = OpenVinoBackend(blazepose_models[1])
    BlazePose(OpenVinoBackend(blazepose_models[0]), cut)
    assert len(cut.output_names) == 4 and "Identity_2" not in cut.output_names
    assert set(cut.infer({"input_1": x})) == set(cut.output_names)
    with pytest.raises(InputError, match="no output named"):
        cut.use_outputs(["nope"])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(InputError, match="cannot load ONNX model"):
        OpenVinoBackend(junk)
    with pytest.raises(InputError, match="not available here"):
        OpenVinoBackend(blazepose_models[0], device="NPU_THAT_IS_NOT_THERE")
    with pytest.raises(InputError, match="precision"):
        OpenVinoBackend(blazepose_models[0], precision="int4")


def test_landmark_calls_side_by_side_give_the_same_people(blazepose_models, footage):
    """A landmark backend that runs calls at once (`concurrency`) gets each track's crop from a thread pool; the
    people, ids and model-run counts are those of calls one after another."""
    import threading

    from edge.inference.ort_backend import OrtBackend

    class SideBySide(OrtBackend):  # ONNX Runtime's session.run may be called from several threads at once
        concurrency = 2

        def infer(self, inputs):
            threads.add(threading.current_thread().name)
            return super().infer(inputs)

    threads: set[str] = set()
    left, right = _video(footage, "cam01"), _video(footage, "cam03")
    frames = [np.concatenate([a, b], axis=1) for a, b in zip(left[:6], right[:6])]
    config = BlazePoseConfig(max_people=2)
    one_by_one = BlazePose(OrtBackend(blazepose_models[0]), OrtBackend(blazepose_models[1]), config)
    side_by_side = BlazePose(OrtBackend(blazepose_models[0]), SideBySide(blazepose_models[1]), config)
    for i, frame in enumerate(frames):
        expected, got = one_by_one(frame, i / 30), side_by_side(frame, i / 30)
        assert [p.track_id for p in got] == [p.track_id for p in expected] and len(got) == 2
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            np.testing.assert_array_equal(a.world, b.world)
    assert side_by_side.stats.landmark_runs == one_by_one.stats.landmark_runs == 2 * len(frames)
    assert len({t for t in threads if t.startswith("landmarks")}) == 2
