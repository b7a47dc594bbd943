"""`ergoedge verify DIR` (export/verify.py) on what `ergoedge export` and `ergoedge calibrate` write: a small
edge_stream step and a small mtl_gcn_edtcn, each with its FP16 and INT8 graphs (calibrated on `ergoedge synth`
recordings). Parity with the FP32 graph and with torch, TensorRT's ONNX parser on every graph, and what fails:
a changed file, a damaged INT8 graph, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the models are trained and exported with torch (the train extra)")

from edge.cli import main  # noqa: E402
from edge.datasets.synth.generator import SynthConfig, write_synth  # noqa: E402
from export.onnx_model import export_model  # noqa: E402
from export.onnx_stream import export_streaming  # noqa: E402
from export.verify import TOLERANCE, verify  # noqa: E402

import activity_helpers  # tests/ is on sys.path under pytest
from test_export_model import checkpoint as sequence_checkpoint  # noqa: E402

# The synthetic activities in the test models' classes (activity_helpers.CLASSES; test_export_model.CLASSES).
STEP_GROUPS = """walk = ["walk", "carry"]
stand = ["stand", "place_mid", "twist", "reach_overhead", "place_high", "push_pull"]
bend = ["place_low", "kneel"]
stoop_lift = ["stoop_lift", "squat_lift"]
"""
SEQUENCE_GROUPS = """walk = ["walk", "carry"]
stand = ["stand", "place_mid", "twist", "reach_overhead", "place_high", "push_pull"]
bend = ["place_low", "kneel", "stoop_lift", "squat_lift"]
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        write_synth(tmp / "synth", 2.0, 3, SynthConfig(layouts=("uwiom15",), recording_minutes=(0.5, 0.5)))
        step_ckpt = activity_helpers.trained_checkpoint(tmp / "step.pt")
        export_streaming(step_ckpt, tmp / "step")
        seq_ckpt = sequence_checkpoint(tmp, "mtl_gcn_edtcn")
        export_model(seq_ckpt, tmp / "seq")
        for name, onnx, groups in (("step", "edge_stream_step.onnx", STEP_GROUPS),
                                   ("seq", "mtl_gcn_edtcn.onnx", SEQUENCE_GROUPS)):
            (tmp / f"{name}.toml").write_text(groups)
            assert main(["calibrate", str(tmp / name / onnx), "--dataset", "synthetic", "--data", str(tmp / "synth"),
                         "--groups", str(tmp / f"{name}.toml"), "--samples", "128", "--out", str(tmp / name)]) == 0
    finally:
        torch.set_num_threads(before)
    return {"tmp": tmp, "step_ckpt": step_ckpt, "seq_ckpt": seq_ckpt}


@pytest.mark.parametrize("name", ["step", "seq"])
def test_every_precision_passes_with_the_parser_and_torch(made, name):
    ckpt = made["step_ckpt"] if name == "step" else made["seq_ckpt"]
    report = verify(made["tmp"] / name, ckpt)
    assert report["passed"] is True
    assert json.loads((made["tmp"] / name / "verify.json").read_text()) == report
    rows = {r["precision"]: r for r in report["models"]}
    assert set(rows) == {"fp32", "fp16", "int8"}
    outputs = {"activity_logits", "reba", "reba_partials"}
    for precision, row in rows.items():
        assert row["matches_manifest"] is True
        parser = row["parser"]
        if parser["ran"]:  # tensorrt-rtx is installed by set-up on x86_64
            assert parser["accepted"] and not parser["unsupported"], parser["errors"]
            if precision == "int8":
                assert parser["operators"]["QuantizeLinear"] > 0 and parser["operators"]["DequantizeLinear"] > 0
        parity = row["parity"]
        assert parity["ran"] and parity["passed"] and set(parity["outputs"]) == outputs
        for out in parity["outputs"].values():
            assert 0 <= out["error"] <= TOLERANCE[precision]
        assert parity["outputs"]["activity_logits"]["class_agreement"] >= 0.9
    assert rows["fp32"]["torch"]["passed"] and rows["fp32"]["parity"]["outputs"]["reba"]["error"] == 0.0
    assert rows["int8"]["calibration_report_passed"] is True
    assert report["engines"] == []


