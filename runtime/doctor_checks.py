"""The checks of `ergoedge doctor` (`runtime.doctor` runs them): each judges what it is given, plain values or probe
callables that observe the machine, so tests simulate a machine instead of needing one.

A `Check` is ok, warn, fail or skip; all but ok say in one line what is wrong or why nothing was checked, and warn and
fail say how to fix it. Where the config's source and outputs decide whether something is needed (a GStreamer
element, TensorRT), a missing one fails when the config uses it and warns when it does not.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge.artifacts import FETCH_HINT, ModelError, load_manifest
from edge.config import is_secret_key
from edge.errors import InputError
from edge.inference.cuda_memory import BINDING_MODULES, INSTALL_HINT
from edge.inference.telemetry import quiet_openvino
from edge.versions import version_satisfies
from edge.paths import user_dir
from runtime.alerts.mqtt_config import MqttConfig
from runtime.config import RunConfig
from runtime.video.pipelines import select_encoder
from runtime.video.uri import SourceSpec, parse_source

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
GIB, MIB = 1 << 30, 1 << 20
# A recording at 4 Mbit/s writes about 1.8 GB an hour; below 200 MB SQLite and the outbox are close to failing.
DISK_WARN_BYTES = 2 * GIB
DISK_FAIL_BYTES = 200 * MIB
BROKER_TIMEOUT_S = 2.0
# No ergo-edge build is older than this; a Jetson without an RTC battery boots in 1970 or at its last shutdown.
EARLIEST_PLAUSIBLE = datetime(2025, 1, 1, tzinfo=timezone.utc)
# The installed files' time may be a little ahead of a clock that NTP has since corrected.
CLOCK_SLACK = timedelta(days=1)
_RANK = {SKIP: 0, OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One result. message: what was found (ok), what is wrong (warn, fail) or why nothing was checked (skip).
    fix: for warn and fail, what to do, in one line."""

    name: str
    status: str
    message: str
    fix: str = ""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _version_ok(version: str, wanted: str | None) -> bool:
    """Whether `version` is in the range `wanted` (">=1.16"); True when either cannot be read."""
    if not wanted:
        return True
    try:
        return version_satisfies(version, wanted)
    except ValueError:
        return True


# ------------------------------------------------------------------------------------------------ GStreamer

RTSP_SERVER = "GstRtspServer"  # the library behind --rtsp-port, not an element
_NVIDIA = "nvidia-l4t-gstreamer"
PACKAGES = {
    **dict.fromkeys(("videotestsrc", "decodebin", "videoconvert", "videoscale", "videorate", "appsink", "appsrc"),
                    "gstreamer1.0-plugins-base"),
    **dict.fromkeys(("rtspsrc", "rtph264depay", "rtph264pay", "mp4mux", "taginject", "v4l2src"),
                    "gstreamer1.0-plugins-good"),
    "h264parse": "gstreamer1.0-plugins-bad", "x264enc": "gstreamer1.0-plugins-ugly",
    "avdec_h264": "gstreamer1.0-libav", RTSP_SERVER: "gir1.2-gst-rtsp-server-1.0",
    **dict.fromkeys(("nvarguscamerasrc", "nvvidconv", "nvv4l2decoder", "nvv4l2h264enc"), _NVIDIA),
}
# What needs an element: "frames" is every run; the others are source kinds and outputs (see `config_uses`).
_USE_TEXT = {"frames": "every run", "file": "files", "rtsp": "RTSP cameras", "test": "test://", "v4l2": "USB cameras",
             "csi": "CSI cameras", "record": "--record", "rtsp-out": "--rtsp-port"}


def config_uses(config: RunConfig) -> frozenset[str]:
    """The source kind and the outputs the config asks for (what a missing element would break)."""
    uses = set()
    for uri in (config.source.uri, *config.rig.sources.values()):
        spec = source_spec(uri)
        if spec is not None:
            uses.add(spec.kind)
    if config.output.record:
        uses.add("record")
    if config.output.rtsp_port:
        uses.add("rtsp-out")
    return frozenset(uses)


