"""`ergoedge doctor`: is this machine ready to run ergo-edge, and if not, what to do about it.

`run_checks(config_path, models_dir)` is the entry point. It reads the run config (`--config`, else the service's
`/etc/ergo-edge/run.toml` when it exists, else the defaults) and checks GStreamer and the elements the pipelines use
(the NVIDIA ones on a Jetson), the inference runtimes, the model files against their manifest, cameras, the MQTT
broker, the places the run writes to and their free space, the clock and the config file's permissions. The checks
themselves are in `runtime.doctor_checks`; `Probes` holds how they observe this machine, and tests replace it.
"""

from __future__ import annotations

import dataclasses
import getpass
import importlib
import json
import os
import platform
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.artifacts import models_dir as default_models_dir
from edge.device import is_jetson
from edge.errors import InputError
from edge.versions import declared_specifier
from runtime.alerts.mqtt_config import MqttConfig
from runtime.config import RunConfig, load_config
from runtime.doctor_checks import (FAIL, OK, SKIP, WARN, Check, check_broker, check_clock, check_config_file, check_csi,
                                   check_cuda_bindings, check_gst_plugins, check_gstreamer, check_models,
                                   check_mqtt_tls, check_ntp, check_rig, check_nvidia_elements, check_onnxruntime,
                                   check_openvino, check_storage, check_tensorrt, check_v4l2, config_uses, overall,
                                   secret_keys, source_spec, storage_places)
from runtime.video.gst import gst, has_element

# The config the systemd unit runs with (jetson/ergo-edge.service); checked when no --config is given.
SERVICE_CONFIG = Path("/etc/ergo-edge/run.toml")

# ------------------------------------------------------------------------------------------- real probes


def _gst_version() -> str:
    return gst().Gst.version_string()  # InputError (with the install line) when the bindings are missing


def _has_rtsp_server() -> bool:
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


def _video_devices() -> list[Path]:
    return sorted(Path("/dev").glob("video*"))


def _argus_running() -> bool:
    if Path("/tmp/argus_socket").exists():  # the daemon's socket; what a container gets from the host
        return True
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "nvargus-daemon":
                return True
        except OSError:  # the process ended while we looked
            continue
    return False


def _mqtt_string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _mqtt_handshake(mqtt: MqttConfig, timeout: float) -> int:
    """Connect to the broker as the sink would (TLS and credentials from `mqtt`), send an MQTT 3.1.1 CONNECT and
    return the CONNACK's return code (0 accepted). Raises OSError when nothing (or not a broker) answers.

    A TCP connect alone proves little: a firewall or proxy may accept any connection."""
    flags = 0x02 | (0x80 if mqtt.username is not None else 0) | (0x40 if mqtt.password is not None else 0)
    body = (_mqtt_string("MQTT") + bytes([4, flags]) + (10).to_bytes(2, "big")
            + _mqtt_string(f"ergoedge-doctor-{os.getpid()}")
            + b"".join(_mqtt_string(v) for v in (mqtt.username, mqtt.password) if v is not None))
    length, size = bytearray(), len(body)
    while True:  # MQTT's variable-length integer
        size, byte = divmod(size, 128)
        length.append(byte | (0x80 if size else 0))
        if not size:
            break
    with socket.create_connection((mqtt.host, mqtt.port), timeout=timeout) as raw:
        sock = raw
        if mqtt.tls is not None:
            import ssl

            context = ssl.create_default_context(cafile=mqtt.tls.ca_certs)
            if mqtt.tls.certfile:
                context.load_cert_chain(mqtt.tls.certfile, mqtt.tls.keyfile)
            context.check_hostname = not mqtt.tls.insecure
            sock = context.wrap_socket(raw, server_hostname=mqtt.host)
        sock.sendall(bytes([0x10]) + bytes(length) + body)
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                raise ConnectionError("the connection was closed without an MQTT answer")
            answer += chunk
        if answer[:2] != b"\x20\x02":
            raise ConnectionError("something answered, but not an MQTT broker")
        sock.sendall(b"\xe0\x00")  # DISCONNECT
        return answer[3]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a container with an arbitrary uid)
        return str(os.getuid())


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _installed_at() -> datetime:
    import edge

    return datetime.fromtimestamp(Path(edge.__file__).stat().st_mtime, timezone.utc)


def _ntp_synced() -> bool | None:
    """timedatectl's NTPSynchronized; None when it cannot tell (no timedatectl, no systemd: a container)."""
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "show", "--property=NTPSynchronized", "--value"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"yes": True, "no": False}.get(out.stdout.strip()) if out.returncode == 0 else None


