"""Long pose sequences (issue 11, item 8): the sizes a file's headers declare are checked before anything is read,
and `ergoedge score` scores a long recording in parts, in bounded memory, with the results of scoring it whole."""

from __future__ import annotations

import io
import json
import math
import os
import resource
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy

from edge.cli import main
from edge.datasets.sequence import Sequence, save_sequence
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.datasets.synth.generator import generate
from edge.ergonomics.l5s1 import BodyParams, L5S1Config
from edge.scoring.methods import ScoreConfig
from edge.scoring.offline import score_sequence
from edge.skeletons import get_layout, parse_up

# The parts-scoring API is imported in the tests that use it, so that the others run (and fail) without it.

POSE = ["--layout", "blazepose33", "--up", "z", "--fps", "30"]
L5S1_COLUMNS = ("l5s1_moment_nm", "l5s1_moment_extension_nm", "l5s1_moment_lateral_nm", "l5s1_moment_twist_nm",
                "l5s1_compression_n")


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ERGOEDGE_STATE_DIR", str(tmp_path / "state"))  # where an internal error's traceback goes


def _error(capsys, *argv, fragment: str) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ergoedge: error: "), err
    assert fragment in lines[0], lines[0]
    return lines[0]


def _npy(header: dict | str, body: bytes = b"\0" * 64, version: bytes = b"\x01\x00") -> bytes:
    """A .npy file's bytes: `header` written by numpy (a dict) or as given (text), then `body`."""
    if isinstance(header, dict):
        out = io.BytesIO()
        npy.write_array_header_1_0(out, header)
        return out.getvalue() + body
    text = header.encode("latin1") + b"\n"
    return npy.MAGIC_PREFIX + version + len(text).to_bytes(2, "little") + text + body


def _file(tmp_path, suffix: str, arrays: dict[str, bytes]):
    """`arrays` (name -> .npy bytes) as one .npy file (the first) or as the members of an .npz."""
    path = tmp_path / f"poses{suffix}"
    if suffix == ".npy":
        path.write_bytes(next(iter(arrays.values())))
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in arrays.items():
                archive.writestr(f"{name}.npy", data)
    return path


def _max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_a_header_declaring_billions_of_frames_is_refused_unread(tmp_path, capsys, suffix):
    # 3e9 frames of BlazePose float32: 1.1 TiB declared by a file of a few hundred bytes.
    path = _file(tmp_path, suffix, {"joints": _npy({"descr": "<f4", "fortran_order": False,
                                                    "shape": (3_000_000_000, 33, 3)})})
    before = _max_rss_kib()
    line = _error(capsys, "score", path, *POSE, "--out", tmp_path / "out", fragment="declares 3,000,000,000 frames")
    assert "at most 2,000,000 frames (18.5 h at 30 fps)" in line
    assert _max_rss_kib() - before < 64 * 1024  # KiB: nothing was allocated for the data
    assert not (tmp_path / "out").exists()


def test_arrays_that_declare_more_than_the_byte_cap_together_are_refused(tmp_path, capsys):
    # A sequence file whose joints and 2D keypoints are each within the frame cap, 3 GB together (cap 1.58 GB).
    small = save_sequence(Sequence(layout="blazepose33", fps=30.0, joints=np.zeros((2, 33, 3)),
                                   up=np.array([0.0, 0.0, 1.0])), tmp_path / "small.npz")
    big = {"descr": "<f8", "fortran_order": False, "shape": (1_500_000, 33, 3)}
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w") as archive:
        for info in source.infolist():
            if info.filename not in ("joints.npy",):
                archive.writestr(info, source.read(info))
        archive.writestr("joints.npy", _npy(big))
        archive.writestr("keypoints2d.npy", _npy(big))
    _error(capsys, "score", path, "--out", tmp_path / "out", fragment="its arrays declare 2.21 GiB; at most 1.48 GiB")


@pytest.mark.parametrize("header, version", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 33, 3", b"\x01\x00"),  # unterminated
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 33, 3), }", b"\x01\x00"),  # negative length
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 33, 3), }", b"\x07\x00"),  # no such version
    ("[1, 2, 3]", b"\x01\x00"),  # not a dictionary
])
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_a_malformed_header_is_refused_in_one_line(tmp_path, capsys, suffix, header, version):
    path = _file(tmp_path, suffix, {"joints": _npy(header, version=version)})
    _error(capsys, "score", path, *POSE, "--out", tmp_path / "out", fragment="malformed numpy array header")
    assert not (tmp_path / "out").exists()


def _run_ends(valid: np.ndarray, reach: int) -> np.ndarray:
    """Frames within `reach` frames of an invalid frame or of either end of the recording."""
    bounds = np.concatenate([[-1], np.flatnonzero(~valid), [valid.size]])
    frames = np.arange(valid.size)
    after = np.searchsorted(bounds, frames)
    return np.minimum(frames - bounds[after - 1], bounds[after] - frames) <= reach


