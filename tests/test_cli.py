"""The ergoedge command: happy paths, and bad input ending in one error line and exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.datasets.synth.posing import Posture, posed_joints
from edge.skeletons import get_layout


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ergoedge: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def poses(tmp_path):
    joints = posed_joints(Posture(trunk_flexion=np.linspace(0, 60, 45)), get_layout("coco17"))
    path = tmp_path / "poses.npy"
    np.save(path, joints)
    return path, joints


def test_assess_single_and_list(tmp_path, capsys):
    sheet = {"method": "niosh", "load_kg": 10, "h_cm": 70, "v_origin_cm": 75, "v_dest_cm": 75,
             "asymmetry_deg": 0, "frequency_per_min": 1, "duration": "short", "coupling": "good"}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(sheet))
    code, out, err = _run(capsys, "assess", str(path))
    result = json.loads(out)
    assert code == 0 and result["multipliers"]["hm"] == 0.0 and result["li"] is None
    assert any("63" in w for w in result["warnings"])
    path.write_text(json.dumps([sheet, sheet]))
    code, out, _ = _run(capsys, "assess", str(path))
    assert code == 0 and len(json.loads(out)) == 2


@pytest.mark.parametrize("text, fragments", [
    ('{"method": "reba", ', ["malformed JSON", "line 1"]),
    ('{"method": "reba", "neck": {"flexion_deg": 10, "flex": 3}}', ["unknown field 'flex'"]),
    ('{"method": "rula", "upper_arm": {"flexion_deg": "ten"}}', ["upper_arm.flexion_deg", "expected a number"]),
    ('{"method": "niosh", "load_kg": NaN}', ["NaN"]),
    ('{"method": "owas"}', ["unknown method 'owas'"]),
    ('42', ["worksheet"]),
])
def test_assess_bad_input(tmp_path, capsys, text, fragments):
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, _, err = _run(capsys, "assess", str(path))
    _assert_one_line_error(code, err, *fragments)


def test_assess_missing_file(tmp_path, capsys):
    code, _, err = _run(capsys, "assess", str(tmp_path / "nope.json"))
    _assert_one_line_error(code, err, "no such file", "nope.json")


def test_score_writes_outputs(tmp_path, capsys, poses):
    path, joints = poses
    out = tmp_path / "run"
    code, stdout, err = _run(capsys, "score", str(path), "--layout", "coco17", "--up", "z", "--fps", "15",
                             "--body-mass", "70", "--height", "1.75", "--sex", "female", "--load-kg", "5",
                             "--out", str(out))
    assert code == 0, err
    assert "scored 45 frames" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 45 and summary["duration_s"] == pytest.approx(3.0)
    assert summary["config"]["body"] == {"mass_kg": 70.0, "height_m": 1.75, "sex": "female"}
    assert summary["run"]["layout"] == "coco17" and summary["run"]["up"] == [0.0, 0.0, 1.0]
    lines = (out / "scores.csv").read_text().splitlines()
    assert len(lines) == 46


def test_score_npz_carries_its_own_metadata(tmp_path, capsys, poses):
    _, joints = poses
    path = tmp_path / "poses.npz"
    np.savez(path, joints=joints, fps=np.float64(30.0), layout="coco17", up="z")
    code, _, err = _run(capsys, "score", str(path), "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["fps"] == 30.0


def test_example_poses_round_trip(tmp_path, capsys):
    path = tmp_path / "ex.npz"
    code, _, err = _run(capsys, "example-poses", str(path), "--seconds", "2", "--fps", "10", "--layout", "h36m17")
    assert code == 0, err
    with np.load(path) as data:
        assert data["joints"].shape == (20, 17, 3) and str(data["layout"]) == "h36m17" and float(data["fps"]) == 10
    for args, message in ((["--fps", "inf"], "--fps must be a number from 1 to 1000, got inf"),
                          (["--fps", "1e9"], "--fps must be a number from 1 to 1000"),
                          (["--seconds", "1e-5", "--fps", "10"], "--seconds must be a number from 0.1 to 200000")):
        code, _, err = _run(capsys, "example-poses", str(tmp_path / "bad.npz"), *args)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad.npz").exists()


def _bad_pose_files(tmp_path, joints):
    nan = joints.copy()
    nan[5, 3] = np.nan
    inf = joints.copy()
    inf[2, 0, 1] = np.inf
    files = {
        "nan": (nan, ["NaN", "frame 5", "left_ear", "--allow-missing"]),
        "inf": (inf, ["infinite", "frame 2"]),
        "shape2d": (joints[:, :, :2], ["shape (frames, joints, 3)"]),
        "wrongjoints": (joints[:, :15], ["15 points per frame", "coco17 has 17"]),
        "millimetres": (joints * 1000.0, ["metres"]),
        "empty": (joints[:0], ["no frames"]),
        "strings": (np.array([["a"]]), ["must be numbers"]),
    }
    out = {}
    for name, (array, fragments) in files.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, array)
        out[name] = (path, fragments)
    return out


def test_score_bad_input(tmp_path, capsys, poses):
    _, joints = poses
    base = ["--layout", "coco17", "--up", "z", "--fps", "30", "--out", str(tmp_path / "o")]
    for name, (path, fragments) in _bad_pose_files(tmp_path, joints).items():
        code, _, err = _run(capsys, "score", str(path), *base)
        _assert_one_line_error(code, err, *fragments)
    good = tmp_path / "good.npy"
    np.save(good, joints)
    cases = [
        (["score", str(tmp_path / "missing.npy"), *base], ["no such file"]),
        (["score", str(good), "--layout", "openpose", "--up", "z", "--fps", "30", "--out", "x"], ["unknown layout"]),
        (["score", str(good), "--layout", "coco17", "--fps", "30", "--out", "x"], ["--up"]),
        (["score", str(good), "--layout", "coco17", "--up", "z", "--out", "x"], ["--fps"]),
        (["score", str(good), "--layout", "coco17", "--up", "q", "--fps", "30", "--out", "x"], ["bad up vector"]),
        (["score", str(good), "--layout", "coco17", "--up", "z", "--fps", "0", "--out", "x"], ["frame rate"]),
        (["score", str(good), "--layout", "coco17", "--up", "z", "--fps", "abc", "--out", "x"], ["--fps"]),
        (["score", str(good), *base[:6]], ["--out"]),
        (["score", str(good), *base, "--load-kg", "-3"], ["load"]),
        (["score", str(good), *base, "--body-mass", "5"], ["mass"]),
        (["score", str(tmp_path), *base], ["directory"]),
        (["frobnicate"], ["invalid choice"]),
    ]
    for argv, fragments in cases:
        code, _, err = _run(capsys, *argv)
        _assert_one_line_error(code, err, *fragments)
    text = tmp_path / "poses.txt"
    text.write_text("1 2 3")
    code, _, err = _run(capsys, "score", str(text), *base)
    _assert_one_line_error(code, err, "unsupported file type")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = _run(capsys, "score", str(corrupt), *base)
    _assert_one_line_error(code, err, "not a readable sequence or numpy")


def test_allow_missing_scores_the_rest(tmp_path, capsys, poses):
    _, joints = poses
    nan = joints.copy()
    nan[5, 11] = np.nan  # left hip
    path = tmp_path / "nan.npy"
    np.save(path, nan)
    code, _, err = _run(capsys, "score", str(path), "--layout", "coco17", "--up", "z", "--fps", "30",
                        "--allow-missing", "--out", str(tmp_path / "o"))
    assert code == 0, err
    rows = (tmp_path / "o" / "scores.csv").read_text().splitlines()
    header = rows[0].split(",")
    total = header.index("reba_total")
    assert rows[6].split(",")[total] == "" and rows[7].split(",")[total] != ""


def test_console_entry_points_run_as_processes(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    script = Path(sys.executable).parent / "ergoedge"  # the console script installed beside this Python
    assert script.exists()
    for cmd in ([sys.executable, "-m", "edge"], [str(script)]):
        proc = subprocess.run([*cmd, "assess", str(bad)], capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("ergoedge: error:")
    proc = subprocess.run([sys.executable, "-m", "edge", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "ergo-edge" in proc.stdout


def test_import_edge_is_light():
    code = ("import sys, edge, edge.skeletons, edge.kinematics, edge.scoring.offline, edge.ergonomics.worksheet;"
            "heavy = [m for m in ('torch', 'gi', 'tensorrt', 'matplotlib', 'scipy', 'onnxruntime', 'openvino')"
            " if m in sys.modules];"
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# A command that holds a temporary folder until it is stopped; argv[1]: where. The parser gets it the way each stage
# adds its own (a subparser with `func`).
_HOLDING = """
import argparse, signal, sys, tempfile
import edge.cli as cli

def hold(args):
    with tempfile.TemporaryDirectory(dir=args.where) as folder:
        print(folder, flush=True)
        signal.pause()
    return 0

def with_hold(build=cli.build_parser):
    parser = build()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.add_parser("hold").set_defaults(func=hold)
    parser.add_argument("--where")
    return parser

cli.build_parser = with_hold
sys.exit(cli.main(["--where", sys.argv[1], "hold"]))
"""


def test_sigterm_ends_a_command_through_its_cleanup(tmp_path):
    import signal

    proc = subprocess.Popen([sys.executable, "-c", _HOLDING, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"})
    folder = Path(proc.stdout.readline().strip())
    assert folder.parent == tmp_path and folder.is_dir()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err == ""  # as a shell reports a SIGTERM, without a traceback
    assert not folder.exists()  # the default action would have left it
