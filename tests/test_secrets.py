"""No secret leaves the device by accident: camera passwords and tokens in source URIs, the MQTT password and the
RTSP output's password never appear in what the product writes, publishes, prints or logs; credentials sent in the
clear are warned about; the installed run config is not world-readable.

The acceptance test runs `ergoedge run` with credentials everywhere (an RTSP camera with user:password and a
?token=, a Mosquitto that requires a password, an RTSP output that requires one) and greps every file the run wrote,
every MQTT message, every log record and the captured stdout/stderr. Real GStreamer, SQLite and Mosquitto."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
from rtsp_client import listening_addresses, pull_frame  # tests/ is on sys.path (pytest's rootdir import mode)
from rtsp_server import free_port

from edge.cli import main
from edge.config import with_overrides
from edge.errors import InputError
from runtime.alerts.mqtt_config import MqttConfig, MqttTls
from runtime.config import RunConfig, load_config
from runtime.session import run
from runtime.video.source import GstSource, ReconnectPolicy, SourceError
from runtime.video.uri import parse_source

REPO = Path(__file__).resolve().parents[1]
# ONNX Runtime for the runs here: a second OpenVINO Core made after GStreamer ran in the same process crashes (see
# edge/inference/openvino_backend.py), and which runtime infers says nothing about where secrets go.
BACKEND = "onnxruntime"


# ---------------------------------------------------------------------------------------------- source URIs (pure)

@pytest.mark.parametrize("uri, secrets, label, camera", [
    ("rtsp://admin:s3cret@10.0.0.5:554/stream", ["s3cret"], "rtsp://admin:***@10.0.0.5:554/stream",
     "rtsp-10.0.0.5_554_stream"),
    ("rtsp://Tok3nUser@cam.local/live?password=Pw9&channel=2&api_key=K3y9&mode=passive#latency=50",
     ["Tok3nUser", "Pw9", "K3y9"], "rtsp://***@cam.local/live?password=***&channel=2&api_key=***&mode=passive",
     "rtsp-cam.local_live_channel_2_mode_passive"),
    ("rtsp://10.0.0.9/user=admin&password=Dvr7pw&channel=1&stream=0.sdp", ["Dvr7pw"],
     "rtsp://10.0.0.9/user=admin&password=***&channel=1&stream=0.sdp",
     "rtsp-10.0.0.9_user_admin_channel_1_stream_0.sdp"),
    ("rtsps://u:p%40ss9@h.example/x?sig=Abc9&token=Tk9", ["p%40ss9", "p@ss9", "Abc9", "Tk9"],
     "rtsps://u:***@h.example/x?sig=***&token=***", "rtsp-h.example_x"),
])
def test_label_camera_name_and_scrub_hold_no_credential(uri, secrets, label, camera):
    from runtime.video.uri import redact

    spec = parse_source(uri)
    assert spec.label() == label == redact(spec.location)
    assert spec.camera_name() == camera
    assert set(spec.secrets()) == set(secrets)
    scrubbed = spec.scrub(f"rtspsrc: cannot open {spec.location} (user-pw {secrets[-1]})")
    assert label in scrubbed and not any(s in scrubbed for s in secrets)


@pytest.mark.parametrize("uri", [
    "rtsp://admin:Pw4leak@cam:99999/x",                  # port out of range
    "rtsp://admin:Pw4leak@[::1/x",                       # broken IPv6 host
    "rtsp://admin:Pw4leak@cam/x#latency=fast",           # bad option
    "rtsp://admin:Pw4leak@cam/x#codec=h264&codec=h265",  # option twice
    "rtsp://admin:Pw4leak@/x",                           # no host
    "test://admin:Pw4leak@x",
    "csi://admin:Pw4leak@x",
    "v4l2://admin:Pw4leak@x",
    "file://admin:Pw4leak@host/x.mp4",
    "ftp://admin:Pw4leak@cam/x",
    "rtsp://admin:Cam/Pw4leak@cam.local/stream",         # unencoded '/' in the password: a port of "Cam" to urllib
    "rtsp://admin:1234/Pw4leak@cam.local/stream",        # ... or host 1234 with the path /Pw4leak@cam.local/stream
    "rtsp://admin:Pw?4leak@cam.local/stream",            # '?' and '#': the rest would be read as query, fragment
    "rtsp://admin:Pw#4leak@cam.local/stream",
])
def test_source_errors_never_echo_the_password(uri):
    with pytest.raises(InputError) as info:
        parse_source(uri)
    assert "Pw4leak" not in str(info.value) and "\n" not in str(info.value)


def test_a_password_with_an_unencoded_slash_is_hidden_and_refused_with_the_fix():
    from runtime.video.uri import redact

    assert redact("rtsp://admin:1234/Pw4leak@cam.local/stream?x=1") == "rtsp://admin:***@cam.local/stream?x=1"
    for uri in ("rtsp://admin:1234/Pw4leak@cam.local/stream", "rtsp://admin:Cam/Pw4leak@cam.local/stream"):
        with pytest.raises(InputError, match=r"admin:\*\*\*@cam.local/stream: its user or password holds .*%2F"):
            parse_source(uri)
    # Percent-encoded, as RFC 3986 wants it, it is read and hidden.
    spec = parse_source("rtsp://admin:1234%2FPw4leak@cam.local/stream")
    assert spec.camera_name() == "rtsp-cam.local_stream" and "1234/Pw4leak" in spec.secrets()


def test_config_errors_never_echo_a_password(tmp_path):
    path = tmp_path / "run.toml"
    for text in ("[sinks.mqtt]\nusername = \"u\"\npassword = 91827364\n",
                 "[output]\nrtsp_user = \"v\"\nrtsp_password = 91827364\n"):
        path.write_text(text)
        with pytest.raises(InputError) as info:
            load_config(path)
        assert "password" in str(info.value) and "91827364" not in str(info.value)
    config = with_overrides(RunConfig(), **{"sinks.mqtt": MqttConfig(username="u", password="Mq-hidden-1")})
    assert "Mq-hidden-1" not in repr(config)


def test_gstreamer_failures_are_reported_without_credentials(caplog):
    caplog.set_level(logging.DEBUG)
    dead = free_port()  # nothing listens here: rtspsrc fails to connect
    uri = f"rtsp://admin:Pw4leak@127.0.0.1:{dead}/cam?token=Tok4leak"
    source = GstSource(parse_source(uri), stall_timeout_s=2.0, reconnect=ReconnectPolicy(max_attempts=1))
    with pytest.raises(SourceError) as info:
        next(iter(source))
    text = str(info.value) + "\n" + caplog.text
    assert f"127.0.0.1:{dead}" in str(info.value)
    assert "Pw4leak" not in text and "Tok4leak" not in text


# ------------------------------------------------------------------------------------- credentials in the clear

def _warnings(uri="test://", mqtt=None, **output):
    from runtime.network import exposure_warnings

    config = with_overrides(RunConfig(), **{"sinks.mqtt": mqtt, **{f"output.{k}": v for k, v in output.items()}})
    return exposure_warnings(config, parse_source(uri))


def test_cleartext_credentials_to_another_host_are_warned_about(tmp_path):
    from runtime.network import exposure_warnings

    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    remote = MqttConfig(host="10.0.0.9", username="ergo", password="Mq-hidden-1")
    (line,) = _warnings(mqtt=remote)
    assert "10.0.0.9:1883" in line and "TLS" in line and "Mq-hidden-1" not in line
    (line,) = _warnings("rtsp://admin:Cam-hidden-1@10.0.0.5:554/stream")
    assert "rtsp://admin:***@10.0.0.5:554/stream" in line and "unencrypted" in line and "Cam-hidden-1" not in line
    assert len(_warnings("rtsp://10.0.0.5/live?token=Cam-hidden-2", mqtt=remote)) == 2
    # Loopback, TLS, rtsps:// or no credentials at all: nothing to say.
    assert _warnings("rtsp://admin:pw@127.0.0.1:8554/cam", mqtt=MqttConfig(username="ergo", password="pw")) == []
    assert _warnings(mqtt=MqttConfig(host="10.0.0.9", port=8883, username="ergo", password="pw",
                                     tls=MqttTls(ca_certs=str(ca)))) == []
    assert _warnings("rtsps://admin:pw@10.0.0.5/stream", mqtt=MqttConfig(host="10.0.0.9")) == []
    assert _warnings("rtsp://10.0.0.5/stream") == []
    # Anonymous viewers on the network, explicitly allowed: said once more at start.
    (line,) = _warnings(rtsp_port=8554, rtsp_address="0.0.0.0", rtsp_allow_anonymous=True)
    assert "without authentication" in line
    # A dashboard on the network without TLS; on loopback, or with a certificate, nothing to say.
    from runtime.dashboard.auth import hash_password

    board = {"dashboard.port": 8080, "dashboard.password_hash": hash_password("pw-hidden-3")}
    config = with_overrides(RunConfig(), **board, **{"dashboard.address": "0.0.0.0"})
    (line,) = exposure_warnings(config, parse_source("test://"))
    assert "0.0.0.0:8080 is plain http" in line and "pw-hidden-3" not in line
    assert exposure_warnings(with_overrides(RunConfig(), **board), parse_source("test://")) == []
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    tls = with_overrides(config, **{"dashboard.tls_cert": str(cert), "dashboard.tls_key": str(key)})
    assert exposure_warnings(tls, parse_source("test://")) == []


def test_run_start_warns_in_the_report_and_the_log(tmp_path, caplog, blazepose_models):
    caplog.set_level(logging.WARNING)
    mqtt = MqttConfig(host="192.0.2.1", username="ergo", password="Mq-hidden-1",  # TEST-NET-1: never answers
                      outbox_path=str(tmp_path / "outbox.sqlite"))
    config = with_overrides(RunConfig(), max_seconds=0.3, scene_dir=str(tmp_path), **{
        "source.uri": "test://?pattern=snow&width=160&height=120&fps=30", "sinks.sqlite": "",
        "sinks.stdout": False, "sinks.mqtt": mqtt, "pose.backend": BACKEND})
    report = run(config, tmp_path / "out", status=None)
    warned = [m for m in report["messages"] if "without TLS" in m]
    assert len(warned) == 1 and "192.0.2.1:1883" in warned[0]
    assert [r.getMessage() for r in caplog.records if "without TLS" in r.getMessage()] == warned
    assert "Mq-hidden-1" not in caplog.text + (tmp_path / "out" / "report.json").read_text()


def test_a_replaced_file_is_written_under_a_new_name_of_its_own(tmp_path):
    from edge.paths import atomic_path, atomic_write

    victim = tmp_path / "victim"
    victim.write_text("keep")
    target = tmp_path / "run.toml"
    (tmp_path / "run.toml.tmp").symlink_to(victim)  # planted where the temporary name used to be
    atomic_write(target, "[dashboard]\n")
    assert victim.read_text() == "keep" and target.read_text() == "[dashboard]\n" and not target.is_symlink()
    with atomic_path(target) as first, atomic_path(target) as second:  # two writers of one file
        assert first != second and not first.is_symlink() and first.stat().st_size == 0
        first.write_text("one")
        second.write_text("two")
    assert target.read_text() == "one"  # the last to finish wins, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml", "run.toml.tmp", "victim"]


# ------------------------------------------------------------------------------------------------ jetson/install.sh

def _install_run_config(dest: Path, group: str) -> None:
    """jetson/install.sh's own `install_run_config`, sourced and run on a temporary destination."""
    owner = pwd.getpwuid(os.getuid()).pw_name
    # Should sourcing ever run the install steps, these stand-ins stop it before it touches the machine.
    stop = "".join(f'{c}() {{ echo "install.sh ran {c}" >&2; exit 97; }}; '
                   for c in ("apt-get", "useradd", "groupadd", "python3", "systemctl", "sudo"))
    script = f'{stop}source "$1" && install_run_config "$2" "$3" "{owner}" "{group}"'
    subprocess.run(["bash", "-c", script, "bash", str(REPO / "jetson" / "install.sh"),
                    str(REPO / "jetson" / "presets" / "orin-nano.toml"), str(dest)], check=True, timeout=30)


