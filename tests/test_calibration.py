"""`ergoedge calibrate` (calibration/): a tiny edge_stream trained here and exported by export/onnx_stream.py is
calibrated on a UW-IOM fixture written as the release lays it out (tests/dataset_fixtures.py) with real ONNX Runtime
sessions throughout. Checked: the QDQ graph is what TensorRT's parser accepts (symmetric int8, no quantized bias)
and runs; FP16 matches FP32 within a stated tolerance; calibration feeds carry the FP32 step's real state and never
come from a held-out video; random and too-small calibration data and stale TensorRT caches are refused; the cache
format round-trips; the report's numbers equal the torch model's own evaluation; the CLI end to end and bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the fixture model is trained with torch (the train extra)")

import dataset_fixtures  # tests/ is on sys.path under pytest

from calibration.quantize import QuantSpec, check_calibration, check_qdq, output_heads, quantize_int8
from calibration.readers import (
    ReaderSpec,
    calibration_set,
    disjoint,
    open_session,
    random_set,
    read_model,
    read_skeletons,
    sequence_feeds,
    step_streams,
)
from calibration.report import _bar
from calibration.trt_cache import (
    CacheKey,
    cache_key,
    format_cache,
    load_cache,
    parse_cache,
    parse_trt_version,
    write_cache,
)
from edge.cli import main
from edge.errors import InputError
from edge.models.base import DataSpec
from edge.models.edge_stream import EdgeStreamConfig, build
from edge.streaming.model import open_stream_model
from edge.train.checkpoint import save_checkpoint
from edge.train.config import NormConfig
from export.onnx_stream import export_streaming

GROUPS = "edge/data/groups/uwiom_coarse.toml"
COARSE = ("walk", "stand", "bend", "reach_high", "handle_mid")
# FP16 against FP32, frame by frame with the state fed back: largest absolute difference of any output.
FP16_ATOL = 0.02


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def label_by_head_height(uw) -> None:
    """Each video's labels: "standing" while the head is below its median height, else "walking" (a rule a small
    model can learn, so that the report's segment metrics are not all 0)."""
    from activity_helpers import head_heights

    for pose in sorted((uw / "Poses").glob("*_pose3d.npy")):
        heads = head_heights(np.load(pose).astype(np.float64), (0.0, 0.0, 1.0), 10.0)
        labels = np.where(heads < np.median(heads), 4, 0).astype(np.int64)  # UWIOM_CLASSES: 4 standing, 0 walking
        np.save(uw / "Labels" / "ClassNumber" / pose.name.replace("_pose3d", ""), labels)


