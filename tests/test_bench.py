"""`ergoedge bench` (runtime/bench.py) on a short real clip: the run end to end and the per-stage costs for 1 to N
people with the real BlazePose (ONNX Runtime) and an exported activity step, written as bench.json and bench.md;
the per-people rows add up from the per-call medians; bad input is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the test exports an activity model (the train extra)")

from edge.cli import main  # noqa: E402
from export.onnx_stream import export_streaming  # noqa: E402

import activity_helpers  # tests/ is on sys.path under pytest

FRAMES = 20


@pytest.fixture(scope="module")
def run_config(tmp_path_factory, blazepose_models):
    tmp = tmp_path_factory.mktemp("bench")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        step = export_streaming(activity_helpers.trained_checkpoint(tmp / "best.pt"), tmp / "model").onnx
    finally:
        torch.set_num_threads(before)
    config = tmp / "run.toml"
    config.write_text(f'[pose]\nbackend = "onnxruntime"\n\n[activity]\nmodel = "{step}"\nbackend = "onnxruntime"\n')
    return config


def test_bench_writes_its_report(tmp_path, footage, run_config, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bench"
    assert main(["bench", "--source", str(footage / "pose2sim" / "cam01.mp4"), "--config", str(run_config),
                 "--people", "1,3", "--frames", str(FRAMES), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "end to end:" in printed and "3 people:" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"], "nothing written outside --out"
    result = json.loads((out / "bench.json").read_text())
    # max_seconds from the container's frame rate; the run counts by GStreamer's timestamps, which may differ a frame
    assert FRAMES - 3 <= result["end_to_end"]["frames"] <= FRAMES and result["end_to_end"]["fps"] > 0
    assert set(result["end_to_end"]["stages"]) >= {"pose", "score", "alerts"}
    costs = result["stages"]
    assert costs["split_pose"] is True and costs["runtime"] == "CPUExecutionProvider"
    assert costs["frames"] == FRAMES and costs["frames_with_person"] >= FRAMES - 2  # one lifting person in view
    stages = costs["stages"]
    assert stages["pose"]["calls"] == stages["detect"]["calls"] == FRAMES
    assert stages["landmarks"]["calls"] % 3 == 0 and stages["landmarks"]["calls"] >= 3 * (FRAMES - 2)
    assert stages["score_1"]["calls"] == stages["score_3"]["calls"] == costs["frames_with_person"]
    assert stages["activity"]["calls"] == 3 * costs["frames_with_person"]
    assert costs["activity_model"].endswith("edge_stream_step.onnx")
    one, three = result["per_people"]
    assert (one["people"], three["people"]) == (1, 3)
    per_person = stages["landmarks"]["median_ms"] + stages["activity"]["median_ms"]
    scoring = stages["score_3"]["median_ms"] - stages["score_1"]["median_ms"]
    assert three["frame_ms"] - one["frame_ms"] == pytest.approx(2 * per_person + scoring, abs=0.01)
    assert (one["score_ms"], three["score_ms"]) == (stages["score_1"]["median_ms"], stages["score_3"]["median_ms"])
    assert one["fps"] == pytest.approx(1000 / one["frame_ms"], abs=0.1) and three["fps"] < one["fps"]
    table = (out / "bench.md").read_text()
    assert "| 3 |" in table and "| landmarks |" in table


def test_an_interrupted_bench_leaves_its_earlier_figures(tmp_path, footage, run_config, monkeypatch, capsys):
    import runtime.session

    out = tmp_path / "bench"
    out.mkdir()
    (out / "bench.json").write_text("{}\n")
    # The end-to-end run takes Ctrl-C or SIGTERM as "stop" and reports it (tests/test_run.py); bench stops too.
    monkeypatch.setattr(runtime.session, "run", lambda config, out, status: {"interrupted": True, "frames": 3})
    assert main(["bench", "--source", str(footage / "pose2sim" / "cam01.mp4"), "--config", str(run_config),
                 "--people", "1", "--frames", str(FRAMES), "--out", str(out)]) == 130
    assert (out / "bench.json").read_text() == "{}\n" and not (out / "bench.md").exists()


def test_bench_refuses_bad_input_in_one_line(tmp_path, run_config, capsys):
    import cv2

    blank = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(12):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    cases = ((["--source", str(blank)], "found nobody"),
             (["--source", str(tmp_path / "none.mp4")], "no such clip"),
             (["--source", str(blank), "--people", "0"], "--people"),
             (["--source", str(blank), "--people", "1,x"], "--people"),
             (["--source", str(blank), "--frames", "5"], "--frames"))
    for argv, fragment in cases:
        out = tmp_path / "out"
        assert main(["bench", *argv, "--config", str(run_config), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert fragment in err and len(err.strip().splitlines()) == 1, err
        assert not (out / "bench.json").exists()