def check_rig(rig) -> Check:
    """The rig's calibration (`[rig]`) reads and calibrates every camera the config names."""
    from edge.pose.cameras import read_rig

    if not rig.sources:
        return Check("rig", SKIP, "one camera (no [rig] in the config)")
    try:
        calibrated = read_rig(rig.calibration)
    except InputError as exc:
        return Check("rig", FAIL, str(exc), fix="ergoedge calibrate-cameras ... --out " + rig.calibration)
    missing = sorted(set(rig.sources) - set(calibrated.names))
    if missing:
        return Check("rig", FAIL, f"{rig.calibration} does not calibrate {', '.join(missing)} (it has "
                     f"{', '.join(calibrated.names)})", fix="ergoedge calibrate-cameras --camera NAME ... --out "
                     + rig.calibration)
    up = ", ".join(f"{v:g}" for v in calibrated.up)
    return Check("rig", OK, f"{len(rig.sources)} cameras ({', '.join(sorted(rig.sources))}) calibrated in "
                 f"{rig.calibration}, up = ({up})")


def source_spec(uri: str) -> SourceSpec | None:
    try:
        return parse_source(uri) if uri.strip() else None
    except InputError:  # a bad source is `ergoedge run`'s error to report; here it just names no use
        return None


def gst_needs(jetson: bool, has: Callable[[str], bool]) -> dict[str, tuple[str, ...]]:
    """element -> what needs it, as `runtime.video.pipelines` builds its pipelines on this machine."""
    # As runtime.video.gst.jetson_elements: NVIDIA's decoder and converter only when both are there.
    decoder = "nvv4l2decoder" if jetson and has("nvv4l2decoder") and has("nvvidconv") else "avdec_h264"
    needs: dict[str, tuple[str, ...]] = {
        **dict.fromkeys(("videoconvert", "videoscale", "videorate", "appsink"), ("frames",)),
        "decodebin": ("file", "rtsp"), "videotestsrc": ("test",), "v4l2src": ("v4l2",),
        "rtspsrc": ("rtsp",), "rtph264depay": ("rtsp",), decoder: ("rtsp",),
        "h264parse": ("rtsp", "record", "rtsp-out"), "appsrc": ("record", "rtsp-out"),
        select_encoder(jetson, has): ("record", "rtsp-out"), "mp4mux": ("record",), "taginject": ("record",),
        "rtph264pay": ("rtsp-out",),
        RTSP_SERVER: ("rtsp-out",),
    }
    return needs


def check_gstreamer(version: Callable[[], str]) -> Check:
    try:
        return Check("gstreamer", OK, version())
    except InputError as exc:
        text, _, install = str(exc).partition(": ")
        if install.startswith("apt-get"):  # runtime.video.gst says what to install after the colon
            return Check("gstreamer", FAIL, text, fix=f"sudo {install}")
        return Check("gstreamer", FAIL, str(exc), fix="rm -rf ~/.cache/gstreamer-1.0 (a stale plugin registry), "
                                                      "then run again")


def check_gst_plugins(has: Callable[[str], bool], has_rtsp_server: Callable[[], bool], jetson: bool,
                      uses: Iterable[str]) -> Check:
    """Every element the pipelines use on this machine. Missing: fail when the config's source or outputs (or every
    run) need it, warn when only other sources or outputs would."""
    needs = gst_needs(jetson, has)
    missing = [e for e in needs if not (has_rtsp_server() if e == RTSP_SERVER else has(e))]
    if not missing:
        return Check("gstreamer.plugins", OK, f"all {len(needs)} elements present ({', '.join(needs)})")
    blocking = {"frames", *uses}
    status = FAIL if any(blocking.intersection(needs[e]) for e in missing) else WARN
    text = ", ".join(f"{e} (for {', '.join(_USE_TEXT[u] for u in needs[e])})" for e in missing)
    packages = " ".join(sorted({PACKAGES[e] for e in missing}))
    return Check("gstreamer.plugins", status, f"missing {text}", fix=f"sudo apt-get install {packages}")


