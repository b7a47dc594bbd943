"""`ergoedge doctor` against simulated machines (probes injected: GStreamer elements, Jetson or not, imports,
devices, free space, the clock) and real things where they exist here (model files, Mosquitto, file modes), then
once end to end on this machine."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.config import from_mapping
from edge.errors import InputError
from runtime.alerts.mqtt_config import MqttConfig, MqttTls
from runtime.config import RunConfig, load_config
from runtime.doctor import Probes, format_checks, run_checks
from runtime.doctor_checks import (FAIL, OK, SKIP, WARN, check_broker, check_clock, check_config_file, check_csi,
                                   check_cuda_bindings, check_gst_plugins, check_gstreamer, check_models,
                                   check_mqtt_tls, check_ntp, check_nvidia_elements, check_onnxruntime,
                                   check_openvino, check_storage, check_tensorrt, check_v4l2, config_uses,
                                   secret_keys, storage_places)

from mqtt_helpers import MOSQUITTO, HOST, Broker, BrokerTls, free_port, make_tls_files  # tests/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
DESKTOP = {"videotestsrc", "decodebin", "videoconvert", "videoscale", "videorate", "appsink", "appsrc", "x264enc",
           "h264parse", "mp4mux", "taginject", "rtspsrc", "rtph264depay", "rtph264pay", "avdec_h264", "v4l2src"}
JETSON = {"nvarguscamerasrc", "nvvidconv", "nvv4l2decoder", "nvv4l2h264enc"}
needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None and not Path(MOSQUITTO).exists(),
                                     reason="mosquitto broker not installed (apt-get install mosquitto)")


def elements(present):
    return lambda name: name in present


def modules(**found):
    """An import_module that knows only `found` (dots in module names written as __)."""
    known = {name.replace("__", "."): module for name, module in found.items()}

    def import_module(name):
        if name not in known:
            raise ImportError(f"No module named {name!r}")
        return known[name]

    return import_module


# ------------------------------------------------------------------------------------------- GStreamer


def test_every_element_present_is_ok():
    check = check_gst_plugins(elements(DESKTOP), lambda: True, jetson=False, uses=())
    assert check.status == OK and "x264enc" in check.message and not check.fix


def test_missing_encoder_warns_unless_the_config_records():
    no_x264 = elements(DESKTOP - {"x264enc"})
    unused = check_gst_plugins(no_x264, lambda: True, jetson=False, uses={"file"})
    assert unused.status == WARN
    assert "x264enc" in unused.message and "--record" in unused.message
    assert unused.fix == "sudo apt-get install gstreamer1.0-plugins-ugly"
    assert check_gst_plugins(no_x264, lambda: True, jetson=False, uses={"file", "record"}).status == FAIL


def test_missing_converter_fails_every_run_and_names_each_package():
    check = check_gst_plugins(elements(DESKTOP - {"videoconvert", "avdec_h264"}), lambda: True, False, uses=())
    assert check.status == FAIL
    assert "gstreamer1.0-plugins-base" in check.fix and "gstreamer1.0-libav" in check.fix


def test_missing_rtsp_server_library_fails_an_rtsp_output():
    check = check_gst_plugins(elements(DESKTOP), lambda: False, jetson=False, uses={"rtsp-out"})
    assert check.status == FAIL and "gir1.2-gst-rtsp-server-1.0" in check.fix


def test_jetson_decodes_on_nvidia_and_encodes_on_nvenc():
    # A Jetson without the CPU decoder (libav) and encoder (ugly) plugins lacks nothing the runtime uses there.
    present = (DESKTOP - {"avdec_h264", "x264enc"}) | JETSON
    assert check_gst_plugins(elements(present), lambda: True, jetson=True, uses={"rtsp", "record"}).status == OK
    nvidia = check_nvidia_elements(True, elements(present), uses={"csi"})
    assert nvidia.status == OK and "NVENC" in nvidia.message


def test_jetson_without_nvenc_needs_x264():
    orin_nano = (DESKTOP - {"x264enc"}) | (JETSON - {"nvv4l2h264enc"})
    check = check_gst_plugins(elements(orin_nano), lambda: True, jetson=True, uses={"csi", "record"})
    assert check.status == FAIL and "x264enc" in check.message
    assert "no NVENC" in check_nvidia_elements(True, elements(orin_nano | {"x264enc"}), uses=()).message


def test_nvidia_elements_only_on_a_jetson():
    assert check_nvidia_elements(False, elements(DESKTOP), uses=()).status == SKIP
    missing = check_nvidia_elements(True, elements(DESKTOP), uses=())
    assert missing.status == WARN and "nvidia-l4t-gstreamer" in missing.fix
    assert check_nvidia_elements(True, elements(DESKTOP), uses={"csi"}).status == FAIL


def test_gstreamer_bindings_missing_says_what_to_install():
    def missing():
        raise InputError("GStreamer's Python bindings are not installed: apt-get install python3-gi python3-gst-1.0")

    check = check_gstreamer(missing)
    assert check.status == FAIL and check.fix == "sudo apt-get install python3-gi python3-gst-1.0"


def test_config_uses_source_kind_and_outputs():
    config = from_mapping(RunConfig, {"source": {"uri": "rtsp://cam/stream"}, "output": {"record": "/tmp/x.mp4"}})
    assert config_uses(config) == {"rtsp", "record"}
    assert config_uses(RunConfig()) == frozenset()


def test_run_checks_on_a_simulated_jetson(tmp_path):
    """The whole table with a Jetson's probes: NVIDIA elements, CSI through nvargus, TensorRT and CUDA expected."""
    config = tmp_path / "run.toml"
    config.write_text('[source]\nuri = "csi://0"\n[sinks]\nsqlite = ""\n')
    ort = SimpleNamespace(__version__="1.20.0",
                          get_available_providers=lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    probes = dataclasses.replace(
        Probes(), jetson=lambda: True, machine=lambda: "aarch64", gst_version=lambda: "GStreamer 1.20.3",
        has_element=elements(DESKTOP | JETSON), has_rtsp_server=lambda: True, argus_running=lambda: False,
        video_devices=lambda: [], import_module=modules(onnxruntime=ort, tensorrt=SimpleNamespace(__version__="10.3")))
    checks = {c.name: c for c in run_checks(config, probes=probes)}
    assert checks["gstreamer.nvidia"].status == OK
    assert checks["camera.csi"].status == FAIL and "nvargus-daemon" in checks["camera.csi"].fix
    assert checks["onnxruntime"].status == OK and checks["tensorrt"].message == "10.3"
    assert checks["openvino"].status == SKIP
    assert checks["cuda"].status == WARN and "pycuda" in checks["cuda"].fix
    assert "storage.events" not in checks  # sqlite = "" turns the event store off


# ------------------------------------------------------------------------------------------- runtimes


def test_onnxruntime_here_is_ok():
    check = check_onnxruntime(importlib.import_module, jetson=False, wanted=">=1.16")
    assert check.status == OK and "CPUExecutionProvider" in check.message


def test_onnxruntime_on_a_jetson_expects_cuda():
    cpu_only = modules(onnxruntime=SimpleNamespace(__version__="1.20.0",
                                                   get_available_providers=lambda: ["CPUExecutionProvider"]))
    check = check_onnxruntime(cpu_only, jetson=True, wanted=None)
    assert check.status == WARN and "onnxruntime-gpu" in check.fix
    assert check_onnxruntime(cpu_only, jetson=False, wanted=None).status == OK


def test_onnxruntime_below_the_declared_floor_or_absent_fails():
    old = modules(onnxruntime=SimpleNamespace(__version__="1.15.1", get_available_providers=lambda: []))
    check = check_onnxruntime(old, jetson=False, wanted=">=1.16")
    assert check.status == FAIL and ">=1.16" in check.message
    assert check_onnxruntime(modules(), jetson=False, wanted=">=1.16").status == FAIL


def test_openvino_is_for_x86():
    assert check_openvino(modules(), "aarch64", None, required=False).status == SKIP
    assert check_openvino(modules(), "aarch64", None, required=True).status == FAIL
    assert check_openvino(modules(), "x86_64", ">=2024.6", required=False).status == WARN
    found = modules(openvino=SimpleNamespace(__version__="2026.4.1-22982-e213a147257-releases/2026/4"))
    assert check_openvino(found, "x86_64", ">=2024.6", required=False).message == "2026.4.1"


def test_tensorrt_and_cuda_bindings():
    assert check_tensorrt(modules(), jetson=False, required=False).status == SKIP
    assert check_tensorrt(modules(), jetson=True, required=False).status == WARN
    assert check_tensorrt(modules(), jetson=False, required=True).status == FAIL
    assert check_cuda_bindings(modules(), jetson=False, required=False).status == SKIP
    assert check_cuda_bindings(modules(), jetson=False, required=True).status == FAIL
    pycuda = SimpleNamespace(VERSION_TEXT="2024.1.2")
    check = check_cuda_bindings(modules(pycuda=pycuda, pycuda__driver=SimpleNamespace()), True, True)
    assert check.status == OK and check.message == "pycuda 2024.1.2"
    bindings = SimpleNamespace(__version__="12.6.2")
    check = check_cuda_bindings(modules(cuda__bindings=bindings, cuda__bindings__runtime=SimpleNamespace()), True, True)
    assert check.status == OK and check.message == "cuda-python 12.6.2"


# --------------------------------------------------------------------------------------------- models


@pytest.fixture
def models_copy(blazepose_models, tmp_path):
    directory = tmp_path / "models"
    shutil.copytree(blazepose_models[0].parent, directory)
    return directory


def test_intact_models_are_ok(models_copy):
    check = check_models(models_copy, own_model=None, explicit_dir=True)
    assert check.status == OK and str(models_copy) in check.message


def test_a_changed_model_file_fails_with_the_fetch_fix(models_copy):
    onnx = models_copy / "pose_landmark_full.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    check = check_models(models_copy, own_model=None, explicit_dir=True)
    assert check.status == FAIL and "pose_landmark_full.onnx (changed)" in check.message
    assert check.fix == f"ergoedge models fetch --force --models-dir {models_copy}"


def test_a_missing_model_file_or_manifest_fails(models_copy, tmp_path):
    (models_copy / "pose_detection.onnx").unlink()
    check = check_models(models_copy, own_model=None, explicit_dir=False)
    assert check.status == FAIL and "pose_detection.onnx (missing)" in check.message
    assert check.fix == "ergoedge models fetch --force"
    assert check_models(tmp_path / "empty", own_model=None, explicit_dir=False).status == FAIL


def test_own_model_is_checked_as_a_file(tmp_path):
    assert check_models(tmp_path, own_model=str(tmp_path / "nope.onnx"), explicit_dir=False).status == FAIL
    (tmp_path / "yolo.onnx").write_bytes(b"x")
    assert check_models(tmp_path, own_model=str(tmp_path / "yolo.onnx"), explicit_dir=False).status == OK


# -------------------------------------------------------------------------------------- config file


def write_config(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


MQTT_PASSWORD = '[sinks.mqtt]\nhost = "127.0.0.1"\nusername = "edge"\npassword = "pa55-word"\n'


def test_world_readable_config_with_a_password_fails(tmp_path):
    path = write_config(tmp_path / "run.toml", MQTT_PASSWORD, 0o644)
    check = check_config_file(path, secret_keys(dataclasses.asdict(load_config(path))), os.stat)
    assert check.status == FAIL and "sinks.mqtt.password" in check.message and "0644" in check.message
    assert check.fix.startswith(f"chmod 600 {path}")
    assert "pa55-word" not in check.message + check.fix


def test_private_config_with_a_password_is_ok(tmp_path):
    path = write_config(tmp_path / "run.toml", MQTT_PASSWORD, 0o600)
    assert check_config_file(path, secret_keys(dataclasses.asdict(load_config(path))), os.stat).status == OK


def test_world_readable_config_without_secrets_is_ok_but_world_writable_is_not(tmp_path):
    path = write_config(tmp_path / "run.toml", '[source]\nuri = "test://"\n', 0o644)
    assert check_config_file(path, [], os.stat).status == OK
    path.chmod(0o666)
    assert check_config_file(path, [], os.stat).status == FAIL
    assert check_config_file(None, [], os.stat).status == SKIP


def test_secrets_are_found_in_urls_and_password_keys():
    config = {"source": {"uri": "rtsp://admin:s3cret@10.0.0.5:554/stream"}, "output": {"rtsp_password": "x"},
              "sinks": {"mqtt": {"password": None, "host": "broker"}}, "plain": "rtsp://10.0.0.5/stream",
              "other": {"uri": "rtsp://10.0.0.5/stream?token=abc123"}}
    assert secret_keys(config) == ["source.uri (credentials in the URL)", "output.rtsp_password",
                                   "other.uri (credentials in the URL)"]


# ----------------------------------------------------------------------------------------------- MQTT


@needs_mosquitto
def test_broker_up_is_ok(tmp_path):
    with Broker(tmp_path / "broker") as broker:
        check = check_broker(MqttConfig(host=HOST, port=broker.port), Probes().mqtt_handshake)
    assert check.status == OK, check


def test_broker_down_fails():
    check = check_broker(MqttConfig(host=HOST, port=free_port()), Probes().mqtt_handshake)
    assert check.status == FAIL and "refused" in check.message.lower() and "mosquitto" in check.fix


def test_a_listener_that_is_not_a_broker_fails():
    """A TCP accept proves nothing (a proxy or another service may accept): the broker must answer MQTT."""
    server = socket.create_server((HOST, 0))

    def accept_and_close():
        conn, _ = server.accept()
        conn.recv(1024)
        conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        check = check_broker(MqttConfig(host=HOST, port=server.getsockname()[1]), Probes().mqtt_handshake)
    finally:
        thread.join(5)
        server.close()
    assert check.status == FAIL and "without an MQTT answer" in check.message


@needs_mosquitto
def test_broker_over_tls_is_ok(tmp_path):
    made = make_tls_files(tmp_path / "pki")
    if made is None:
        pytest.skip("openssl not installed")
    ca, cert, key = made
    tls_port = free_port()
    with Broker(tmp_path / "broker", tls=BrokerTls(tls_port, ca, cert, key)):
        mqtt = MqttConfig(host=HOST, port=tls_port, tls=MqttTls(ca_certs=str(ca)))
        check = check_broker(mqtt, Probes().mqtt_handshake)
    assert check.status == OK and "(TLS)" in check.message


def test_broker_refusing_credentials_fails():
    check = check_broker(MqttConfig(host=HOST, username="edge", password="x"), lambda _mqtt, _timeout: 4)
    assert check.status == FAIL and "username or password" in check.message


def test_tls_settings():
    assert check_mqtt_tls(None).status == SKIP
    assert check_mqtt_tls(MqttConfig(host="127.0.0.1", username="u", password="p")).status == OK
    remote = check_mqtt_tls(MqttConfig(host="10.0.0.9", username="u", password="p"))
    assert remote.status == WARN and "password" in remote.message and "ca_certs" in remote.fix


# ---------------------------------------------------------------------------------------- disk, places


def statvfs(free_bytes):
    return lambda _path: SimpleNamespace(f_bavail=free_bytes // 4096, f_frsize=4096)


def test_disk_space_thresholds(tmp_path):
    def status(free):
        return check_storage("runs", tmp_path / "runs", False, os.access, statvfs(free), "edge",
                             warn_bytes=1 << 30, fail_bytes=100 << 20).status

    assert status(5 << 30) == OK
    assert status(500 << 20) == WARN
    assert status(50 << 20) == FAIL


def test_unwritable_places_fail_with_the_fix(tmp_path):
    def refuse(_path, _mode):
        return False

    missing_dir = check_storage("runs", tmp_path / "runs", False, refuse, statvfs(10 << 30), "edge")
    assert missing_dir.status == FAIL and missing_dir.fix.startswith(f"sudo install -d -o edge {tmp_path / 'runs'}")
    db = tmp_path / "events.db"
    db.write_bytes(b"")
    existing_file = check_storage("events", db, True, refuse, statvfs(10 << 30), "edge")
    assert existing_file.status == FAIL and existing_file.fix.startswith(f"sudo chown edge {db}")


def test_places_follow_the_config(tmp_path):
    config = from_mapping(RunConfig, {"camera": "line3", "sinks": {"sqlite": "", "mqtt": {
        "outbox_path": str(tmp_path / "outbox-{camera}.sqlite")}}})
    places = {kind: path for kind, path, _ in storage_places(config)}
    assert set(places) == {"runs", "state", "outbox"}
    assert places["outbox"] == tmp_path / "outbox-line3.sqlite"


# --------------------------------------------------------------------------------------- cameras, clock


def test_v4l2_devices(tmp_path):
    video0 = Path("/dev/video0")
    open_all, closed = (lambda _p, _m: True), (lambda _p, _m: False)
    assert check_v4l2([], open_all, None, "edge").status == SKIP
    assert check_v4l2([], open_all, video0, "edge").status == FAIL
    assert check_v4l2([video0], open_all, video0, "edge").status == OK
    denied = check_v4l2([video0], closed, video0, "edge")
    assert denied.status == FAIL and "usermod -aG video edge" in denied.fix
    assert check_v4l2([video0], closed, None, "edge").status == WARN


def test_csi_needs_a_jetson_and_the_argus_daemon():
    assert check_csi(False, elements(DESKTOP), lambda: False, wanted=False).status == SKIP
    assert check_csi(False, elements(DESKTOP), lambda: False, wanted=True).status == FAIL
    assert check_csi(True, elements(JETSON), lambda: True, wanted=True).status == OK
    assert check_csi(True, elements(DESKTOP), lambda: True, wanted=True).status == FAIL


def test_clock():
    installed = datetime(2026, 5, 1, tzinfo=timezone.utc)
    assert check_clock(datetime(2026, 11, 3, tzinfo=timezone.utc), installed).status == OK
    boot = check_clock(datetime(1970, 1, 1, tzinfo=timezone.utc), installed)
    assert boot.status == FAIL and "1970-01-01" in boot.message and "timedatectl" in boot.fix
    # Installed while the clock was wrong too: no build of ergo-edge is that old.
    assert check_clock(datetime(1980, 1, 1, tzinfo=timezone.utc), datetime(1970, 1, 1, tzinfo=timezone.utc)).status \
        == FAIL
    assert [check_ntp(s).status for s in (True, False, None)] == [OK, WARN, SKIP]


# ------------------------------------------------------------------------------------------- end to end


def doctor(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "edge", "doctor", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


def test_doctor_json_on_this_machine(blazepose_models):
    proc = doctor("--json")
    report = json.loads(proc.stdout)
    assert set(report) == {"status", "checks"}
    names = [c["name"] for c in report["checks"]]
    assert len(names) == len(set(names))
    for check in report["checks"]:
        assert set(check) == {"name", "status", "message", "fix"}
        assert check["status"] in (OK, WARN, FAIL, SKIP) and check["message"]
        assert bool(check["fix"]) == (check["status"] in (WARN, FAIL)), check
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["gstreamer"] == statuses["gstreamer.plugins"] == statuses["onnxruntime"] == OK
    assert statuses["models"] == OK
    assert proc.returncode == (1 if FAIL in statuses.values() else 0), proc.stderr


def test_doctor_exit_codes_and_no_secret_in_the_output(tmp_path):
    port = free_port()  # nothing listens: the broker check fails
    config = write_config(tmp_path / "run.toml", f'[sinks]\nsqlite = ""\n[sinks.mqtt]\nhost = "127.0.0.1"\n'
                                                 f'port = {port}\nusername = "edge"\npassword = "pa55-word"\n', 0o600)
    proc = doctor("--config", str(config))
    assert proc.returncode == 1 and "pa55-word" not in proc.stdout
    lines = {line.split()[1]: line for line in proc.stdout.splitlines() if line[:4] in ("OK  ", "FAIL", "WARN", "SKIP")}
    assert lines["mqtt.broker"].startswith("FAIL") and f"127.0.0.1:{port}" in lines["mqtt.broker"]
    assert lines["config"].startswith("OK") and "fix:" in lines["mqtt.broker"]
    bad = doctor("--config", str(tmp_path / "missing.toml"))
    assert bad.returncode == 2 and bad.stderr.startswith("ergoedge: error: no such config file") and not bad.stdout


def test_table_has_one_line_per_check():
    checks = [check_ntp(None), check_ntp(False)]
    lines = format_checks(checks).splitlines()
    assert lines[0].startswith("SKIP  clock.ntp") and lines[1].startswith("WARN  clock.ntp")
    assert "fix: sudo timedatectl set-ntp true" in lines[1]
    assert lines[2] == "0 failed, 1 warning(s), 0 ok, 1 skipped"


def test_rig_calibration_is_checked(tmp_path, footage):
    from edge.pose.cameras import read_qca, write_rig
    from runtime.config import RigConfig
    from runtime.doctor_checks import check_rig

    assert check_rig(RigConfig()).status == SKIP
    rig = write_rig(read_qca(footage / "pose2sim" / "Calib.qca.txt"), tmp_path / "rig.toml")
    ok = check_rig(RigConfig(calibration=str(rig), sources={"cam01": "test://", "cam03": "test://"}))
    assert ok.status == OK and "2 cameras (cam01, cam03)" in ok.message and "up = (0, 0, 1)" in ok.message
    unknown = check_rig(RigConfig(calibration=str(rig), sources={"cam01": "test://", "cam09": "test://"}))
    assert unknown.status == FAIL and "cam09" in unknown.message and "calibrate-cameras" in unknown.fix
    missing = check_rig(RigConfig(calibration=str(tmp_path / "none.toml"), sources={"a": "test://", "b": "test://"}))
    assert missing.status == FAIL and "none.toml" in missing.message
