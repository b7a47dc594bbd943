"""`ergoedge run` end to end: real GStreamer sources, the real pose model, real SQLite, a real Mosquitto."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from runtime.alerts.event import AlertEvent
from edge.config import with_overrides
from runtime.config import load_config
from runtime.alerts.store import EventStore
from runtime.session import run

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo-run.toml"


def _config(footage, tmp_path, **changes):
    config = load_config(DEMO)
    return with_overrides(config, scene_dir=str(tmp_path / "scenes"), **{
        "source.uri": str(footage / "pose2sim" / "cam01.mp4"), "sinks.sqlite": str(tmp_path / "events.db"),
        "sinks.stdout": False, **changes})


def test_clip_end_to_end(footage, tmp_path, blazepose_models):
    report = run(_config(footage, tmp_path), tmp_path / "out", status=None)
    assert report["frames"] == 100 and report["source_stats"]["dropped"] == 0 and report["interrupted"] is False
    assert set(report["stages"]) == {"wait", "pose", "score", "alerts", "output"}
    raised = [a for a in report["alerts"] if a["kind"] == "raised"]
    assert raised and raised[0]["rule"] == "reba_high" and raised[0]["value"] >= 8
    # Every alert reached the log and the event store, identical.
    log = [AlertEvent.from_dict(json.loads(line)) for line in (tmp_path / "out" / "alerts.jsonl").read_text()
           .splitlines()]
    assert [e.to_dict() for e in log] == report["alerts"]
    with EventStore(tmp_path / "events.db") as store:
        assert sorted(r["event_id"] for r in store.query()) == sorted(e.event_id for e in log)
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    # Summed over shifts: a run that crosses a shift start (06:00, 14:00, 22:00 wall time) splits its exposure.
    tracked = sum(shift["persons"]["0"]["tracked_s"] for shift in saved["exposure"]["shifts"].values()
                  if "0" in shift["persons"])
    assert tracked == pytest.approx(99 / 60, abs=0.02)
    assert saved["timeline"]["people"]["0"] and (tmp_path / "out" / "report.png").stat().st_size > 1000
    html = (tmp_path / "out" / "report.html").read_text()
    assert "reba_high" in html and "data:image/png;base64," in html


def test_recording_with_overlay_and_face_blur(footage, tmp_path, blazepose_models):
    import cv2

    video = tmp_path / "annotated.mp4"
    run(_config(footage, tmp_path, max_seconds=0.5, **{"output.record": str(video), "output.face_blur": True}),
        tmp_path / "out", status=None)
    cap = cv2.VideoCapture(str(video))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (1920, 1080, 3) and 28 <= count <= 31


def test_live_test_source_with_nobody(tmp_path, blazepose_models):
    config = with_overrides(load_config(None), max_seconds=1.0, scene_dir=str(tmp_path), **{
        "source.uri": "test://?pattern=snow&width=320&height=240&fps=30", "sinks.sqlite": "",
        "sinks.stdout": False})
    report = run(config, tmp_path / "out", status=None)
    assert 10 <= report["frames"] <= 32 and report["alerts"] == []
    assert report["timeline"]["people"] == {}


def test_alerts_reach_a_real_broker(footage, tmp_path, blazepose_models):
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run `make test` (set-up installs it)")
    from tests.mqtt_helpers import Broker, Subscriber

    with Broker(tmp_path / "broker") as broker:
        sub = Subscriber(broker.port)
        assert sub.wait_subscribed(5)
        from runtime.alerts.mqtt_config import MqttConfig

        config = _config(footage, tmp_path, **{"sinks.mqtt": MqttConfig(
            port=broker.port, outbox_path=str(tmp_path / "outbox.db"))})
        report = run(config, tmp_path / "out", status=None)
        ids = [a["event_id"] for a in report["alerts"]]
        assert ids and sub.wait_for(ids, timeout=10)
        sub.close()


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--source", "ftp://camera"], "scheme"),
    (["run", "--source", "/no/such/video.mp4"], "no such"),
    (["run"], "no source"),
    (["run", "--source", "test://", "--config", "/no/such.toml"], "no such config file"),
])
def test_run_bad_input_is_one_line(tmp_path, capsys, argv, fragment):
    code = main(argv + ["--out", str(tmp_path / "o"), "--events-db", str(tmp_path / "e.db")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_bad_config_and_missing_model(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[pose]\nmax_peeple = 2\n")
    code = main(["run", "--source", "test://", "--config", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "max_peeple" in err and len(err.strip().splitlines()) == 1
    code = main(["run", "--source", "test://", "--models-dir", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "o"), "--events-db", str(tmp_path / "e.db")])
    err = capsys.readouterr().err
    assert code == 2 and "models fetch" in err and len(err.strip().splitlines()) == 1


def test_events_command_lists_what_run_stored(footage, tmp_path, capsys, blazepose_models):
    run(_config(footage, tmp_path), tmp_path / "out", status=None)
    code = main(["events", "--db", str(tmp_path / "events.db"), "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert code == 0 and rows and all(r["camera"] == "cam01" for r in rows)
    code = main(["events", "--db", str(tmp_path / "nope.db")])
    assert code == 2 and "no event store" in capsys.readouterr().err
    assert np.isfinite([r["value"] for r in rows]).all()


def test_the_status_line_is_drawn_on_a_terminal_only(footage, tmp_path, blazepose_models):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, drawn in ((Terminal(), True), (io.StringIO(), False)):
        run(_config(footage, tmp_path, max_seconds=0.3, status_interval_s=0.01), tmp_path / f"out{drawn}",
            status=stream)
        text = stream.getvalue()
        assert ("\r[cam01] t=" in text) is drawn  # in a journal, "\r" lines pile into one: a line each there
        assert drawn or (text.count("[cam01] t=") >= 2 and all(line.startswith("[cam01] t=") for line in
                                                                 text.splitlines() if "t=" in line))


def test_sigterm_ends_a_run_while_its_camera_is_down(tmp_path, blazepose_models):
    """Also as systemd's unit sees it (Type=notify, WatchdogSec): ready, pings through the outage, stopping."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from rtsp_server import free_port, start_server, stop_server  # tests/ is on sys.path
    from test_service_notify import NotifyListener

    port = free_port()
    server = start_server(port, width=320, height=240)
    listener = NotifyListener(tmp_path / "notify")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "NOTIFY_SOCKET": str(tmp_path / "notify"),
           "WATCHDOG_USEC": "1000000"}
    out = tmp_path / "out"
    run_proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--source", f"rtsp://127.0.0.1:{port}/cam",
                                 "--config", str(DEMO), "--out", str(out), "--events-db", str(tmp_path / "e.db"),
                                 "--models-dir", str(Path(blazepose_models[0]).parent)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "alerts.jsonl").exists() and run_proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the first frame opens the alert log
        if not (out / "alerts.jsonl").exists():
            run_proc.kill()
            pytest.fail(f"the run saw no frame: {run_proc.communicate()[1][-2000:]}")
        stop_server(server)  # the camera dies: the source reconnects, by default for ever
        outage = time.monotonic()
        time.sleep(2.0)
        run_proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, err = run_proc.communicate(timeout=30)  # before: it waited for a frame that never came
    finally:
        if run_proc.poll() is None:
            run_proc.kill()
        stop_server(server)
        messages = listener.close()
    assert messages[0][1].startswith("READY=1\nSTATUS=") and messages[-1][1].startswith("STOPPING=1\n")
    pings = [t for t, text in messages if text.startswith("WATCHDOG=1\n")]
    assert any(t > outage + 1.0 for t in pings)  # a camera being reconnected is not a hang
    assert any("fps" in text for _, text in messages)  # the status line, for `systemctl status`
    assert time.monotonic() - stopped < 15.0  # the report written (a second or two) on a loaded machine
    assert run_proc.returncode == 0, err[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] > 0 and report["source_stats"]["gaps"][-1]["end"] is None  # ended inside the outage
    assert report["interrupted"] is True


def test_a_full_disk_at_the_report_is_one_line_naming_the_folder(footage, tmp_path, capsys, blazepose_models):
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    # A real full disk: a 4 kB tmpfs (mounting needs root; the CI machine runs the suite as root).
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        code = main(["run", "--source", str(footage / "pose2sim" / "cam01.mp4"), "--max-seconds", "0.5",
                     "--out", str(disk / "out"), "--events-db", str(tmp_path / "e.db")])
        lines = capsys.readouterr().err.strip().splitlines()
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert code == 2 and lines[-1] == f"ergoedge: error: cannot write the report in {disk / 'out'}: " \
                                      "No space left on device", lines[-3:]