def check_nvidia_elements(jetson: bool, has: Callable[[str], bool], uses: Iterable[str]) -> Check:
    """On a Jetson: NVIDIA's camera source, converter and decoder; whether this board has NVENC."""
    name = "gstreamer.nvidia"
    if not jetson:
        return Check(name, SKIP, "not a Jetson")
    encoding = "NVENC encodes H.264" if has("nvv4l2h264enc") else "no NVENC on this board: x264enc encodes on the CPU"
    missing = [e for e in ("nvarguscamerasrc", "nvvidconv", "nvv4l2decoder") if not has(e)]
    if not missing:
        return Check(name, OK, f"nvarguscamerasrc, nvvidconv, nvv4l2decoder present; {encoding}")
    status = FAIL if "csi" in uses else WARN
    return Check(name, status, f"missing {', '.join(missing)}: no CSI camera, decoding and scaling on the CPU",
                 fix=f"sudo apt-get install {_NVIDIA} (JetPack); if installed, rm -rf ~/.cache/gstreamer-1.0")


# ------------------------------------------------------------------------------------------ inference runtimes


def check_onnxruntime(import_module: Callable[[str], Any], jetson: bool, wanted: str | None) -> Check:
    name = "onnxruntime"
    install = ("NVIDIA's onnxruntime-gpu wheel for this JetPack (see jetson/README.md)" if jetson
               else f"pip install 'onnxruntime{wanted or ''}'")
    try:
        ort = import_module("onnxruntime")
        version, providers = ort.__version__, list(ort.get_available_providers())
    except Exception as exc:  # noqa: BLE001 - ImportError, or two onnxruntime packages installed over each other
        return Check(name, FAIL, f"ONNX Runtime does not import ({_reason(exc)})", fix=f"install {install}")
    found = f"{version}, providers {', '.join(providers)}"
    if not _version_ok(version, wanted):
        return Check(name, FAIL, f"{found}: ergo-edge needs onnxruntime{wanted}", fix=f"install {install}")
    if jetson and "CUDAExecutionProvider" not in providers:
        return Check(name, WARN, f"{found}: no CUDA provider, pose runs on the CPU (a CPU build shadows JetPack's)",
                     fix=f"pip uninstall onnxruntime, then install {install}")
    return Check(name, OK, found)


def check_openvino(import_module: Callable[[str], Any], machine: str, wanted: str | None, required: bool) -> Check:
    """OpenVINO is x86's faster CPU runtime; without it `auto` falls back to ONNX Runtime."""
    name = "openvino"
    if machine.lower() not in ("x86_64", "amd64"):
        if required:
            return Check(name, FAIL, f"backend openvino is configured, but OpenVINO is for x86 ({machine} here)",
                         fix="set [pose] backend = \"auto\" or \"onnxruntime\"")
        return Check(name, SKIP, f"OpenVINO is for x86 machines ({machine} here)")
    quiet_openvino()  # importing openvino is what sends its usage event
    try:
        version = import_module("openvino").__version__.split("-")[0]
    except Exception as exc:  # noqa: BLE001 - a native module that fails to load raises more than ImportError
        status = FAIL if required else WARN
        return Check(name, status, f"OpenVINO does not import ({_reason(exc)}); ONNX Runtime runs .onnx models",
                     fix=f"pip install 'openvino{wanted or ''}'")
    if not _version_ok(version, wanted):
        return Check(name, FAIL, f"{version}: ergo-edge needs openvino{wanted}", fix=f"pip install 'openvino{wanted}'")
    return Check(name, OK, version)


def check_tensorrt(import_module: Callable[[str], Any], jetson: bool, required: bool) -> Check:
    """required: the config runs a TensorRT engine. On a Jetson it is expected anyway (JetPack has it)."""
    try:
        return Check("tensorrt", OK, import_module("tensorrt").__version__)
    except Exception as exc:  # noqa: BLE001 - as above: missing libnvinfer is an OSError
        problem = f"TensorRT's Python bindings do not import ({_reason(exc)})"
    if required or jetson:
        fix = ("sudo apt-get install python3-libnvinfer; the venv needs --system-site-packages" if jetson
               else "TensorRT engines run on a Jetson: give an .onnx model here")
        return Check("tensorrt", FAIL if required else WARN, problem, fix=fix)
    return Check("tensorrt", SKIP, "not a Jetson and no TensorRT engine configured")