def test_a_delayed_step_without_partials_is_compared_with_torch_frame_for_frame(tmp_path):
    # As trained on UW-IOM with a second of latency: no REBA partials (an empty output), a delay.
    ckpt = activity_helpers.trained_checkpoint(tmp_path / "d.pt", delay=3, partials=())
    export_streaming(ckpt, tmp_path / "d")
    report = verify(tmp_path / "d", ckpt)
    (row,) = report["models"]
    assert row["torch"]["passed"], row["torch"]
    assert row["torch"]["outputs"]["activity_logits"]["class_agreement"] == 1.0
    assert row["torch"]["outputs"]["reba"]["error"] < 1e-4
    assert row["torch"]["outputs"]["reba_partials"]["error"] == 0.0


def test_a_changed_or_damaged_graph_fails(made, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    from edge.artifacts import sha256_file

    work = tmp_path / "step"
    shutil.copytree(made["tmp"] / "step", work)
    int8 = work / "edge_stream_step_int8.onnx"
    model = onnx.load(str(int8))
    # Damage the weights: every weight dequantized at 3x its scale.
    scales = {n.input[1] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    weights = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    for init in model.graph.initializer:
        if init.name in scales and any(w in {i.name for i in model.graph.initializer} for w in weights):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(3.0), init.name))
    onnx.save(model, str(int8))
    assert main(["verify", str(work)]) == 1
    printed = capsys.readouterr().out
    assert "CHANGED since its manifest" in printed and "FAILED" in printed
    manifest = json.loads(int8.with_suffix(".json").read_text())
    manifest["onnx_sha256"] = sha256_file(int8)  # the manifest rewritten to match: parity still catches it
    int8.with_suffix(".json").write_text(json.dumps(manifest))
    report = verify(work)
    row = next(r for r in report["models"] if r["precision"] == "int8")
    assert row["matches_manifest"] and not row["parity"]["passed"] and not report["passed"]


def test_graphs_made_from_an_earlier_export_fail_as_stale(made, tmp_path, capsys):
    work = tmp_path / "step"
    shutil.copytree(made["tmp"] / "step", work)
    # Another checkpoint exported into the same folder: the FP16/INT8 graphs beside it are the old model's.
    export_streaming(activity_helpers.trained_checkpoint(tmp_path / "other.pt", seed=1), work)
    report = verify(work)
    rows = {r["precision"]: r for r in report["models"]}
    assert rows["fp32"]["parity"]["passed"] and not report["passed"]
    for precision in ("fp16", "int8"):
        assert rows[precision]["parity"] == {"ran": False, "stale": True, "reason": (
            "made from an earlier edge_stream_step.onnx: the one in DIR has changed since (calibrate it again)")}
    assert main(["verify", str(work)]) == 1
    assert "parity FAILED: made from an earlier edge_stream_step.onnx" in capsys.readouterr().out
    # Without its FP32 graph at all (copied alone to a device) parity cannot run, and that alone fails nothing.
    (work / "edge_stream_step.onnx").unlink()
    (work / "edge_stream_step.json").unlink()
    report = verify(work)
    assert report["passed"] and all(not r["parity"]["ran"] and "stale" not in r["parity"] for r in report["models"])


def test_bad_input_is_one_line(made, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = [(["verify", str(tmp_path / "none")], "no such directory"),
             (["verify", str(tmp_path / "empty")], "no ONNX file with a manifest")]
    # Manifests of the wrong shape, beside a real export
    real = json.loads((made["tmp"] / "step" / "edge_stream_step.json").read_text())
    for name, manifest, fragment in (("list", [], "not a manifest (a JSON object)"),
                                     ("nolayout", {k: v for k, v in real.items() if k != "layout"}, "'layout'"),
                                     ("fps", {**real, "fps": 0}, "'fps' is missing or malformed"),
                                     ("norm", {**real, "normalisation": {"bogus": 1}}, "unknown key 'bogus'")):
        d = tmp_path / name
        d.mkdir()
        shutil.copy(made["tmp"] / "step" / "edge_stream_step.onnx", d / "m.onnx")
        (d / "m.json").write_text(json.dumps(manifest))
        cases.append((["verify", str(d)], fragment))
    engine = tmp_path / "engine"
    shutil.copytree(made["tmp"] / "step", engine)
    (engine / "m.engine").write_bytes(b"x")
    (engine / "m.json").write_text("{bad")
    cases.append((["verify", str(engine)], "m.json: unreadable manifest"))
    deep = tmp_path / "deep"
    shutil.copytree(made["tmp"] / "step", deep)
    (deep / "edge_stream_step.json").write_text("[" * 100_000 + "]" * 100_000)  # deeper than the JSON reader goes
    cases.append((["verify", str(deep)], "unreadable manifest (JSON nested too deeply)"))
    for argv, fragment in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "empty" / "verify.json").exists()