def test_install_makes_the_run_config_unreadable_to_others(tmp_path):
    # As root, a group other than root's shows that the group is really set; otherwise our own group.
    gid = os.getgid()
    if os.getuid() == 0:
        gid = next((g.gr_gid for g in grp.getgrall() if g.gr_gid != 0), gid)
    group = grp.getgrgid(gid).gr_name
    fresh = tmp_path / "fresh" / "run.toml"
    fresh.parent.mkdir()
    _install_run_config(fresh, group)
    st = fresh.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == gid
    assert fresh.read_text() == (REPO / "jetson" / "presets" / "orin-nano.toml").read_text()
    # An existing config (world-readable, from an earlier install) keeps its settings and loses the world bit.
    old = tmp_path / "old" / "run.toml"
    old.parent.mkdir()
    old.write_text('[sinks.mqtt]\nusername = "ergo"\npassword = "site-secret"\n')
    old.chmod(0o644)
    _install_run_config(old, group)
    st = old.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == gid and "site-secret" in old.read_text()


# ----------------------------------------------------------------------------------------------------- acceptance

class RawSubscriber:
    """Everything a password-holding MQTT client sees on the broker: (topic, payload bytes) of every message."""

    def __init__(self, port: int, user: str, password: str):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="secrets-sub")
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, bytes(msg.payload)))
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class ClipCamera:
    """An RTSP camera in this process: GstRtspServer serving the pose2sim clip (people in it, so alerts are raised),
    joined end to end `repeat` times into one file so that a run shorter than that never sees the stream end."""

    def __init__(self, clip: Path, workdir: Path, repeat: int = 4):
        from runtime.video.gst import gst

        Gst = gst().Gst
        workdir.mkdir(parents=True, exist_ok=True)
        long_clip = workdir / f"clip-x{repeat}.mp4"
        joined = Gst.parse_launch(f"concat name=c ! h264parse ! mp4mux ! filesink location={long_clip} " + " ".join(
            [f"filesrc location={clip} ! qtdemux ! h264parse ! c."] * repeat))
        joined.set_state(Gst.State.PLAYING)
        done = joined.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        joined.set_state(Gst.State.NULL)
        assert done is not None and done.type == Gst.MessageType.EOS, "could not join the clip"
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, GstRtspServer

        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service("0")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(f"( filesrc location={long_clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 "
                           "config-interval=-1 )")
        self.server.get_mount_points().add_factory("/clip", factory)
        self.GLib, self.GstRtspServer = GLib, GstRtspServer
        self.context = GLib.MainContext.new()
        self.loop = GLib.MainLoop.new(self.context, False)
        self.source_id = self.server.attach(self.context)
        self.port = self.server.get_bound_port()
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()

    def close(self):
        done = threading.Event()

        def shutdown():  # on the server's own loop: drop the clients, stop listening
            self.server.client_filter(lambda *_: self.GstRtspServer.RTSPFilterResult.REMOVE)
            source = self.context.find_source_by_id(self.source_id)
            if source is not None:
                source.destroy()
            done.set()
            return False

        self.context.invoke_full(self.GLib.PRIORITY_DEFAULT, shutdown)
        done.wait(5)
        self.loop.quit()
        self.thread.join(5)