def check_cuda_bindings(import_module: Callable[[str], Any], jetson: bool, required: bool) -> Check:
    """pycuda or cuda-python, what the TensorRT backend moves tensors with."""
    found, problems = [], []
    for label, modules in BINDING_MODULES.items():
        for module in modules:
            try:
                import_module(module)
                # The version is on the package: pycuda.VERSION_TEXT, cuda.bindings.__version__.
                top = import_module(module.rpartition(".")[0])
                version = getattr(top, "VERSION_TEXT", None) or getattr(top, "__version__", None)
                found.append(f"{label} {version}" if version else label)
                break
            except Exception as exc:  # noqa: BLE001 - no libcuda raises OSError or the bindings' own errors
                problem = f"{label}: {_reason(exc)}"
        else:
            problems.append(problem)
    if found:
        return Check("cuda", OK, ", ".join(found))
    if required or jetson:
        return Check("cuda", FAIL if required else WARN, f"no CUDA bindings ({'; '.join(problems)})",
                     fix=INSTALL_HINT)
    return Check("cuda", SKIP, "not a Jetson and no TensorRT engine configured")


# ---------------------------------------------------------------------------------------------------- models


def check_models(directory: Path, own_model: str | None, explicit_dir: bool,
                 load: Callable[[Path], dict] = load_manifest) -> Check:
    """The BlazePose files against manifest.json (sha256), or the config's own model file."""
    if own_model:
        path = Path(own_model).expanduser()
        if path.is_file():
            return Check("models", OK, f"{path} (your own model: no manifest to check it against)")
        return Check("models", FAIL, f"no such model file: {path}", fix="correct [pose] model in the config")
    try:
        manifest = load(directory)
    except ModelError as exc:
        where = f" --models-dir {shlex.quote(str(directory))}" if explicit_dir else ""
        return Check("models", FAIL, str(exc).removesuffix(f"; {FETCH_HINT}"),
                     fix=f"ergoedge models fetch --force{where}")
    return Check("models", OK, f"{len(manifest['files'])} files in {directory} match their sha256 in the manifest")


# --------------------------------------------------------------------------------------------------- cameras


def check_v4l2(devices: list[Path], access: Callable[[Path, int], bool], wanted: Path | None, user: str) -> Check:
    """/dev/video*: present, and openable (read and write) by this user. wanted: the config's v4l2 device."""
    name = "camera.v4l2"
    if wanted is not None and wanted not in devices:
        return Check(name, FAIL, f"the config's camera {wanted} does not exist",
                     fix="plug the camera in (ls /dev/video*) or correct [source] uri")
    if not devices:
        return Check(name, SKIP, "no /dev/video* devices (no USB camera)")
    closed = [d for d in devices if not access(d, os.R_OK | os.W_OK)]
    if closed:
        status = FAIL if wanted in closed else WARN
        return Check(name, status, f"{user} cannot open {', '.join(map(str, closed))}",
                     fix=f"sudo usermod -aG video {user}, then log in again (the service has the video group)")
    return Check(name, OK, f"{', '.join(map(str, devices))} open to {user}")


def check_csi(jetson: bool, has: Callable[[str], bool], argus_running: Callable[[], bool], wanted: bool) -> Check:
    """CSI cameras: nvarguscamerasrc and the nvargus daemon it talks to. wanted: the config's source is csi://."""
    name = "camera.csi"
    if not jetson:
        if wanted:
            return Check(name, FAIL, "the config's source is csi://, which needs a Jetson",
                         fix="use v4l2:///dev/video0 for a USB camera")
        return Check(name, SKIP, "not a Jetson")
    status = FAIL if wanted else WARN
    if not has("nvarguscamerasrc"):
        return Check(name, status, "no nvarguscamerasrc element", fix=f"sudo apt-get install {_NVIDIA} (JetPack)")
    if not argus_running():
        return Check(name, status, "nvargus-daemon is not running (CSI cameras go through it)",
                     fix="sudo systemctl restart nvargus-daemon")
    return Check(name, OK, "nvarguscamerasrc present, nvargus-daemon running")