def tiny_checkpoint(path, data):
    """A small edge_stream on the coarse UW-IOM classes, trained a few dozen steps on the fixture's train videos."""
    from edge.datasets.loaders.uwiom import load_uwiom
    from edge.train.batches import collate, make_item
    from edge.train.config import DataConfig
    from edge.train.data import prepare, read_groups

    torch.manual_seed(0)
    config = EdgeStreamConfig(data=DataSpec(layout="uwiom15", classes=COARSE, fps=10.0), channels=12,
                              refine_channels=8, layers=4, stages=2, velocity=True, dropout=0.0)
    model = build(config)
    seqs = prepare([s for s in load_uwiom(data) if s.metadata["split"] == "train"], DataConfig(), layout="uwiom15",
                   groups=read_groups(GROUPS))
    batch = collate([make_item(s, config.data, NormConfig()) for s in seqs])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss, _ = model.loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return save_checkpoint(path, "edge_stream", config, model.eval(), NormConfig(), 40, {"command": ["test"]})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The exported step, a UW-IOM release fixture (train videos 01, 03; published val 02) and one CLI run."""
    tmp = tmp_path_factory.mktemp("calib")
    mp = pytest.MonkeyPatch()
    mp.setattr(dataset_fixtures, "UW_LENGTHS", {"01": 240, "02": 160, "03": 200})
    uw, _ = dataset_fixtures.make_uwiom(tmp / "uw")
    mp.undo()
    # The fixture's videos are one lift cut to length: turn 03 about the up axis so that no two videos share frames.
    pose = uw / "Poses" / "03_pose3d.npy"
    c, s = np.cos(0.5), np.sin(0.5)
    np.save(pose, (np.load(pose) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T).astype(np.float32))
    label_by_head_height(uw)
    artifact = export_streaming(tiny_checkpoint(tmp / "best.pt", tmp / "uw"), tmp / "model")
    out = tmp / "out"
    code = main(["calibrate", str(artifact.onnx), "--dataset", "uwiom", "--data", str(tmp / "uw"), "--groups",
                 GROUPS, "--samples", "128", "--out", str(out), "--trt-version", "10.3"])
    assert code == 0
    return {"tmp": tmp, "onnx": artifact.onnx, "ckpt": tmp / "best.pt", "data": tmp / "uw", "out": out}


def reader(setup, **kw) -> ReaderSpec:
    return ReaderSpec("uwiom", str(setup["data"]), GROUPS, **{"samples": 128, **kw})


def consts(model) -> dict:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


# ------------------------------------------------------------------------------------------------ INT8 and FP16


def test_int8_graph_is_symmetric_int8_qdq_without_quantized_bias(setup):
    import onnx

    path = setup["out"] / "edge_stream_step_int8.onnx"
    model = onnx.load(str(path))
    init = consts(model)
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert len(q) > 10 and len(dq) > len(q)  # activations (Q+DQ) and weights (DQ of an int8 initializer)
    for node in q + dq:
        zero = init[node.input[2]]
        assert zero.dtype == np.int8 and not zero.any(), node.name
        assert init[node.input[1]].dtype == np.float32 and (init[node.input[1]] > 0).all()
    weights = [init[n.input[0]] for n in dq if n.input[0] in init]
    assert weights and all(w.dtype == np.int8 for w in weights)  # no int32 (bias) DequantizeLinear
    produced_by_dq = {n.output[0] for n in dq}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    heads = set(output_heads(onnx.load(str(setup["onnx"]))))
    assert heads and all(n.name in heads for n in convs if n.input[1] not in produced_by_dq)  # the heads stay float
    assert sum(n.input[1] in produced_by_dq for n in convs) == len(convs) - len(heads) > 0  # every other Conv: int8
    for conv in convs:
        if len(conv.input) > 2:
            assert conv.input[2] in init and init[conv.input[2]].dtype == np.float32  # bias stays float
    assert check_qdq(path)["QuantizeLinear"] == len(q)
    # ONNX Runtime runs it, and the device opens it through its manifest like the FP32 step.
    step = open_stream_model(path)
    out, _ = step.step(step.initial_state(), np.zeros((15, 3), np.float32))
    assert out["activity_logits"].shape == (5,) and np.isfinite(out["reba"])


def test_fp16_graph_loads_and_matches_fp32_step_by_step(setup):
    import onnx

    fp16 = setup["out"] / "edge_stream_step_fp16.onnx"
    model = onnx.load(str(fp16))
    assert {t.data_type for t in model.graph.initializer if t.data_type in (1, 10)} == {10}  # float16 weights
    assert all(v.type.tensor_type.elem_type == 1 for v in [*model.graph.input, *model.graph.output])  # float32 io
    manifest = read_model(setup["onnx"])
    data = read_skeletons(manifest, reader(setup))
    joints = [s.joints for s in data.heldout]
    ref, _ = step_streams(open_session(setup["onnx"]), manifest, joints)
    half, _ = step_streams(open_session(fp16), manifest, joints)
    worst = max(float(np.abs(h[k] - r[k]).max()) for h, r in zip(half, ref) for k in r)
    assert 0 < worst <= FP16_ATOL  # not bit-identical (it is FP16), but within the stated tolerance


def test_a_delayed_step_is_stepped_past_each_end_and_gives_the_whole_sequence_outputs(tmp_path):
    from activity_helpers import trained_checkpoint
    from edge.train.checkpoint import load_checkpoint

    delay = 3
    ckpt = trained_checkpoint(tmp_path / "d.pt", delay=delay)
    onnx_path = export_streaming(ckpt, tmp_path / "out").onnx
    manifest = read_model(onnx_path)
    rng = np.random.default_rng(4)
    joints = [(0.4 * rng.standard_normal((n, 15, 3))).astype(np.float32) for n in (25, 40)]  # unequal lengths
    per_seq, _ = step_streams(open_session(onnx_path), manifest, joints)
    model = load_checkpoint(ckpt).build()
    for seq, got in zip(joints, per_seq):
        with torch.no_grad():
            whole = model({"joints": torch.from_numpy(seq)[None], "mask": torch.ones(1, len(seq), dtype=torch.bool)})
        assert got["activity_logits"].shape == (len(seq), 4)
        np.testing.assert_allclose(got["activity_logits"], whole["activity_logits"][0].numpy(), rtol=0, atol=2e-5)


def test_manifests_record_how_each_file_was_made(setup):
    out = setup["out"]
    source = json.loads(setup["onnx"].with_suffix(".json").read_text())
    int8 = json.loads((out / "edge_stream_step_int8.json").read_text())
    fp16 = json.loads((out / "edge_stream_step_fp16.json").read_text())
    sidecar = json.loads((out / "edge_stream_step_trt10.3.0_minmax.calib.json").read_text())
    for m, precision in ((int8, "int8"), (fp16, "fp16")):
        assert m["precision"] == precision and m["onnx"] == f"edge_stream_step_{precision}.onnx"
        assert m["onnx_sha256"] == hashlib.sha256((out / m["onnx"]).read_bytes()).hexdigest()
        assert m["source_onnx"]["sha256"] == source["onnx_sha256"]
        for key in ("kind", "layout", "classes", "partials", "fps", "normalisation", "state", "inputs", "outputs"):
            assert m[key] == source[key]
    cal = int8["calibration"]
    assert (cal["method"], cal["samples"], cal["real"]) == ("minmax", 128, True)
    assert cal["digest"] == sidecar["key"]["calibration_digest"] and "held out" in cal["source"]
    assert int8["quantizer"]["name"].endswith("quantize_static") and int8["quantizer"]["onnxruntime"]
    s = int8["settings"]
    assert (s["ActivationSymmetric"], s["WeightSymmetric"], s["QuantizeBias"], s["activation_type"]) == (
        True, True, False, "QInt8")
    assert fp16["converter"]["keep_io_types"] is True and fp16["converter"]["onnxruntime"]
    assert fp16["converter"]["name"] == "onnxruntime.transformers.float16.convert_float_to_float16"


# ------------------------------------------------------------------------------------------ calibration readers


def test_calibration_samples_carry_the_fp32_steps_real_state_and_skip_held_out_videos(setup):
    manifest = read_model(setup["onnx"])
    data = read_skeletons(manifest, reader(setup))
    assert disjoint(data)
    assert data.calibration_groups == ("uwiom:01", "uwiom:03") and data.heldout_groups == ("uwiom:02",)
    feeds = data.calibration.feeds
    assert len(feeds) == 128 == data.calibration.distinct and data.calibration.real
    assert all(f["joints"].shape == (1, 15, 3) and f["state_2"].shape[0] == 1 for f in feeds)
    # Spread over both calibration videos (in proportion to their 240 and 200 frames).
    seqs = {s.name: s for s in [*_calibration_sequences(manifest, setup)]}
    found = [next(n for n, s in seqs.items() for t in range(s.num_frames) if np.array_equal(
        np.nan_to_num(s.joints[t]), np.nan_to_num(f["joints"][0]))) for f in feeds[::16]]
    assert set(found) == {"01", "03"}
    # The state of a sample is what the FP32 step reaches at that frame from the sequence's start.
    session = open_session(setup["onnx"])
    seq = seqs["03"]
    t = next(t for t in range(seq.num_frames) for f in feeds[-3:] if np.array_equal(seq.joints[t], f["joints"][0]))
    sample = next(f for f in feeds if np.array_equal(seq.joints[t], f["joints"][0]))
    assert sample["state_2"].any()  # not the zeros of a first frame
    state = {s["input"]: np.zeros((1, *s["shape"]), np.float32) for s in manifest["state"]}
    names = [o.name for o in session.get_outputs()]
    for k in range(t):
        got = dict(zip(names, session.run(None, {"joints": seq.joints[k][None], **state})))
        state = {s["input"]: got[s["output"]] for s in manifest["state"]}
    for name, value in state.items():
        np.testing.assert_allclose(sample[name], value, rtol=0, atol=1e-5)
    # Same data and seed, same digest; another seed draws other frames.
    again = read_skeletons(manifest, reader(setup))
    other = read_skeletons(manifest, reader(setup, seed=1))
    assert again.calibration.digest == data.calibration.digest != other.calibration.digest


def _calibration_sequences(manifest, setup):
    from calibration.readers import _load, prepare_sequence

    return [prepare_sequence(s, manifest) for s in _load(manifest, reader(setup)) if s.metadata["video"] != "02"]


def test_whole_sequence_models_get_windows_built_from_their_manifest_rows(setup):
    manifest = read_model(setup["onnx"])
    seqs = _calibration_sequences(manifest, setup)
    seqs[0].joints[5, 3] = np.nan
    model = {"path": str(setup["onnx"]), "fps": 10.0,
             "inputs": [{"name": "joints", "shape": ["batch", "time", 15, 3], "dtype": "float32"},
                        {"name": "mask", "shape": ["batch", "time"], "dtype": "bool"}]}
    feeds, frames = sequence_feeds(model, seqs, samples=6, window_s=5.0, seed=0)
    assert frames == 440 and len(feeds) == 6
    for f in feeds:
        assert f["joints"].shape == (1, 50, 15, 3) and f["joints"].dtype == np.float32
        assert f["mask"].dtype == bool and f["mask"].all() and np.isfinite(f["joints"]).all()  # NaN -> 0 as collate
    model["inputs"].append({"name": "orientations", "shape": ["batch", "time", 15, 4], "dtype": "float32"})
    with pytest.raises(InputError, match="orientations"):
        sequence_feeds(model, seqs, samples=6, window_s=5.0, seed=0)


# --------------------------------------------------------------------------------------------------- refusals


def test_random_and_too_few_samples_are_refused_unless_allowed(setup, tmp_path):
    manifest = read_model(setup["onnx"])
    noise = random_set(manifest, 100)
    assert not noise.real
    with pytest.raises(InputError, match="random data"):
        check_calibration(noise, QuantSpec())
    check_calibration(noise, QuantSpec(allow_random=True))
    real = read_skeletons(manifest, reader(setup, samples=20)).calibration
    with pytest.raises(InputError, match="only 20 distinct calibration samples, fewer than the 64"):
        quantize_int8(setup["onnx"], real, QuantSpec(), tmp_path / "a.onnx")
    repeated = calibration_set([real.feeds[0]] * 100, "one frame repeated")
    with pytest.raises(InputError, match="only 1 distinct"):
        check_calibration(repeated, QuantSpec())
    assert not (tmp_path / "a.onnx").exists()
    # Allowed explicitly: a small set quantizes, and an excluded node stays in float.
    first_conv = next(n.name for n in __import__("onnx").load(str(setup["onnx"])).graph.node if n.op_type == "Conv")
    path = quantize_int8(setup["onnx"], real, QuantSpec(allow_small=True, exclude_nodes=(first_conv,)),
                         tmp_path / "a.onnx")
    import onnx

    graph = onnx.load(str(path)).graph
    conv = next(n for n in graph.node if n.name == first_conv)
    dq_outputs = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    assert conv.input[1] not in dq_outputs and conv.input[1] in consts(onnx.load(str(path)))
    with pytest.raises(InputError, match="no node named 'nope'"):
        quantize_int8(setup["onnx"], real, QuantSpec(allow_small=True, exclude_nodes=("nope",)), tmp_path / "b.onnx")


def test_quantizing_writes_nothing_beside_the_source_model(setup, tmp_path):
    from calibration.quantize import tensor_ranges

    # ONNX Runtime's quantizer writes <model>-inferred.onnx beside the file it is given, then deletes it.
    folder = tmp_path / "models"
    folder.mkdir()
    source = folder / "step.onnx"
    shutil.copy(setup["onnx"], source)
    mine = folder / "step-inferred.onnx"
    mine.write_bytes(b"the user's own file")
    real = read_skeletons(read_model(setup["onnx"]), reader(setup, samples=20)).calibration
    quantize_int8(source, real, QuantSpec(allow_small=True), tmp_path / "int8.onnx")
    ranges = tensor_ranges(source, real, QuantSpec(allow_small=True))
    assert ranges and all(low <= high for low, high in ranges.values())
    assert sorted(p.name for p in folder.iterdir()) == ["step-inferred.onnx", "step.onnx"]
    assert mine.read_bytes() == b"the user's own file"


# ------------------------------------------------------------------------------------------- TensorRT cache


def test_trt_cache_format_round_trip_and_version_numbers():
    assert parse_trt_version("10.3") == ("10.3.0", 100300)
    assert parse_trt_version("8.6.1") == ("8.6.1", 8601)
    assert parse_trt_version("10.14.1") == ("10.14.1", 101401)
    for bad, why in (("11.0", "no implicit INT8"), ("8.4", "older than"), ("ten", "must look like")):
        with pytest.raises(InputError, match=why):
            parse_trt_version(bad)
    ranges = {"joints": (-0.5, 1.27), "/conv/Conv_output_0": (-127.0, 3.0), "zero": (0.0, 0.0),
              "odd: name": (-2.0, 1.0)}
    key = CacheKey("a" * 64, "b" * 64, "entropy", {"joints": [1, 15, 3]}, "8.6.1")
    text = format_cache(ranges, key)
    lines = text.splitlines()
    assert lines[0] == "TRT-8601-EntropyCalibration2"
    assert "/conv/Conv_output_0: 3f800000" in lines  # 127 / 127 = 1.0, big-endian float32
    assert "zero: 00000000" in lines and all(len(line.rsplit(": ", 1)[1]) == 8 for line in lines[1:])
    parsed = parse_cache(text)
    assert (parsed.version_number, parsed.algorithm) == (8601, "EntropyCalibration2")
    for name, (low, high) in ranges.items():
        assert parsed.scales[name] == np.float32(max(abs(low), abs(high)) / 127.0)
    # TensorRT itself writes small values without leading zeros: read them too.
    assert parse_cache("TRT-100300-MinMaxCalibration\nx: 0\ny: 3c23d70a\n").scales["y"] == pytest.approx(0.01)
    assert format_cache(ranges, CacheKey("a", "b", "minmax", {}, "10.3.0")).startswith("TRT-100300-MinMaxCalibration\n")
    with pytest.raises(InputError, match="line 2"):
        parse_cache("TRT-100300-MinMaxCalibration\nbroken line\n")
    with pytest.raises(InputError, match="first line"):
        parse_cache("joints: 3f800000\n")


def test_trt_cache_is_reused_only_for_its_key_and_stale_ones_are_refused(setup, tmp_path):
    out = setup["out"]
    cache = out / "edge_stream_step_trt10.3.0_minmax.calib"
    scales = parse_cache(cache.read_text()).scales
    assert {"joints", "state_0", "reba", "activity_logits"} <= set(scales) and all(v >= 0 for v in scales.values())
    manifest = read_model(setup["onnx"])
    calib = read_skeletons(manifest, reader(setup)).calibration
    key = cache_key(setup["onnx"], calib, "minmax", "10.3")
    assert load_cache(cache, key) == cache.read_bytes()
    # The key: ONNX, calibration data, method, shapes and TensorRT version each make a cache stale.
    for changed, field in (({"calibration_digest": "0" * 64}, "calibration_digest"), ({"method": "entropy"}, "method"),
                           ({"tensorrt": "10.4.0"}, "tensorrt"), ({"onnx_sha256": "1" * 64}, "onnx_sha256"),
                           ({"input_shapes": {"joints": [2, 15, 3]}}, "input_shapes")):
        stale = CacheKey(**{**key.__dict__, **changed})
        with pytest.raises(InputError, match=f"stale calibration cache .*{field}"):
            load_cache(cache, stale)
    ranges = {name: (-127.0 * v, 127.0 * v) for name, v in scales.items()}
    copy = tmp_path / cache.name
    assert write_cache(ranges, key, copy) == (copy, False)
    assert write_cache(ranges, key, copy) == (copy, True)  # same key and content: reused, not rewritten
    copy.write_text(copy.read_text().replace("joints:", "joints :"))
    with pytest.raises(InputError, match="changed after it was written"):
        load_cache(copy, key)
    copy.with_name(copy.name + ".json").write_text("[]")  # a damaged sidecar: refused, and written anew
    with pytest.raises(InputError, match="not the sidecar of a calibration cache"):
        load_cache(copy, key)
    assert write_cache(ranges, key, copy) == (copy, False) and load_cache(copy, key) == copy.read_bytes()
    copy.with_name(copy.name + ".json").unlink()
    with pytest.raises(InputError, match="missing"):
        load_cache(copy, key)


# ---------------------------------------------------------------------------------------------------- report


def test_report_numbers_equal_the_torch_models_own_evaluation(setup):
    from edge.datasets.loaders.uwiom import load_uwiom
    from edge.train.batches import make_item
    from edge.train.checkpoint import load_checkpoint
    from edge.train.config import DataConfig
    from edge.train.data import prepare, read_groups, relabel
    from edge.train.evaluate import predict, task_metrics

    report = json.loads((setup["out"] / "edge_stream_step_calibration_report.json").read_text())
    assert report["sequences"] == ["02"] and report["frames"] == 160
    assert (setup["out"] / "edge_stream_step_calibration_report.txt").read_text().startswith("edge_stream_step:")
    ckpt = load_checkpoint(setup["ckpt"])
    seqs = prepare([s for s in load_uwiom(setup["data"]) if s.metadata["video"] == "02"], DataConfig(),
                   layout="uwiom15", groups=read_groups(GROUPS))
    items = [make_item(s, ckpt.spec, ckpt.norm) for s in relabel(seqs, COARSE)]
    expected = task_metrics(ckpt.task, items, predict(ckpt.build(), items), ckpt.spec.partials)
    got = report["precisions"]["fp32"]["metrics"]
    assert 50 < got["accuracy"] < 100 and 0 < got["f1@10"] < 100  # the fixture model learnt something, not all
    for name in ("accuracy", "edit", "f1@10", "f1@25", "f1@50"):
        assert got[name] == pytest.approx(expected[name], abs=1e-9), name
    assert got["reba_mse"] == pytest.approx(expected["reba_mse"], abs=1e-4)
    assert got["reba_mae"] == pytest.approx(expected["reba_mae"], abs=1e-4)
    assert got.get("partials_mse") is None  # the UW-IOM release has no partial scores
    int8 = report["precisions"]["int8"]
    assert 0.5 <= int8["vs_fp32"]["same_class_frames"] <= 1.0 and int8["vs_fp32"]["reba_max_abs_diff"] > 0
    bar = int8["bar"]
    assert set(bar["f1_drop"]) == {"f1@10", "f1@25", "f1@50"}
    assert bar["f1_drop"]["f1@10"] == pytest.approx(got["f1@10"] - int8["metrics"]["f1@10"])
    assert bar["passed"] == (max(bar["f1_drop"].values()) <= 0.5 and bar["reba_mse_rise"] <= 0.05)


def test_bar_of_issue_13():
    ref = {"f1@10": 60.0, "f1@25": 50.0, "f1@50": 40.0, "reba_mse": 3.0}
    assert _bar({**ref, "f1@50": 39.6, "reba_mse": 3.04}, ref)["passed"]
    assert not _bar({**ref, "f1@25": 49.4}, ref)["passed"]
    assert not _bar({**ref, "reba_mse": 3.06}, ref)["passed"]
    assert not _bar({}, {})["passed"]  # nothing measured is no pass


# ------------------------------------------------------------------------------------------------------- CLI


def test_cli_end_to_end_output_and_bad_input(setup, tmp_path, capsys):
    out = setup["out"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["edge_stream_step_int8.onnx", "edge_stream_step_int8.json", "edge_stream_step_fp16.onnx",
                            "edge_stream_step_fp16.json", "edge_stream_step_trt10.3.0_minmax.calib",
                            "edge_stream_step_trt10.3.0_minmax.calib.json",
                            "edge_stream_step_calibration_report.json", "edge_stream_step_calibration_report.txt"])
    base = ["calibrate", str(setup["onnx"]), "--dataset", "uwiom", "--data", str(setup["data"]), "--groups", GROUPS]
    bad_norm = tmp_path / "bad_norm" / setup["onnx"].name  # a manifest whose normalisation is not NormConfig's
    bad_norm.parent.mkdir()
    shutil.copy(setup["onnx"], bad_norm)
    manifest = json.loads(setup["onnx"].with_suffix(".json").read_text())
    bad_norm.with_suffix(".json").write_text(json.dumps({**manifest, "normalisation": {"bogus": 1}}))
    cases = [
        ([str(bad_norm) if a == str(setup["onnx"]) else a for a in base], "normalisation: unknown key 'bogus'"),
        (["calibrate", str(tmp_path / "none.onnx"), "--dataset", "uwiom", "--data", "x"], "no ONNX model at"),
        (["calibrate", str(setup["onnx"]), "--dataset", "random"], "refusing to calibrate on random data"),
        ([*base, "--samples", "10"], "only 10 distinct calibration samples"),
        ([*base, "--trt-version", "11.0"], "no implicit INT8 calibration"),
        ([*base, "--samples", "0"], "--samples must be"),
        ([*base[:-2]], "not among the model's"),  # UW-IOM's fine classes without --groups
        (["calibrate", str(setup["onnx"]), "--dataset", "uwiom", "--data", str(tmp_path / "nowhere")], "nowhere"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main([*argv, "--out", str(tmp_path / "o")]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("ergoedge: error:") and message in err and err.count("\n") == 1, (argv, err)
        assert not (tmp_path / "o").exists()  # refused before anything was written
    # Random data where explicitly allowed: everything is written, and the report says nothing was measured.
    assert main(["calibrate", str(setup["onnx"]), "--dataset", "random", "--allow-random", "--samples", "64",
                 "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "edge_stream_step_calibration_report.json").read_text())
    assert report["precisions"] == {} and report["calibration"]["real"] is False
    manifest = json.loads((tmp_path / "r" / "edge_stream_step_int8.json").read_text())
    assert manifest["calibration"]["real"] is False and manifest["int8_bar_passed"] is None
    assert struct.calcsize(">f") == 4


def test_output_heads_are_the_layers_next_to_the_answers():
    """The last weighted layer before each answer; a streaming step's next states are no answers; a Shape node
    reads no values (built with onnx.helper: Conv -> Relu -> Conv -> y, and a next_state_0 from the first Conv)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 2, 1), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="first"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w"], ["c"], name="head"),
             helper.make_node("Shape", ["h"], ["s"], name="shape"),
             helper.make_node("Reshape", ["c", "s"], ["y"], name="reshape"),
             helper.make_node("Identity", ["h"], ["next_state_0"], name="state")]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4]) for n in ("x", "y", "next_state_0")]
    graph = helper.make_graph(nodes, "g", [vi[0]], vi[1:], [w])
    model = helper.make_model(graph)
    assert output_heads(model) == ["head"]
    assert output_heads(model, ("Gemm",)) == []  # a Conv still ends the walk
    onnx.checker.check_model(model)


def test_agreement_of_a_model_without_partials_or_classes():
    """A REBA-only model trained on data without partial scores (vae_reba on UW-IOM) has (T, 0) partials: the
    report compares what there is (this crashed the report once)."""
    from calibration.report import _agreement

    ref = [{"reba": np.array([3.0, 4.0]), "reba_partials": np.zeros((2, 0))}]
    got = [{"reba": np.array([3.5, 4.0]), "reba_partials": np.zeros((2, 0))}]
    assert _agreement(got, ref) == {"reba_max_abs_diff": 0.5, "reba_mean_abs_diff": 0.25}
