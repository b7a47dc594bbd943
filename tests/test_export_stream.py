"""`ergoedge export RUN --out DIR --streaming` (export/onnx_stream.py): the streaming step as ONNX with explicit
state, checked by onnx.checker; stepped frame by frame through real ONNX Runtime sessions (directly and through
`edge.inference` on the device's `StreamModel`) it gives what torch gives on whole sequences; the manifest beside
it holds what the device needs and how the file was made; changed files and bad input are refused in one line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the export stage needs torch (the train extra)")

from edge.cli import main  # noqa: E402
from edge.errors import InputError  # noqa: E402
from edge.models.base import REBA_PARTIALS  # noqa: E402
from edge.streaming.model import open_stream_model, read_manifest  # noqa: E402
from edge.train.checkpoint import load_checkpoint  # noqa: E402
from edge.train.config import NormConfig  # noqa: E402
from export.onnx_stream import PARITY_ATOL, export_streaming  # noqa: E402

import activity_helpers  # tests/ is on sys.path under pytest
import train_helpers


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    ckpt = activity_helpers.trained_checkpoint(tmp / "best.pt", NormConfig(root="first"))
    return ckpt, export_streaming(ckpt, tmp / "out")


def whole_sequence(ckpt, joints: np.ndarray) -> dict:
    model = load_checkpoint(ckpt).build()
    with torch.no_grad():
        out = model({"joints": torch.from_numpy(joints), "mask": torch.ones(joints.shape[:2], dtype=torch.bool)})
    return {k: v.numpy() for k, v in out.items() if k != "activity_stages"}


def test_onnx_step_by_step_equals_torch_whole_sequence(exported):
    import onnx
    import onnxruntime as ort

    ckpt, artifact = exported
    onnx.checker.check_model(onnx.load(str(artifact.onnx)), full_check=True)
    manifest = read_manifest(artifact.onnx)
    rng = np.random.default_rng(7)
    joints = (0.4 * rng.standard_normal((3, 150, 15, 3))).astype(np.float32)  # 3 streams: the batch axis is free
    joints[1, 30:50, 4] = np.nan  # joints not seen: 0 inside the model, in both paths
    whole = whole_sequence(ckpt, joints)
    session = ort.InferenceSession(str(artifact.onnx), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    state = {s["input"]: np.zeros((3, *s["shape"]), np.float32) for s in manifest["state"]}
    for t in range(joints.shape[1]):
        got = dict(zip(names, session.run(None, {"joints": joints[:, t], **state})))
        state = {s["input"]: got[s["output"]] for s in manifest["state"]}
        for name in ("activity_logits", "reba", "reba_partials"):
            np.testing.assert_allclose(got[name], whole[name][:, t], rtol=0, atol=2e-5, err_msg=f"{name} at {t}")
    # The device's own path: edge.inference, one stream, state kept by StreamModel.
    model = open_stream_model(artifact.onnx)
    state = model.initial_state()
    for t in range(joints.shape[1]):
        out, state = model.step(state, joints[1, t])
        np.testing.assert_allclose(out["reba"], whole["reba"][1, t], rtol=0, atol=2e-5)
        np.testing.assert_allclose(out["activity_logits"], whole["activity_logits"][1, t], rtol=0, atol=2e-5)
    assert model.steps == joints.shape[1] and model.speed()["step_median_ms"] > 0


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_streams_keep_their_own_state_and_step_as_the_whole_sequence(exported, backend):
    from edge.inference.ort_backend import OrtRecurrence

    ckpt, artifact = exported
    rng = np.random.default_rng(11)
    joints = (0.4 * rng.standard_normal((2, 60, 15, 3))).astype(np.float32)
    joints[0, 10:20, 6] = np.nan
    whole = whole_sequence(ckpt, joints)
    model = open_stream_model(artifact.onnx, backend=backend)
    streams = [model.new_stream(), model.new_stream()]
    # On ONNX Runtime the state stays in its buffers; elsewhere it is fed back as arrays.
    assert all(isinstance(s._bound, OrtRecurrence) == (backend == "onnxruntime") for s in streams)
    state = model.initial_state()
    for t in range(joints.shape[1]):  # two people in turn: neither stream's state reaches the other
        outs = [stream.step(joints[k, t]) for k, stream in enumerate(streams)]
        reference, state = model.step(state, joints[0, t])  # the state fed back by the caller
        for name in ("activity_logits", "reba", "reba_partials"):
            for k, out in enumerate(outs):
                assert out[name].shape == whole[name][k, t].shape
                np.testing.assert_allclose(out[name], whole[name][k, t], rtol=0, atol=2e-5, err_msg=f"{name} {t}")
            np.testing.assert_allclose(outs[0][name], reference[name], rtol=0, atol=1e-6)
    assert model.steps == 3 * joints.shape[1]
    if backend == "onnxruntime":  # the state it would read next is the fed-back path's
        for mine, theirs in zip(streams[0]._bound.state(), state):
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="shape"):
        streams[1].step(np.zeros((14, 3), np.float32))


def test_manifest_says_what_the_device_needs_and_how_it_was_made(exported):
    ckpt, artifact = exported
    assert artifact.onnx.name == "edge_stream_step.onnx" and artifact.manifest == artifact.onnx.with_suffix(".json")
    m = json.loads(artifact.manifest.read_text())
    assert (m["format"], m["kind"], m["model"], m["opset"], m["precision"]) == (1, "streaming_step", "edge_stream",
                                                                                17, "fp32")
    assert m["onnx"] == artifact.onnx.name
    assert m["onnx_sha256"] == hashlib.sha256(artifact.onnx.read_bytes()).hexdigest()
    assert m["checkpoint"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert (m["layout"], m["classes"], m["partials"], m["fps"]) == ("uwiom15", list(activity_helpers.CLASSES),
                                                                    list(REBA_PARTIALS), 10.0)
    assert m["normalisation"] == {"root": "first", "scale": "sequence"}
    assert "ergo_edge_version" in m and m["delay_frames"] == 0
    inputs = {t["name"]: t for t in m["inputs"]}
    outputs = {t["name"]: t for t in m["outputs"]}
    assert inputs["joints"] == {"name": "joints", "shape": ["batch", 15, 3], "dtype": "float32"}
    assert outputs["activity_logits"]["shape"] == ["batch", 4] and outputs["reba"]["shape"] == ["batch"]
    assert outputs["reba_partials"]["shape"] == ["batch", len(REBA_PARTIALS)]
    # Every state the step reads (here all: velocities read the previous frame), with its output and its shape per
    # stream: the model's own initial state.
    initial = load_checkpoint(ckpt).build().initial_state(1)
    assert [s["shape"] for s in m["state"]] == [list(s.shape[1:]) for s in initial]
    assert {s["input"] for s in m["state"]} == set(inputs) - {"joints"}
    for s in m["state"]:
        assert inputs[s["input"]]["shape"] == ["batch", *s["shape"]]
        assert outputs[s["output"]]["shape"] == ["batch", *s["shape"]] and s["initial"] == 0.0
    assert max(m["parity"]["max_abs_diff"].values()) <= PARITY_ATOL == m["parity"]["atol"]
    assert m["exporter"]["torch"].startswith("2.") and m["state_layout"]


def test_a_delayed_model_exports_its_delay_and_steps_each_frame_that_much_later(tmp_path):
    delay = 3
    ckpt = activity_helpers.trained_checkpoint(tmp_path / "best.pt", delay=delay)
    artifact = export_streaming(ckpt, tmp_path / "out")
    assert json.loads(artifact.manifest.read_text())["delay_frames"] == delay
    joints = (0.4 * np.random.default_rng(3).standard_normal((1, 40, 15, 3))).astype(np.float32)
    whole = whole_sequence(ckpt, joints)
    model = open_stream_model(artifact.onnx)
    assert model.delay_frames == delay
    state, got = model.initial_state(), []
    for t in range(40 + delay):  # past the end: the last frame again, as the whole-sequence run takes it
        out, state = model.step(state, joints[0, min(t, 39)])
        got.append(out["activity_logits"])
    np.testing.assert_allclose(np.stack(got[delay:]), whole["activity_logits"][0], rtol=0, atol=2e-5)
    manifest = json.loads(artifact.manifest.read_text())
    for bad in (-1, 1.5, "3"):
        artifact.manifest.write_text(json.dumps({**manifest, "delay_frames": bad}))
        with pytest.raises(InputError, match="delay_frames"):
            read_manifest(artifact.onnx)


def test_a_changed_or_foreign_file_is_refused(exported, tmp_path):
    _, artifact = exported
    copy = tmp_path / artifact.onnx.name
    copy.write_bytes(artifact.onnx.read_bytes() + b"\0")
    copy.with_suffix(".json").write_text(artifact.manifest.read_text())
    with pytest.raises(InputError, match="does not match its manifest"):
        open_stream_model(copy)
    copy.with_suffix(".json").unlink()
    with pytest.raises(InputError, match="no manifest beside it"):
        open_stream_model(copy)
    with pytest.raises(InputError, match="no streaming model at"):
        open_stream_model(tmp_path / "missing.onnx")


def test_the_command_line_exports_a_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    activity_helpers.trained_checkpoint(run / "best.pt", steps=1)
    assert main(["export", str(run), "--out", str(tmp_path / "out"), "--streaming"]) == 0
    assert "max abs diff" in capsys.readouterr().out
    assert read_manifest(tmp_path / "out" / "edge_stream_step.onnx")["checkpoint"]["file"] == "best.pt"
    for argv, fragment in ((["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "o3"), "--streaming"],
                            "no checkpoint"),
                           (["export", str(run), "--out", str(tmp_path / "o4"), "--streaming", "--opset", "9"],
                            "--opset")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o3").exists() and not (tmp_path / "o4").exists()


def test_a_model_without_a_streaming_step_is_refused(tmp_path, monkeypatch):
    from edge.models.base import DataSpec
    from edge.train.checkpoint import save_checkpoint

    train_helpers.register(monkeypatch)
    config = train_helpers.TinyConfig(data=DataSpec(classes=("a", "b")))
    ckpt = save_checkpoint(tmp_path / "tiny.pt", "tiny", config, train_helpers.Tiny(config), NormConfig(), 0, {})
    with pytest.raises(InputError, match="no streaming step"):
        export_streaming(ckpt, tmp_path / "out")
    assert not (tmp_path / "out").exists()