# ------------------------------------------------------------------------------------------------------ MQTT


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# CONNACK return codes of MQTT 3.1.1 that are not "accepted".
_REFUSED = {1: "does not speak MQTT 3.1.1", 2: "rejects the client id", 3: "is unavailable",
            4: "refuses the username or password", 5: "does not authorise this client"}


def check_broker(mqtt: MqttConfig | None, handshake: Callable[[MqttConfig, float], int]) -> Check:
    """Connect to the config's broker, as the MQTT sink does, with a short timeout."""
    if mqtt is None:
        return Check("mqtt.broker", SKIP, "no [sinks.mqtt] in the config")
    where = f"{mqtt.host}:{mqtt.port}" + (" (TLS)" if mqtt.tls else "")
    try:
        code = handshake(mqtt, BROKER_TIMEOUT_S)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or _reason(exc))
        return Check("mqtt.broker", FAIL, f"no MQTT broker answers at {where} ({reason}); alerts wait in the outbox",
                     fix="start the broker (sudo systemctl start mosquitto) or correct [sinks.mqtt] host, port and tls")
    if code != 0:
        problem = _REFUSED.get(code, f"refuses the connection (code {code})")
        return Check("mqtt.broker", FAIL, f"the broker at {where} {problem}",
                     fix="correct [sinks.mqtt] username and password (or the broker's ACL)")
    return Check("mqtt.broker", OK, f"{where} accepts MQTT connections")


def check_mqtt_tls(mqtt: MqttConfig | None) -> Check:
    """TLS settings: needed when alerts (and a password) leave the device."""
    name = "mqtt.tls"
    if mqtt is None:
        return Check(name, SKIP, "no [sinks.mqtt] in the config")
    if mqtt.tls is not None:
        if mqtt.tls.insecure:
            return Check(name, WARN, "TLS without checking the broker's host name (tls.insecure = true)",
                         fix="put the broker's address in its certificate and remove tls.insecure")
        return Check(name, OK, f"TLS, CA {mqtt.tls.ca_certs}" + (", client certificate" if mqtt.tls.certfile else ""))
    if _is_loopback(mqtt.host):
        return Check(name, OK, "plain TCP to a broker on this device")
    what = "alerts and the MQTT password go" if mqtt.password else "alerts go"
    return Check(name, WARN, f"{what} unencrypted to {mqtt.host}",
                 fix="add [sinks.mqtt.tls] ca_certs = \"/path/to/ca.pem\" and the broker's TLS port (8883)")


# ------------------------------------------------------------------------------------ places written, disk space


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def check_storage(kind: str, path: Path, is_file: bool, access: Callable[[Path, int], bool],
                  statvfs: Callable[[Path], Any], user: str, warn_bytes: int = DISK_WARN_BYTES,
                  fail_bytes: int = DISK_FAIL_BYTES) -> Check:
    """A place the run writes (a directory, or a file such as the event store): writable by this user (or creatable
    in its nearest existing parent), and the free space of its file system."""
    folder = path.parent if is_file else path
    base = _nearest_existing(folder)
    if is_file and path.exists():
        writable = access(path, os.W_OK) and access(folder, os.W_OK | os.X_OK)  # SQLite adds -wal/-journal beside it
        owner_fix = f"sudo chown {user} {shlex.quote(str(path))} {shlex.quote(str(folder))}"
    else:
        writable = base.is_dir() and access(base, os.W_OK | os.X_OK)
        owner_fix = f"sudo install -d -o {user} {shlex.quote(str(folder))}"
    status, problems, fixes = OK, [], []
    if not writable:
        status = FAIL
        problems.append(f"{user} cannot write {path}")
        fixes.append(f"{owner_fix} (or run the doctor as the user that runs ergo-edge)")
    try:
        stats = statvfs(base)
        free = stats.f_bavail * stats.f_frsize
    except OSError as exc:
        free = None
        problems.append(f"free space unknown ({_reason(exc)})")
        status = max(status, WARN, key=_RANK.get)
    if free is not None and free < warn_bytes:
        status = max(status, FAIL if free < fail_bytes else WARN, key=_RANK.get)
        problems.append(f"only {_size(free)} free for {path} (warn below {_size(warn_bytes)}, fail below "
                        f"{_size(fail_bytes)})")
        fixes.append("free space there or move it elsewhere in the config")
    if status == OK:
        return Check(f"storage.{kind}", OK, f"{path}: writable, {_size(free)} free")
    return Check(f"storage.{kind}", status, "; ".join(problems), fix="; ".join(fixes))


