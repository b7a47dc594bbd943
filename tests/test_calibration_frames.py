"""BlazePose calibration from real frames (calibration/frames.py) and the INT8 recipe (calibration/pose_recipe.py):
the reader feeds exactly what the run feeds, digests follow content, and the recipe's INT8 graphs load, have the
promised form and stay close to FP32 on held-out real frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.errors import InputError

CAM01, CAM02, CAM04 = "pose2sim/cam01.mp4", "pose2sim/cam02.mp4", "pose2sim/cam04.mp4"


@pytest.fixture(scope="module")
def frames(footage, blazepose_models):
    """80 calibration crops (cam01 every 2nd frame, cam02's first 60%), 10 held-out crops from cam04."""
    from calibration.frames import ClipRange, FrameSpec, read_pose_frames

    spec = FrameSpec(footage=str(footage), calibration=(ClipRange(CAM01), ClipRange(CAM02, 0.0, 0.6)),
                     held_out=(ClipRange(CAM04, 0.0, 0.4, every=4),))
    return read_pose_frames(spec)


class _Spy:
    """Wraps a backend and keeps what BlazePose feeds it."""

    def __init__(self, backend):
        self.backend, self.seen = backend, []
        self.input_specs, self.output_specs = backend.input_specs, backend.output_specs
        self.output_names = backend.output_names

    def infer(self, inputs):
        self.seen.append({k: v.copy() for k, v in inputs.items()})
        return self.backend.infer(inputs)

    def use_outputs(self, names):
        self.backend.use_outputs(names)
        self.output_names = self.backend.output_names


def _run_clip(blazepose_models, path, frames: int):
    """The run's own path: BlazePose on FP32 ONNX Runtime over the clip's first frames, inputs recorded."""
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import BlazePose
    from edge.pose.frames import video_frames

    det, lm = (_Spy(OrtBackend(p, intra_op_threads=1)) for p in blazepose_models)
    pose = BlazePose(det, lm)
    people = []
    for index, time_s, frame, _ in video_frames(path):
        if index >= frames:
            break
        people.append(pose(frame, time_s))
    return det.seen, lm.seen, people


def test_crops_and_detector_inputs_equal_what_the_run_feeds(frames, footage, blazepose_models):
    _, lm_seen, _ = _run_clip(blazepose_models, footage / CAM01, 11)
    calib = frames.landmarks.feeds
    for k, index in enumerate(range(0, 11, 2)):  # cam01 is read first, one person per frame
        assert np.array_equal(calib[k]["input_1"], lm_seen[index]["input_1"])
    det_seen, lm_seen, _ = _run_clip(blazepose_models, footage / CAM04, 9)
    held = frames.held_out
    assert [o for o in held.landmark_origin[:3]] == [(CAM04, 0), (CAM04, 4), (CAM04, 8)]
    for k, index in enumerate((0, 4, 8)):
        assert np.array_equal(held.landmark_feeds[k]["input_1"], lm_seen[index]["input_1"])
    # The detector ran once, on frame 0: the reader's detector input for that frame is the same array.
    assert len(det_seen) == 1 and np.array_equal(held.detector_feeds[0]["input_1"], det_seen[0]["input_1"])
    assert held.landmark_feeds[0]["input_1"].shape == (1, 256, 256, 3)
    assert held.detector_feeds[0]["input_1"].dtype == np.float32


def test_held_out_affine_maps_crop_landmarks_to_the_runs_keypoints(frames, footage, blazepose_models):
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import refine_with_heatmap

    _, _, people = _run_clip(blazepose_models, footage / CAM04, 5)
    backend = OrtBackend(blazepose_models[1], intra_op_threads=1)
    out = backend.infer(frames.held_out.landmark_feeds[1])
    raw = out["Identity"].reshape(39, 5)
    xy = refine_with_heatmap(raw[:, :2] / 256, out["Identity_3"].reshape(64, 64, 39))[:33] * 256
    affine = frames.held_out.to_frame[1]
    np.testing.assert_allclose(xy @ affine[:, :2].T + affine[:, 2], people[4][0].keypoints, atol=0.01)


def test_digest_is_stable_and_follows_content(frames, footage):
    from calibration.frames import ClipRange, FrameSpec, read_pose_frames
    from calibration.readers import calibration_set

    feeds = frames.landmarks.feeds
    assert len(feeds) == 80 and frames.landmarks.real
    assert calibration_set(feeds, "again").digest == frames.landmarks.digest
    changed = [dict(f) for f in feeds]
    changed[40] = {"input_1": changed[40]["input_1"].copy()}
    changed[40]["input_1"][0, 100, 100, 0] += 1 / 255
    assert calibration_set(changed, "x").digest != frames.landmarks.digest
    assert calibration_set(feeds[::-1], "x").digest != frames.landmarks.digest
    assert frames.detector.digest != frames.landmarks.digest
    tiny = FrameSpec(footage=str(footage), calibration=(ClipRange(CAM04, 0.0, 0.05),),
                     held_out=(ClipRange(CAM04, 0.9, 1.0, every=5),))
    a, b = read_pose_frames(tiny), read_pose_frames(tiny)
    assert a.landmarks.digest == b.landmarks.digest and len(a.landmarks.feeds) == 3


def _shift_px(model_path, fp32_path, feeds, exact: bool = False) -> float:
    """Median landmark shift (crop px, refined as the run refines) of `model_path` against FP32: through ONNX
    Runtime as the run makes sessions, or with `exact` through the QDQ graph's own arithmetic (what TensorRT
    computes; the CPU's integer kernels not involved)."""
    from calibration.pose_stage import QdqReference
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import refine_with_heatmap

    def points(run, feed):
        out = run(feed)
        raw = next(v for v in out.values() if v.shape[1:] == (195,)).reshape(39, 5)
        heat = next(v for v in out.values() if v.shape[1:] == (64, 64, 39)).reshape(64, 64, 39)
        return refine_with_heatmap(raw[:, :2] / 256, heat)[:33] * 256

    def runner(path):
        if exact:
            reference = QdqReference(path)
            return lambda feed: reference.outputs([feed])[0]
        return OrtBackend(path, intra_op_threads=2).infer

    a, b = runner(fp32_path), runner(model_path)
    return float(np.median([np.linalg.norm(points(a, f) - points(b, f), axis=1) for f in feeds]))


def test_the_cpu_forms_weights_follow_the_cpu():
    from calibration.pose_recipe import PoseRecipe, cpu_weights

    # x86 without VNNI saturates uint8 x int8 sums at 16 bits: uint8 weights there; int8 with VNNI or off x86.
    assert cpu_weights("auto", "x86_64", frozenset({"avx2", "fma"})) == "uint8"
    assert cpu_weights("auto", "x86_64", frozenset({"avx2", "avx512_vnni"})) == "int8"
    assert cpu_weights("auto", "AMD64", frozenset({"avx_vnni"})) == "int8"
    assert cpu_weights("auto", "aarch64", frozenset()) == "int8"
    assert cpu_weights("int8_7bit", "x86_64", frozenset()) == "int8_7bit"  # a choice stands
    with pytest.raises(InputError, match="unknown weights 'int4'"):
        PoseRecipe("pose_landmark_full", weights="int4")


def test_recipe_int8_graphs_load_have_their_form_and_stay_close(frames, blazepose_models, tmp_path):
    import onnx
    from onnx import numpy_helper

    from calibration.pose_recipe import RECIPES, PoseRecipe, cpu_weights, prepare_fp32, quantize_pose_model
    from edge.device import cpu_facts
    from calibration.quantize import check_qdq

    fp32 = prepare_fp32(blazepose_models[1], PoseRecipe("pose_landmark_full"), tmp_path / "fp32.onnx")
    trt = quantize_pose_model(blazepose_models[1], frames.landmarks, RECIPES["landmarks_tensorrt"],
                              tmp_path / "lm_trt.onnx")
    cpu = quantize_pose_model(blazepose_models[1], frames.landmarks, RECIPES["landmarks_cpu"],
                              tmp_path / "lm_cpu.onnx")
    counts = check_qdq(trt)  # symmetric int8 everywhere, no quantized bias: TensorRT's parser form
    assert counts["QuantizeLinear"] > 50
    model = onnx.load(str(trt))
    assert len(model.graph.output) == 4  # the unused segmentation head is cut, as at run time
    producers = {o: n for n in model.graph.node for o in n.output}
    for name in ("conv_2d_3", "conv_2d_321"):  # kept in float: weights straight from an initializer
        node = next(n for n in model.graph.node if n.name == name)
        assert node.input[1] not in producers
    cpu_model = onnx.load(str(cpu))
    zero_points = {numpy_helper.to_array(t).dtype for t in cpu_model.graph.initializer
                   if t.name.endswith("_zero_point")}
    assert np.dtype(np.uint8) in zero_points  # asymmetric uint8 activations: the CPU form
    with pytest.raises(InputError):
        check_qdq(cpu)
    # Its weights as "auto" chose them for this CPU, said in the manifest; the TensorRT form's are int8 anyway.
    chosen = cpu_weights("auto", *cpu_facts())
    assert json.loads(cpu.with_suffix(".json").read_text())["weights"] == f"{chosen} symmetric per-channel"
    assert json.loads(cpu.with_suffix(".json").read_text())["weight_type"] == chosen
    assert json.loads(trt.with_suffix(".json").read_text())["weights"] == "int8 symmetric per-channel"
    quantized = [numpy_helper.to_array(t) for t in cpu_model.graph.initializer if t.name.endswith("_quantized")]
    assert {a.dtype for a in quantized if a.ndim == 4} == {np.dtype(chosen)}  # convolution weights (biases int32)
    # Measured on these 10 held-out cam04 crops (crop pixels): the TensorRT form 0.91 px by its QDQ arithmetic, the
    # CPU form (uint8 weights) 0.92 px through ONNX Runtime on an AVX2 CPU without VNNI, where int8 weights
    # saturate its integer kernels (the TensorRT form there: 1.83 px; the CPU form with int8 weights found no
    # person in the run). The bounds leave about 30-40 % for other CPUs' rounding. The issue's bar is 2 px.
    held = frames.held_out.landmark_feeds
    assert _shift_px(trt, fp32, held, exact=True) < 1.3
    assert _shift_px(cpu, fp32, held) < 1.2


def test_bad_input_is_one_clear_error(frames, footage, blazepose_models, tmp_path):
    from calibration.frames import ClipRange, FrameSpec, read_pose_frames
    from calibration.pose_recipe import RECIPES, PoseRecipe, quantize_pose_model
    from calibration.readers import calibration_set

    with pytest.raises(InputError, match="not within"):
        ClipRange(CAM01, 0.5, 0.2)
    with pytest.raises(InputError, match="overlap"):
        FrameSpec(calibration=(ClipRange(CAM01, 0.0, 0.6),), held_out=(ClipRange(CAM01, 0.5, 1.0),))
    with pytest.raises(InputError, match="not found"):
        read_pose_frames(FrameSpec(footage=str(footage), calibration=(ClipRange("nowhere.mp4"),)))
    with pytest.raises(InputError, match="unknown form"):
        PoseRecipe("pose_landmark_full", form="fp8")
    few = calibration_set(frames.landmarks.feeds[:5], "five crops")
    with pytest.raises(InputError, match="distinct calibration samples"):
        quantize_pose_model(blazepose_models[1], few, RECIPES["landmarks_cpu"], tmp_path / "x.onnx")
    with pytest.raises(InputError, match="give an .onnx output path"):
        quantize_pose_model(blazepose_models[1], frames.landmarks, RECIPES["landmarks_cpu"], tmp_path / "x.xml")
    assert not (tmp_path / "x.onnx").exists()
