"""Careless and hostile invocations of the core subcommands: each ends in one `ergoedge: error:` line and exit 2,
destroys nothing, leaves nothing behind and stays within bounded memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import numpy as np
import pytest

from edge.cli import main
from edge.datasets.sequence import Sequence, save_sequence
from edge.datasets.synth.example_lift import example_lift_sequence


def _error(capsys, *argv, fragment: str) -> None:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ergoedge: error: "), err
    assert fragment in lines[0], lines[0]


@pytest.fixture
def lift(tmp_path):
    joints = example_lift_sequence(seconds=4, fps=30, layout="blazepose33", up="-y")
    return save_sequence(Sequence(layout="blazepose33", fps=30.0, joints=joints, up=np.array([0.0, -1.0, 0.0])),
                         tmp_path / "lift.npz")


def test_a_negative_axis_works_as_written(lift, tmp_path, capsys):
    assert main(["score", str(lift), "--up", "-y", "--out", str(tmp_path / "o")]) == 0
    assert "scored 120 frames" in capsys.readouterr().out
    _error(capsys, "score", lift, "--up", "y", "--out", tmp_path / "o2", fragment="neck is not above the ankles")


@pytest.mark.parametrize("pitch, roll, fragment", [("nan", "0", "pitch"), ("1e308", "0", "pitch"),
                                                   ("10", "inf", "roll"), ("91", "0", "pitch")])
def test_a_bad_camera_tilt_leaves_the_calibration_untouched(tmp_path, capsys, pitch, roll, fragment):
    scenes = tmp_path / "scenes"
    assert main(["calibrate-scene", "--camera", "c1", "--pitch", "10", "--roll", "2", "--scene-dir", str(scenes)]) == 0
    capsys.readouterr()
    before = (scenes / "c1.json").read_bytes()
    _error(capsys, "calibrate-scene", "--camera", "c1", "--pitch", pitch, "--roll", roll, "--scene-dir", scenes,
           fragment=fragment)
    assert (scenes / "c1.json").read_bytes() == before


def test_a_source_with_pitch_and_roll_is_refused(tmp_path, capsys):
    _error(capsys, "calibrate-scene", tmp_path / "clip.mp4", "--camera", "c1", "--pitch", "10", "--roll", "0",
           "--scene-dir", tmp_path, fragment="not both")


def test_worksheet_files_that_are_not_worksheets(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10000 + "]" * 10000)
    _error(capsys, "assess", deep, fragment="nested too deeply")
    big_int = tmp_path / "big.json"
    big_int.write_text(json.dumps({"method": "reba", "neck": {"flexion_deg": int("9" * 400)}}))
    _error(capsys, "assess", big_int, fragment="400-digit number")
    _error(capsys, "assess", "/dev/zero", fragment="not a regular file")
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(200 * 2**20)  # sparse: 200 MiB that costs no disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _error(capsys, "assess", huge, fragment="larger than 16 MiB")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB: read no more than the cap


def test_misleading_messages_say_what_is_wrong(tmp_path, capsys, lift):
    (tmp_path / "existing").write_text("x")
    _error(capsys, "score", lift, "--out", tmp_path / "existing", fragment="is a file, not a directory")
    text = tmp_path / "poses.npy"
    text.write_text("1 2 3")
    _error(capsys, "score", text, "--layout", "coco17", "--up", "z", "--fps", "30", "--out", tmp_path / "o",
           fragment="not a readable numpy .npy file")
    _error(capsys, "data", "stats", "/dev/zero", fragment="neither a file nor a directory")
    _error(capsys, "pose", lift, "--out", tmp_path / "o", "--model", tmp_path / "missing.onnx",
           fragment="no such model file")
    for frames in ("0", "-3"):
        _error(capsys, "pose", lift, "--out", tmp_path / "o", "--max-frames", frames, fragment="--max-frames")


def test_nothing_is_left_behind_after_a_failure(tmp_path, capsys, lift, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _error(capsys, "score", lift, "--out", "", fragment="output directory is empty")
    _error(capsys, "score", lift, "--up", "x", "--out", tmp_path / "scores", fragment="not above the ankles")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    _error(capsys, "pose", broken, "--out", tmp_path / "pose", fragment="broken.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4", "lift.npz"]


def test_a_truncated_video_gives_one_line_without_decoder_noise(footage, tmp_path, blazepose_models):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes((footage / "pose2sim" / "cam01.mp4").read_bytes()[:200_000])
    done = subprocess.run([sys.executable, "-c", "import sys; from edge.cli import main; sys.exit(main())", "pose",
                           str(truncated), "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"ergoedge: error: {truncated}: not a readable video or image"]