@dataclass(frozen=True)
class Probes:
    """How the checks observe this machine; tests replace the ones they simulate."""

    jetson: Callable[[], bool] = is_jetson
    machine: Callable[[], str] = platform.machine
    gst_version: Callable[[], str] = _gst_version
    has_element: Callable[[str], bool] = has_element
    has_rtsp_server: Callable[[], bool] = _has_rtsp_server
    import_module: Callable[[str], Any] = importlib.import_module
    declared: Callable[[str], str | None] = declared_specifier
    video_devices: Callable[[], list[Path]] = _video_devices
    access: Callable[[Path, int], bool] = os.access
    argus_running: Callable[[], bool] = _argus_running
    mqtt_handshake: Callable[[MqttConfig, float], int] = _mqtt_handshake
    statvfs: Callable[[Path], Any] = os.statvfs
    stat: Callable[[Path], os.stat_result] = os.stat
    now: Callable[[], datetime] = _utc_now
    installed_at: Callable[[], datetime] = _installed_at
    ntp_synced: Callable[[], bool | None] = _ntp_synced
    user: Callable[[], str] = _user


# ---------------------------------------------------------------------------------------------- entry point


def _config_path(given: str | os.PathLike | None) -> Path | None:
    if given is not None:
        return Path(given)
    if not SERVICE_CONFIG.is_file():
        return None
    if not os.access(SERVICE_CONFIG, os.R_OK):
        raise InputError(f"cannot read {SERVICE_CONFIG}: run the doctor as root or as the user that runs "
                         "ergo-edge, or give --config")
    return SERVICE_CONFIG


def _runtime_checks(p: Probes, jetson: bool, config: RunConfig) -> list[Check]:
    pose = config.pose
    engine = pose.backend == "tensorrt" or str(pose.model or "").endswith(".engine")
    return [check_onnxruntime(p.import_module, jetson, p.declared("onnxruntime")),
            check_openvino(p.import_module, p.machine(), p.declared("openvino"), pose.backend == "openvino"),
            check_tensorrt(p.import_module, jetson, engine),
            check_cuda_bindings(p.import_module, jetson, engine)]


def run_checks(config_path: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None,
               probes: Probes | None = None) -> list[Check]:
    """Every check, in the order a table shows them. Raises InputError when the config cannot be read."""
    p = probes or Probes()
    path = _config_path(config_path)
    config = load_config(path)
    jetson, user = p.jetson(), p.user()
    uses = config_uses(config)
    checks = [check_config_file(path, secret_keys(dataclasses.asdict(config)), p.stat)]

    gstreamer = check_gstreamer(p.gst_version)
    checks.append(gstreamer)
    if gstreamer.status == OK:
        checks += [check_gst_plugins(p.has_element, p.has_rtsp_server, jetson, uses),
                   check_nvidia_elements(jetson, p.has_element, uses)]
    else:
        checks += [Check(name, SKIP, "GStreamer does not import") for name in ("gstreamer.plugins", "gstreamer.nvidia")]
    checks += _runtime_checks(p, jetson, config)

    chosen = models_dir if models_dir is not None else config.pose.models_dir
    checks.append(check_models(default_models_dir(chosen), config.pose.model, chosen is not None))

    spec = source_spec(config.source.uri)
    v4l2 = Path(spec.location) if spec is not None and spec.kind == "v4l2" else None
    checks += [check_v4l2(p.video_devices(), p.access, v4l2, user),
               check_csi(jetson, p.has_element, p.argus_running, "csi" in uses),
               check_broker(config.sinks.mqtt, p.mqtt_handshake), check_mqtt_tls(config.sinks.mqtt),
               check_rig(config.rig)]
    checks += [check_storage(kind, place, is_file, p.access, p.statvfs, user)
               for kind, place, is_file in storage_places(config)]
    checks += [check_clock(p.now(), p.installed_at()), check_ntp(p.ntp_synced())]
    return checks


def format_checks(checks: list[Check], as_json: bool = False) -> str:
    """A table (one line per check, then a count) or JSON: {"status": ..., "checks": [{name, status, message, fix}]}."""
    if as_json:
        return json.dumps({"status": overall(checks), "checks": [dataclasses.asdict(c) for c in checks]}, indent=2)
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status.upper():4s}  {c.name:<{width}}  {c.message}" + (f"; fix: {c.fix}" if c.fix else "")
             for c in checks]
    counts = {s: sum(c.status == s for c in checks) for s in (FAIL, WARN, OK, SKIP)}
    lines.append(f"{counts[FAIL]} failed, {counts[WARN]} warning(s), {counts[OK]} ok, {counts[SKIP]} skipped")
    return "\n".join(lines)
