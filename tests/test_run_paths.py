"""`ergoedge run` never destroys what it reads or keeps, says when an output fails, and leaves nothing behind when
it cannot start: the real command line on the real clip, with real SQLite stores and real GStreamer outputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.errors import InputError
from edge.pose.scene import make_calibration, save_calibration, up_from_pitch_roll
from runtime.alerts.event import AlertEvent
from runtime.alerts.outbox import Outbox
from runtime.alerts.store import EventStore
from runtime.video.outputs import VideoRecorder
from runtime.video.pipelines import RECORDING_TAG

REPO = Path(__file__).resolve().parents[1]
RULES = (REPO / "examples" / "demo-run.toml").read_text()


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (symlinks as their target) -> its sha256: what a failed run must leave as it was."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path.relative_to(root)) + "/"] = "dir"
    return found


def is_recording(path: Path) -> bool:
    """Whether `path` is an MP4 as the recorder writes it: mp4mux's ftyp box (major brand mp42) first, its tag."""
    return path.is_file() and path.read_bytes()[4:12] == b"ftypmp42" and RECORDING_TAG.encode() in path.read_bytes()


def _one_error(capsys, argv, code: int = 2) -> str:
    got = main([str(a) for a in argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert got == code and len(lines) == 1 and lines[0].startswith("ergoedge: error: "), (got, lines)
    return lines[0]


@pytest.fixture
def world(footage, tmp_path):
    """A device's files before a run: the footage, a config with an MQTT outbox, a scene calibration, an event
    store holding an event and an outbox holding an undelivered alert."""
    w = tmp_path / "w"
    w.mkdir()
    shutil.copy(footage / "pose2sim" / "cam01.mp4", w / "clip.mp4")
    with socket.socket() as s:  # a port nobody listens on: the broker is down, the alert waits in the outbox
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (w / "run.toml").write_text(RULES + f'\n[sinks.mqtt]\nport = {port}\noutbox_path = "{w / "outbox.sqlite"}"\n')
    save_calibration(make_calibration("cam01", up_from_pitch_roll(10, 0), "pitch_roll"), w / "scenes")
    event = AlertEvent("raised", "reba_high", 0, "warning", 1.0, "2026-01-05T08:00:00+00:00", 9.0, 8.0, 3.0, "cam01")
    with EventStore(w / "events.db") as store:
        store.add(event)
    outbox = Outbox(w / "outbox.sqlite")
    outbox.add(event.event_id, "ergo-edge/cam01/alerts", json.dumps(event.to_dict()))
    outbox.close()
    return w


def _argv(w: Path, *extra) -> list:
    return ["run", "--source", w / "clip.mp4", "--config", w / "run.toml", "--scene-dir", w / "scenes",
            "--events-db", w / "events.db", "--out", w / "out", "--max-seconds", "0.2", *extra]


# --record TARGET (in the device's folder) -> what the error names.
SAME_FILE = [
    ("clip.mp4", "the source"),
    ("events.db", "the event store"),
    ("outbox.sqlite", "the MQTT outbox"),
    ("outbox.sqlite.lock", "the MQTT outbox's lock"),
    ("scenes/cam01.json", "the scene calibration"),
    ("run.toml", "the config file"),
    ("link-to-events.db", "the event store"),  # a symlink
    ("hardlink-to-clip.mp4", "the source"),  # a hard link
    ("scenes/../events.db", "the event store"),
]


@pytest.mark.parametrize("target, what", SAME_FILE, ids=[t.replace("/", "_") for t, _ in SAME_FILE])
def test_a_recording_never_replaces_an_input_or_a_store(world, capsys, target, what):
    (world / "link-to-events.db").symlink_to(world / "events.db")
    os.link(world / "clip.mp4", world / "hardlink-to-clip.mp4")
    before = _snapshot(world)
    line = _one_error(capsys, _argv(world, "--record", world / target))
    assert "is the same file as" in line and what in line, line
    assert _snapshot(world) == before  # the events, the undelivered alert, the footage: all still there


def test_the_alert_log_and_the_reports_are_checked_too(world, capsys):
    before = _snapshot(world)
    argv = _argv(world)
    argv[argv.index("--events-db") + 1] = world / "out" / "alerts.jsonl"
    assert "the alert log" in _one_error(capsys, argv)
    assert _snapshot(world) == before
    argv = _argv(world)
    argv[argv.index("--source") + 1] = world / "out" / "report.json"
    (world / "out").mkdir()
    shutil.copy(world / "clip.mp4", world / "out" / "report.json")
    before = _snapshot(world)
    assert "the report (json)" in _one_error(capsys, argv)
    assert _snapshot(world) == before


def test_a_recording_replaces_only_an_earlier_recording(world, capsys):
    (world / "notes.txt").write_text("shift notes\n")
    shutil.copy(world / "clip.mp4", world / "other.mp4")  # an MP4, but not one this product wrote
    before = _snapshot(world)
    for target in ("notes.txt", "other.mp4"):
        line = _one_error(capsys, _argv(world, "--record", world / target))
        assert "is not an earlier recording" in line, line
        with pytest.raises(InputError, match="not an earlier recording"):
            VideoRecorder(world / target, 30, 64, 64)
    assert _snapshot(world) == before
    # An earlier recording is replaced by the new one.
    with VideoRecorder(world / "rec.mp4", 30, 64, 48) as rec:
        for _ in range(3):
            rec.write(np.zeros((48, 64, 3), np.uint8))
    old = (world / "rec.mp4").read_bytes()
    # An MP4 that starts exactly like a recording (a camera muxing with the same GStreamer) but lacks its tag.
    lookalike = world / "camera.mp4"
    lookalike.write_bytes(old.replace(RECORDING_TAG.encode(), b"x" * len(RECORDING_TAG)))
    assert old[:64] == lookalike.read_bytes()[:64] and RECORDING_TAG.encode() in old
    assert "is not an earlier recording" in _one_error(capsys, _argv(world, "--record", lookalike))
    assert main([str(a) for a in _argv(world, "--record", world / "rec.mp4")]) == 0
    assert is_recording(world / "rec.mp4") and (world / "rec.mp4").read_bytes() != old


def test_record_path_problems_are_refused_before_any_work(world, capsys):
    (world / "videos").mkdir()
    before = _snapshot(world)
    line = _one_error(capsys, _argv(world, "--record", world / "videos"))
    assert "is a directory" in line
    line = _one_error(capsys, _argv(world, "--record", world / "missing" / "run.mp4"))
    assert "does not exist" in line
    assert _snapshot(world) == before  # no output folder, no .part, no store touched


def test_a_failed_output_is_a_non_zero_exit_and_in_the_report(world, capfd):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        argv = _argv(world, "--rtsp-port", port, "--record", world / "out" / "annotated.mp4")
        argv[argv.index("--max-seconds") + 1] = "1"
        code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("ergoedge: error: ")]
    assert len(errors) == 1 and f"RTSP output rtsp://127.0.0.1:{port}/ergo" in errors[0], err
    report = json.loads((world / "out" / "report.json").read_text())
    assert report["final"] is True
    outputs = {o["output"]: o for o in report["outputs"]}
    assert outputs["RTSP output"]["ok"] is False and "cannot listen" in outputs["RTSP output"]["error"]
    # The run went on without it: every frame scored, alerts raised, the recording finished.
    assert report["frames"] > 50 and sum(report["alert_counts"]["raised"].values()) >= 1
    assert outputs["recording"]["ok"] is True and is_recording(world / "out" / "annotated.mp4")
    assert f"annotated video: {world / 'out' / 'annotated.mp4'}" in out


def test_show_without_a_display_names_flags_that_exist(world, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    before = _snapshot(world)
    line = _one_error(capsys, _argv(world, "--show"))
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    options = set(re.findall(r"--[a-z][a-z-]*", capsys.readouterr().out))
    flags = set(re.findall(r"--[a-z][a-z-]*", line))
    assert "--rtsp-port" in flags and flags <= options, line
    assert _snapshot(world) == before


@pytest.mark.parametrize("failure", ["missing source", "not a video", "no display"], ids=lambda v: v.replace(" ", "_"))
def test_a_run_that_cannot_start_leaves_nothing_behind(world, capsys, monkeypatch, failure):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    (world / "notes.mp4").write_text("not a video\n")
    argv = _argv(world, *(["--show"] if failure == "no display" else []))
    source = {"missing source": world / "gone.mp4", "not a video": world / "notes.mp4"}.get(failure)
    if source is not None:
        argv[argv.index("--source") + 1] = source
    argv[argv.index("--out") + 1] = world / "runs" / "today" / "out"
    argv[argv.index("--events-db") + 1] = world / "data" / "events.db"
    before = _snapshot(world)
    _one_error(capsys, argv)
    assert _snapshot(world) == before  # no empty output folder, no new empty event store
    # What existed before is kept as it was: an (empty) output folder and an event store.
    (world / "runs" / "today" / "out").mkdir(parents=True)
    argv[argv.index("--events-db") + 1] = world / "events.db"
    before = _snapshot(world)
    _one_error(capsys, argv)
    assert _snapshot(world) == before


@pytest.mark.parametrize("under", ["--events-db", "--out"])
def test_a_store_or_the_output_folder_under_a_file_is_refused_before_any_work(world, capsys, under):
    (world / "notes.txt").write_text("a file, not a folder\n")
    argv = _argv(world)
    argv[argv.index(under) + 1] = world / "notes.txt" / "sub" / "x"
    before = _snapshot(world)
    message = _one_error(capsys, argv)
    assert f"{world / 'notes.txt'} is not a directory" in message and "cannot create the " in message
    assert _snapshot(world) == before  # before: an empty output folder, and "File exists" named no store


def test_a_run_into_a_shift_reports_folder_is_refused(world, capsys):
    shift = world / "shift"
    shift.mkdir()
    for name in ("report.html", "report.pdf", "exposure_days.csv"):  # what `ergoedge report` wrote there
        (shift / name).write_text(name)
    argv = _argv(world)
    argv[argv.index("--out") + 1] = shift
    before = _snapshot(world)
    assert "holds a shift report" in _one_error(capsys, argv)
    assert _snapshot(world) == before  # its report.html was replaced by the run's


def test_out_empty_is_refused_not_the_working_directory(world, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(world)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    before = _snapshot(tmp_path)
    argv = _argv(world)
    argv[argv.index("--out") + 1] = ""
    assert "output directory is empty" in _one_error(capsys, argv)
    assert _snapshot(tmp_path) == before