def storage_places(config: RunConfig) -> list[tuple[str, Path, bool]]:
    """(kind, path, is_file) of every place a run with `config` writes, as the session and sinks choose them."""
    places = [("runs", user_dir("data") / "runs", False), ("state", user_dir("state"), False)]
    if config.sinks.sqlite != "":
        places.append(("events", Path(config.sinks.sqlite or user_dir("data") / "events.db").expanduser(), True))
    mqtt = config.sinks.mqtt
    if mqtt is not None and mqtt.outbox_path:
        outbox = Path(str(mqtt.outbox_path).replace("{camera}", config.camera or "camera")).expanduser()
        places.append(("outbox", outbox, True))
    if config.output.record:
        places.append(("record", Path(config.output.record).expanduser(), True))
    return places


# ----------------------------------------------------------------------------------------- clock, config file


def check_clock(now: datetime, installed: datetime) -> Check:
    """The clock must not be before this software was installed (nor before any build of it)."""
    floor = max(EARLIEST_PLAUSIBLE, installed - CLOCK_SLACK)
    if now < floor:
        return Check("clock", FAIL, f"the clock says {now:%Y-%m-%d %H:%M} UTC, before {floor:%Y-%m-%d} (when "
                                    "ergo-edge was installed): alert times and shifts would be wrong",
                     fix="sudo timedatectl set-ntp true (needs the network), or sudo date -s 'YYYY-MM-DD HH:MM'")
    return Check("clock", OK, f"{now:%Y-%m-%d %H:%M} UTC")


def check_ntp(synced: bool | None) -> Check:
    if synced is None:
        return Check("clock.ntp", SKIP, "timedatectl cannot tell (not installed, or no systemd: a container?)")
    if not synced:
        return Check("clock.ntp", WARN, "the clock is not synchronised by NTP: it drifts",
                     fix="sudo timedatectl set-ntp true, and let the device reach an NTP server")
    return Check("clock.ntp", OK, "synchronised")


def secret_keys(values: Mapping, prefix: str = "") -> list[str]:
    """Dotted keys of `values` (a config as a mapping) that hold a secret: a password-like key with a value, or a
    camera URL with credentials in it (rtsp://user:pw@..., ?token=...). Names only: never the values."""
    found = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found += secret_keys(value, dotted + ".")
        elif isinstance(value, (list, tuple)):
            found += secret_keys({str(i): v for i, v in enumerate(value)}, dotted + ".")
        elif value and is_secret_key(str(key)):
            found.append(dotted)
        elif isinstance(value, str) and value.lower().startswith(("rtsp://", "rtsps://")):
            try:
                if parse_source(value).secrets():
                    found.append(f"{dotted} (credentials in the URL)")
            except InputError:
                continue
    return found


def check_config_file(path: Path | None, secrets: list[str], stat: Callable[[Path], os.stat_result]) -> Check:
    """A config holding a password must not be readable by every user; none may be writable by every user."""
    if path is None:
        return Check("config", SKIP, "no config file: the defaults apply")
    mode = stat(path).st_mode & 0o777
    problems = []
    if mode & 0o002:
        problems.append("anyone can change it")
    if secrets and mode & 0o004:
        problems.append(f"every user can read it and it holds {', '.join(secrets)}")
    if problems:
        return Check("config", FAIL, f"{path} (mode {mode:04o}): {'; '.join(problems)}",
                     fix=f"chmod 600 {shlex.quote(str(path))} (its owner: the user that runs ergo-edge)")
    holds = f"holds {', '.join(secrets)}" if secrets else "holds no password"
    return Check("config", OK, f"{path} (mode {mode:04o}) {holds}")


def overall(checks: Iterable[Check]) -> str:
    """fail if any check failed, else warn if any warned, else ok."""
    worst = max((_RANK[c.status] for c in checks), default=0)
    return {0: OK, 1: WARN, 2: FAIL}[worst]