def _assert_parts_equal_whole(joints, layout, up, fps, cfg, chunk_frames):
    from edge.scoring.chunked import score_blocks
    from edge.scoring.summary import SummaryBuilder

    whole = score_sequence(joints, layout, up, fps, cfg)
    blocks = list(score_blocks(joints, layout, up, fps, cfg, chunk_frames))
    assert [len(b["time_s"]) for b in blocks[:-1]] == [chunk_frames] * (len(blocks) - 1)
    summary = SummaryBuilder(fps, layout, cfg)
    for block in blocks:
        summary.add(block)
    assert summary.result() == whole.summary
    parts = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
    assert list(parts) == list(whole.columns)
    for name, column in whole.columns.items():
        if name not in L5S1_COLUMNS:
            np.testing.assert_array_equal(parts[name], column, err_msg=name)
    # The L5/S1 low-pass sums run over other lengths in a part: rounding, 1e-15 m in positions, 1e-13 of a column's
    # range after two derivatives at 1/dt^2 (1e-12 allowed). Within 2 s of either end of a run of valid frames the
    # numpy low-pass of edge.signals (one FFT over the run, padded until its transient is down to 1e-6) also feels
    # the run's far end, which a part cuts elsewhere: 1e-6 of the range there. (A scipy sosfiltfilt stand-in gave
    # bitwise equal columns: it has no such coupling.)
    valid = np.isfinite(whole.columns["l5s1_compression_n"])
    ends = _run_ends(valid, int(2 * fps))
    for name in L5S1_COLUMNS:
        column, part = whole.columns[name], parts[name]
        np.testing.assert_array_equal(np.isnan(part), np.isnan(column), err_msg=name)
        scale = np.nanmax(np.abs(column))
        error = np.abs(np.nan_to_num(part - column))
        assert error[~ends].max(initial=0.0) <= 1e-12 * scale, name
        assert error[ends].max(initial=0.0) <= 1e-6 * scale, name
    return whole


def test_the_example_lift_scored_in_parts_equals_it_scored_whole():
    joints = example_lift_sequence(seconds=180.0, fps=30.0).astype(np.float32).astype(np.float64)
    cfg = ScoreConfig(load_kg=10.0)
    whole = _assert_parts_equal_whole(joints, get_layout("blazepose33"), parse_up("z"), 30.0, cfg, 1000)
    assert whole.summary["frames"] == 5400 and whole.summary["reba"]["time_s_high_or_above"] == pytest.approx(42.367)
    assert whole.columns["repeated"].any()  # repetitions need 60 s of history: parts of 33 s cannot see it alone


def test_a_synthetic_recording_with_gaps_scored_in_parts_equals_it_scored_whole():
    seq = generate(3.0, 7, SynthConfig(recording_minutes=(3.0, 3.0), joint_noise_mm=5.0))[0]
    joints = seq.joints.astype(np.float64)
    joints[1000:1010, 15] = np.nan  # the left wrist unseen for a third of a second
    joints[2500:2505] = np.nan  # nobody seen
    joints[3990:4000, 11] = np.nan  # the left shoulder unseen at a part's end
    person = seq.metadata["body"]  # a stature given: L5/S1 scales segments by it, not by the measured trunk
    cfg = ScoreConfig(load_kg=8.0, body=BodyParams(person["mass_kg"], person["height_m"], person["sex"]))
    whole = _assert_parts_equal_whole(joints, get_layout(seq.layout), seq.up, seq.fps, cfg, 1000)
    assert whole.summary["frames"] == 5400 and np.isnan(whole.columns["l5s1_compression_n"][2500:2505]).all()


def test_the_l5s1_context_holds_all_but_1e_20_of_the_low_pass():
    from scipy.signal import butter, sosfilt

    from edge.ergonomics.l5s1 import context_frames

    for fps, cutoff, order in ((30.0, 8.0, 4), (100.0, 8.0, 4), (30.0, 1.0, 4), (16.0, 8.0, 4), (30.0, 8.0, 10)):
        config = L5S1Config(cutoff_hz=cutoff, filter_order=order)
        reach = context_frames(fps, config) - 2  # less the derivatives' two frames
        impulse = np.zeros(4 * reach)
        impulse[0] = 1.0
        forward = sosfilt(butter(order, min(cutoff, 0.4 * fps), fs=fps, output="sos"), impulse)
        both = np.correlate(forward, forward, "full")  # forwards then backwards: the response's autocorrelation
        lags = np.abs(np.arange(both.size) - (forward.size - 1))
        assert np.abs(both[lags > reach]).sum() < 1e-20 * np.abs(both).sum(), (fps, cutoff, order)
    assert context_frames(30.0) == 117 and context_frames(30.0, L5S1Config(cutoff_hz=None)) == 18