def _watch_output(port: int, user: str, password: str, seen: dict) -> None:
    """While the run goes: where its RTSP output listens, and what an anonymous and a logged-in viewer get."""
    deadline = time.monotonic() + 60
    while not listening_addresses(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    seen["addresses"] = listening_addresses(port)
    url = f"rtsp://127.0.0.1:{port}/ergo"
    seen["anonymous"] = pull_frame(url, timeout_s=5)
    seen["viewer"] = pull_frame(url, user, password, timeout_s=10)


def _product_text(root: Path) -> dict[str, bytes]:
    """Every file under `root` (by relative path): its bytes, and for SQLite files every row of every table too."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if data.startswith(b"SQLite format 3"):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                data += repr([db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables]).encode()
        found[str(path.relative_to(root))] = data
    return found


def test_no_secret_anywhere(footage, tmp_path, monkeypatch, capfd, caplog, blazepose_models):
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run `make test` (set-up installs it)")
    from tests.mqtt_helpers import Broker

    cam_pw, cam_token, mqtt_pw, out_pw = "CamPw-7f3e1", "CamTok-51ab9", "MqttPw-c0ffee", "OutPw-d4e5f6"
    secrets = (cam_pw, cam_token, mqtt_pw, out_pw)
    product, infra = tmp_path / "product", tmp_path / "infra"  # what the run writes / the test's own files
    for kind in ("DATA", "STATE", "CONFIG"):
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(product / kind.lower()))
    for name in ("ERGOEDGE_STATE_DIR", "ERGOEDGE_SCENES"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)

    camera, out_port = ClipCamera(footage / "pose2sim" / "cam01.mp4", infra / "camera"), free_port()
    broker = Broker(infra / "broker", persistence=False, users={"ergo": mqtt_pw}).start()
    sub = RawSubscriber(broker.port, "ergo", mqtt_pw)
    seen: dict = {}
    watcher = threading.Thread(target=_watch_output, args=(out_port, "viewer", out_pw, seen), daemon=True)
    try:
        assert sub.subscribed.wait(5)
        config = infra / "run.toml"
        config.write_text(f"""
[source]
uri = "rtsp://camadmin:{cam_pw}@127.0.0.1:{camera.port}/clip?token={cam_token}#width=540&height=960"
[pose]
backend = "{BACKEND}"
[sinks.mqtt]
port = {broker.port}
username = "ergo"
password = "{mqtt_pw}"
reconnect_min_s = 0.1
[output]
rtsp_port = {out_port}
rtsp_user = "viewer"
rtsp_password = "{out_pw}"
[[alerts.rules]]
name = "trunk_bent"
metric = "trunk_flexion_deg"
threshold = 20
min_duration_s = 0.3
severity = "info"
""")
        watcher.start()
        code = main(["run", "--config", str(config), "--out", str(product / "out"), "--max-seconds", "4",
                     "--record", str(product / "out" / "annotated.mp4"), "--scene-dir", str(product / "scenes")])
        watcher.join(30)
        time.sleep(0.5)  # the last acknowledged messages reach the subscriber
    finally:
        sub.close()
        broker.kill()
        camera.close()
    captured = capfd.readouterr()
    assert code == 0, captured.err

    # The run really used every credential: frames came, alerts went out over MQTT, the output served a viewer.
    files = _product_text(product)
    report = (product / "out" / "report.json").read_text()
    assert '"raised"' in report and sub.messages
    assert {"out/report.json", "out/report.html", "out/alerts.jsonl", "out/annotated.mp4",
            "data/ergo-edge/events.db"} <= set(files)
    assert any(name.startswith("state/ergo-edge/mqtt-outbox-rtsp-127.0.0.1") for name in files)
    assert seen["addresses"] == {"127.0.0.1"}
    assert seen["anonymous"] == (None, "Unauthorized") and seen["viewer"][0] is not None

    # ... and none of them shows anywhere.
    logs = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    places = {**{f"file {name}": data for name, data in files.items()},
              **{f"file name {name}": name.encode() for name in files},
              **{f"MQTT topic {t}": t.encode() for t, _ in sub.messages},
              **{f"MQTT payload on {t}": p for t, p in sub.messages},
              "stdout": captured.out.encode(), "stderr": captured.err.encode(), "log records": logs.encode()}
    leaks = [(secret, where) for secret in secrets for where, data in places.items() if secret.encode() in data]
    assert leaks == []