def test_the_timeline_of_a_long_recording_is_the_largest_value_per_bin():
    from edge.scoring.outputs import TimelineBins

    rng = np.random.default_rng(3)
    n = 10_007
    columns = {name: rng.normal(size=n) for name in ("reba_total", "rula_grand", "l5s1_compression_n")}
    columns["reba_total"][5000:5100] = np.nan
    columns["time_s"] = np.arange(n) / 30.0
    bins = TimelineBins(n)
    for start in range(0, n, 777):
        bins.add({name: column[start:start + 777] for name, column in columns.items()})
    got = bins.columns()
    starts = np.arange(2000) * n // 2000
    np.testing.assert_array_equal(got["time_s"], starts / 30.0)
    for name in ("reba_total", "rula_grand", "l5s1_compression_n"):
        np.testing.assert_array_equal(got[name], np.fmax.reduceat(columns[name], starts))


def _cells(path):
    lines = path.read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def test_ergoedge_score_writes_a_long_recording_in_parts_with_progress(tmp_path, capsys, monkeypatch):
    joints = example_lift_sequence(seconds=180.0, fps=30.0)
    poses = save_sequence(Sequence(layout="blazepose33", fps=30.0, joints=joints.astype(np.float32),
                                   up=np.array([0.0, 0.0, 1.0])), tmp_path / "lift.npz")
    assert main(["score", str(poses), "--load-kg", "10", "--out", str(tmp_path / "whole")]) == 0
    whole = capsys.readouterr()
    monkeypatch.setattr("edge.scoring.chunked.CHUNK_FRAMES", 1000)
    assert main(["score", str(poses), "--load-kg", "10", "--out", str(tmp_path / "parts")]) == 0
    parts = capsys.readouterr()
    assert whole.err == ""  # no progress for what fits in one part
    assert parts.err.splitlines() == [f"scoring: {p}%" for p in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    assert parts.out == whole.out.replace(str(tmp_path / "whole"), str(tmp_path / "parts"))
    assert parts.out.startswith("scored 5400 frames (180.0 s): REBA peak 9.0, 42.4 s at high risk or above\n")

    summary = {k: json.loads((tmp_path / k / "summary.json").read_text()) for k in ("whole", "parts")}
    assert summary["parts"] == summary["whole"]
    names, rows = _cells(tmp_path / "whole/scores.csv")
    names_parts, rows_parts = _cells(tmp_path / "parts/scores.csv")
    assert names_parts == names and len(rows_parts) == len(rows) == 5400
    l5s1 = [names.index(name) for name in L5S1_COLUMNS]
    for row, row_parts in zip(rows, rows_parts):
        assert [c for i, c in enumerate(row_parts) if i not in l5s1] == [c for i, c in enumerate(row) if i not in l5s1]
        assert np.allclose([float(row_parts[i]) for i in l5s1], [float(row[i]) for i in l5s1], rtol=0, atol=0.0015)
    assert (tmp_path / "parts/timeline.png").stat().st_size > 10_000


# Peak memory of `ergoedge score` on 300,000 frames (2.8 hours at 30 fps, float32 BlazePose: 119 MB of joints).
# Scored whole it took 1.7 GB; in parts it takes 0.4 GB: the joints plus a bounded working set.
MEMORY_CAP_KIB = 700 * 1024
# Runs the command and prints its peak memory (KiB). Started from this small fresh process, not from pytest: a
# child's ru_maxrss starts from its parent's peak at fork (Linux carries it over exec).
_PEAK_OF_CHILD = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                  "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def test_a_long_recording_is_scored_in_bounded_memory(tmp_path):
    cycle = example_lift_sequence(seconds=60.0, fps=30.0).astype(np.float32)
    np.save(tmp_path / "long.npy", np.tile(cycle, (300_000 // len(cycle) + 1, 1, 1))[:300_000])
    score = [sys.executable, "-m", "edge", "score", str(tmp_path / "long.npy"), *POSE, "--out", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, *score], capture_output=True, text=True,
                          timeout=600, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                                            "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    code, max_rss_kib = (int(word) for word in done.stdout.split()[-2:])
    assert code == 0, done.stderr[-2000:]
    assert done.stdout.startswith("scored 300000 frames (10000.0 s)")
    assert max_rss_kib < MEMORY_CAP_KIB, f"{max_rss_kib / 1024:.0f} MiB"
    assert sum(1 for _ in open(tmp_path / "out/scores.csv")) == 300_001
    assert math.isclose(json.loads((tmp_path / "out/summary.json").read_text())["duration_s"], 10000.0)
