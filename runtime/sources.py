"""Video sources: a source URI -> a GStreamer pipeline -> BGR numpy frames, with reconnection for live cameras.

Three layers, the first two pure (no GStreamer needed, unit-tested everywhere):

* `parse_source(uri)` -> `SourceSpec`: what to open (kind, location, requested caps, options).
* `pipeline_description(spec, jetson)` -> the gst-launch description, ending in an appsink named "sink" that delivers
  BGR frames. `jetson_available()` says whether NVIDIA's elements exist; callers pass it as `jetson`.
* `GstSource(spec)`: runs the pipeline and iterates `Frame`s. Live sources (CSI, V4L2, RTSP, test pattern) keep only
  the newest frame (latency never builds up) and reconnect after an error, an EOS or a stall, following a
  `ReconnectPolicy`; every outage is recorded as a gap in `stats()`. File sources deliver every frame (appsink
  backpressure) and end at EOS.

Source URIs:

    csi://0?flip=2&width=1280&height=720&fps=30     Jetson CSI camera (nvarguscamerasrc), sensor 0, flip method 0-7
    v4l2:///dev/video0?format=mjpeg&width=1280      USB camera; format raw (default) or mjpeg; v4l2://1 = /dev/video1
    rtsp://user:pw@host:554/path#latency=100&codec=h265&transport=tcp
                                                    also rtsps://; our options go in the fragment (never sent to the
                                                    server) so the URL's own query reaches the camera untouched;
                                                    codec h264 (default), h265, or auto (decodebin picks)
    file:///abs/clip.mp4?width=640   or a plain path (relative paths are made absolute); must exist
    test://?pattern=ball&width=640&height=480&fps=30   videotestsrc, live

GStreamer (PyGObject) is imported inside the functions that run pipelines: `import runtime.sources` works anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

from edge.errors import InputError
from runtime.gst import gst as _gst

log = logging.getLogger(__name__)

KINDS = ("csi", "v4l2", "rtsp", "file", "test")
LIVE_KINDS = frozenset({"csi", "v4l2", "rtsp", "test"})

# videotestsrc's pattern nicks (GStreamer 1.22), checked here so a typo fails at parse time, not in the pipeline.
TEST_PATTERNS = (
    "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2", "checkers-4",
    "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut", "chroma-zone-plate", "solid-color", "ball",
    "smpte100", "bar", "pinwheel", "spokes", "gradient", "colors", "smpte-rp-219",
)
RTSP_CODECS = ("h264", "h265", "auto")
RTSP_TRANSPORTS = ("tcp", "udp")
V4L2_FORMATS = ("raw", "mjpeg")

# The appsink tails. Live: keep only the newest frame, never wait for the clock. File: every frame, with backpressure.
LIVE_SINK = "appsink name=sink drop=true max-buffers=1 sync=false emit-signals=false"
FILE_SINK = "appsink name=sink sync=false max-buffers=4 drop=false"



class SourceError(InputError):
    """A source failed at run time: it could not start, a file is unreadable, or reconnection gave up.

    A subclass of InputError so the CLI reports it as one line (the camera or file is the user's input).
    """


# --------------------------------------------------------------------------------------------------------------------
# Specs (pure)


@dataclass(frozen=True)
class SourceSpec:
    """What to open. `width`, `height`, `fps` are the requested caps (None = whatever the source gives).

    Options (each used by one kind, ignored by the others):
      pattern      test: videotestsrc pattern nick ("ball", "smpte", ...)
      latency_ms   rtsp: rtspsrc jitterbuffer latency (rtspsrc's own default is 2000 ms; 200 suits LAN cameras)
      transport    rtsp: "tcp" (default; survives lossy Wi-Fi, required by rtsps) or "udp"
      codec        rtsp: "h264", "h265", or "auto" (decodebin picks the depayloader and decoder: any codec, slower
                   to start, and on Jetson only as hardware-accelerated as decodebin's ranking makes it)
      sensor_id    csi: nvarguscamerasrc sensor-id
      flip_method  csi: nvvidconv flip-method (0 none, 1 ccw 90, 2 180, 3 cw 90, 4 horizontal, 5 upper-right
                   diagonal, 6 vertical, 7 upper-left diagonal)
      input_format v4l2: "raw" (video/x-raw) or "mjpeg" (image/jpeg, decoded by jpegdec)
    """

    kind: str
    location: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    live: bool | None = None  # None: from the kind (file sources are not live, all others are)
    pattern: str = "ball"
    latency_ms: int = 200
    transport: str = "tcp"
    codec: str = "h264"
    sensor_id: int = 0
    flip_method: int = 0
    input_format: str = "raw"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown source kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if self.live is None:
            object.__setattr__(self, "live", self.kind in LIVE_KINDS)
        if self.live != (self.kind in LIVE_KINDS):
            raise InputError(f"{self.kind} sources are {'live' if self.kind in LIVE_KINDS else 'not live'}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 16384):
                raise InputError(f"source {name} must be an integer from 1 to 16384, got {value!r}")
        if self.fps is not None and (isinstance(self.fps, bool) or not isinstance(self.fps, (int, float))
                                     or not math.isfinite(self.fps) or not 0 < self.fps <= 1000):
            raise InputError(f"source fps must be a number above 0 and at most 1000, got {self.fps!r}")
        _check_choice("pattern", self.pattern, TEST_PATTERNS)
        _check_choice("codec", self.codec, RTSP_CODECS)
        _check_choice("transport", self.transport, RTSP_TRANSPORTS)
        _check_choice("format", self.input_format, V4L2_FORMATS)
        _check_int("latency", self.latency_ms, 0, 60_000)
        _check_int("sensor id", self.sensor_id, 0, 63)
        _check_int("flip", self.flip_method, 0, 7)
        if self.kind == "rtsp" and self.location.lower().startswith("rtsps:") and self.transport != "tcp":
            raise InputError("rtsps:// runs over TLS, which needs transport=tcp")
        if not self.location and self.kind in ("v4l2", "rtsp", "file"):
            raise InputError(f"{self.kind} source needs a location")

    def label(self) -> str:
        """The source for messages and logs, with any RTSP password hidden."""
        if self.kind == "rtsp":
            return _redact(self.location)
        if self.kind == "csi":
            return f"csi://{self.sensor_id}"
        if self.kind == "test":
            return f"test://?pattern={self.pattern}"
        return self.location


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"source {name} must be one of {', '.join(choices)}, got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"source {name} must be an integer from {low} to {high}, got {value!r}")


def _redact(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

# Options accepted in the query (or, for RTSP, the fragment) of each kind: option name -> SourceSpec field.
_OPTIONS = {
    "test": {"pattern": "pattern"},
    "csi": {"flip": "flip_method"},
    "v4l2": {"format": "input_format"},
    "rtsp": {"latency": "latency_ms", "transport": "transport", "codec": "codec"},
    "file": {},
}
_INT_FIELDS = {"width", "height", "latency_ms", "flip_method", "sensor_id"}


def parse_source(uri: str, width: int | None = None, height: int | None = None,
                 fps: float | None = None) -> SourceSpec:
    """Parse a source URI (see the module docstring). Explicit width/height/fps arguments beat the URI's options.

    Raises InputError with one line naming the problem: unknown scheme or option, bad number, missing file.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InputError("empty source: give a URI (csi://0, v4l2:///dev/video0, rtsp://..., test://) or a file")
    uri = uri.strip()
    match = _SCHEME.match(uri)
    if match is None:
        return _file_spec(uri, {}, width, height, fps)
    scheme = match.group(1).lower()
    try:
        parts = urlsplit(uri)
        if scheme in ("rtsp", "rtsps"):
            parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InputError(f"malformed source URI {_redact(uri)!r}: {exc}") from None

    if scheme in ("rtsp", "rtsps"):
        if not parts.hostname:
            raise InputError(f"RTSP URL has no host: {_redact(uri)}")
        options = _options(parts.fragment, "rtsp", uri)
        location = parts._replace(fragment="").geturl()
        fields = {"kind": "rtsp", "location": location}
    elif scheme == "test":
        if parts.netloc or parts.path not in ("", "/"):
            raise InputError(f"test:// takes its options as a query, e.g. test://?pattern=ball: got {uri!r}")
        options = _options(parts.query, "test", uri)
        fields = {"kind": "test", "location": ""}
    elif scheme == "csi":
        sensor = parts.netloc or "0"
        if parts.path not in ("", "/") or not sensor.isdigit():
            raise InputError(f"csi:// needs a sensor number, e.g. csi://0: got {uri!r}")
        options = _options(parts.query, "csi", uri)
        fields = {"kind": "csi", "location": sensor, "sensor_id": int(sensor)}
    elif scheme == "v4l2":
        if parts.netloc.isdigit() and parts.path in ("", "/"):
            device = f"/dev/video{parts.netloc}"
        elif not parts.netloc and parts.path.startswith("/") and len(parts.path) > 1:
            device = unquote(parts.path)
        else:
            raise InputError(f"v4l2 source needs a device: v4l2:///dev/video0 or v4l2://0, got {uri!r}")
        options = _options(parts.query, "v4l2", uri)
        fields = {"kind": "v4l2", "location": device}
    elif scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InputError(f"file URI must be absolute (file:///path/to/clip.mp4), got {uri!r}")
        return _file_spec(unquote(parts.path), _options(parts.query, "file", uri), width, height, fps)
    else:
        raise InputError(f"unknown source scheme {scheme + '://'!r} in {_redact(uri)!r} "
                         f"(expected csi://, v4l2://, rtsp://, rtsps://, file://, test:// or a file path)")
    return _make_spec(fields, options, width, height, fps)


def _file_spec(path: str, options: dict[str, str], width: Any, height: Any, fps: Any) -> SourceSpec:
    resolved = Path(path).expanduser().absolute()
    if not resolved.exists():
        raise InputError(f"no such file: {resolved}")
    if not resolved.is_file():
        raise InputError(f"{resolved} is not a regular file")
    return _make_spec({"kind": "file", "location": str(resolved)}, options, width, height, fps)


def _options(text: str, kind: str, uri: str) -> dict[str, str]:
    allowed = {**_OPTIONS[kind], "width": "width", "height": "height", "fps": "fps"}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise InputError(f"malformed options {text!r} in source {_redact(uri)!r} (expected key=value&...)") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise InputError(f"unknown option {key!r} for a {kind} source (allowed: {', '.join(sorted(allowed))})")
        if allowed[key] in out:
            raise InputError(f"option {key!r} given twice in source {_redact(uri)!r}")
        out[allowed[key]] = value
    return out


def _make_spec(fields: dict[str, Any], options: dict[str, str], width: Any, height: Any, fps: Any) -> SourceSpec:
    for name, text in options.items():
        if name in _INT_FIELDS:
            fields[name] = _parse_int(name, text)
        elif name == "fps":
            fields[name] = _parse_fps(text)
        else:
            fields[name] = text
    for name, value in (("width", width), ("height", height), ("fps", fps)):
        if value is not None:
            fields[name] = _parse_fps(value) if name == "fps" else _parse_int(name, value)
    return SourceSpec(**fields)


def _parse_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InputError(f"source {name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise InputError(f"source {name.replace('_', ' ')} must be an integer, got {value!r}")
    return int(text)


def _parse_fps(value: Any) -> float:
    if isinstance(value, bool):
        raise InputError(f"source fps must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        if "/" in text:  # GStreamer style 30000/1001
            return float(Fraction(text))
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"source fps must be a number, got {value!r}") from None


# --------------------------------------------------------------------------------------------------------------------
# Pipeline descriptions (pure)


def quote(value: str) -> str:
    """A gst-launch property value in double quotes, with backslashes and double quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _framerate(fps: float) -> str:
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def _caps(media: str, *, fmt: str | None = None, width: int | None = None, height: int | None = None,
          fps: float | None = None) -> str:
    fields = [media]
    if fmt:
        fields.append(f"format={fmt}")
    if width:
        fields.append(f"width={width}")
    if height:
        fields.append(f"height={height}")
    if fps:
        fields.append(f"framerate={_framerate(fps)}")
    return ",".join(fields)


def _to_bgr(spec: SourceSpec, jetson: bool) -> list[str]:
    """Decoded video (system or, on Jetson, NVMM memory) -> scaled/rated as requested -> BGR in system memory.

    On Jetson nvvidconv converts out of NVMM and scales in hardware; videoconvert only drops the x of BGRx (the
    VIC cannot write 24-bit BGR). On CPU videoscale works before videoconvert (on YUV, fewer bytes).
    videorate is drop-only for live sources (it can thin a camera out, never invent frames).
    """
    steps: list[str] = []
    if jetson:
        steps += ["nvvidconv", _caps("video/x-raw", fmt="BGRx", width=spec.width, height=spec.height)]
    elif spec.width or spec.height:
        steps += ["videoscale", _caps("video/x-raw", width=spec.width, height=spec.height)]
    if spec.fps:
        steps += ["videorate drop-only=true" if spec.live else "videorate", _caps("video/x-raw", fps=spec.fps)]
    return steps + ["videoconvert", "video/x-raw,format=BGR"]


def pipeline_description(spec: SourceSpec, jetson: bool) -> str:
    """The gst-launch description for `spec`, ending in `appsink name=sink` delivering video/x-raw,format=BGR.

    jetson: use NVIDIA's elements (nvv4l2decoder, nvvidconv); pass `jetson_available()`. CSI needs them.
    RTSP with codec=auto uses decodebin after rtspsrc, which autoplugs the depayloader and decoder for any codec.
    """
    if spec.kind == "test":
        steps = [f"videotestsrc is-live=true pattern={spec.pattern}",
                 _caps("video/x-raw", width=spec.width, height=spec.height, fps=spec.fps),
                 "videoconvert", "video/x-raw,format=BGR"]
    elif spec.kind == "csi":
        if not jetson:
            raise InputError("csi:// cameras need a Jetson (nvarguscamerasrc, nvvidconv); use v4l2:// for USB cameras")
        steps = [f"nvarguscamerasrc sensor-id={spec.sensor_id}",
                 _caps("video/x-raw(memory:NVMM)", width=spec.width, height=spec.height, fps=spec.fps),
                 f"nvvidconv flip-method={spec.flip_method}", "video/x-raw,format=BGRx",
                 "videoconvert", "video/x-raw,format=BGR"]
    elif spec.kind == "v4l2":
        media, decode = ("image/jpeg", ["jpegdec"]) if spec.input_format == "mjpeg" else ("video/x-raw", [])
        steps = [f"v4l2src device={quote(spec.location)}",
                 _caps(media, width=spec.width, height=spec.height, fps=spec.fps),
                 *decode, "videoconvert", "video/x-raw,format=BGR"]
    elif spec.kind == "rtsp":
        source = f"rtspsrc location={quote(spec.location)} latency={spec.latency_ms} protocols={spec.transport}"
        if spec.codec == "auto":
            decode = ["decodebin"]
        else:
            n = spec.codec[1:]  # 264 / 265
            decoder = ["nvv4l2decoder"] if jetson else [f"avdec_h{n}"]
            decode = [f"rtph{n}depay", f"h{n}parse", *decoder]
        steps = [source, *decode, *_to_bgr(spec, jetson)]
    elif spec.kind == "file":
        steps = [f"filesrc location={quote(spec.location)}", "decodebin", *_to_bgr(spec, jetson)]
    else:  # unreachable: SourceSpec validates kind
        raise InputError(f"unknown source kind {spec.kind!r}")
    return " ! ".join([*steps, LIVE_SINK if spec.live else FILE_SINK])


# --------------------------------------------------------------------------------------------------------------------
# GStreamer, imported lazily




_JETSON: bool | None = None


def jetson_available() -> bool:
    """True when NVIDIA's Jetson elements (nvv4l2decoder, nvvidconv) are installed. False without GStreamer."""
    global _JETSON
    if _JETSON is None:
        try:
            Gst = _gst().Gst
        except InputError:
            return False
        _JETSON = all(Gst.ElementFactory.find(name) is not None for name in ("nvv4l2decoder", "nvvidconv"))
    return _JETSON


# --------------------------------------------------------------------------------------------------------------------
# Running a source


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff between reconnection attempts of a live source.

    The first attempt waits initial_s, each further one factor times longer, capped at max_s. max_attempts: failed
    attempts in a row before giving up (SourceError); None = forever. A delivered frame resets the count.
    """

    initial_s: float = 0.5
    max_s: float = 10.0
    factor: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (self.initial_s >= 0 and self.max_s >= self.initial_s and self.factor >= 1):
            raise InputError("reconnect policy needs 0 <= initial_s <= max_s and factor >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise InputError("reconnect policy max_attempts must be at least 1 (or None for forever)")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (1-based)."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    image: HxWx3 uint8 BGR, a copy (owns its memory). index: frames delivered before this one.
    pts_s: stream time in seconds (buffer PTS; across reconnects each session is offset so that time keeps running
    through the gap and never goes backwards). wall_time: time.time() at delivery. session: reconnects so far.
    Frames compare by identity (eq=False: numpy arrays have no single truth value).
    """

    image: np.ndarray
    index: int
    pts_s: float
    wall_time: float
    session: int


def _clock(wall: float) -> str:
    """A wall time as local HH:MM:SS.mmm for log lines."""
    return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03d}"


_PULL_NS = 100_000_000  # 0.1 s: how long one try_pull_sample blocks before the bus is looked at again


class GstSource:
    """A running source: iterate it for Frames; use it as a context manager (or call close()) to stop it.

        with GstSource(parse_source("rtsp://127.0.0.1:8554/cam")) as source:
            for frame in source:
                ...

    The pipeline starts on __enter__ or on the first frame requested. Live sources: an ERROR, an EOS, or no frame for
    stall_timeout_s tears the pipeline down and rebuilds it per `reconnect`; iteration blocks meanwhile and resumes
    with the next session's frames. The first session must deliver a frame (a wrong URL fails fast with SourceError
    instead of retrying forever); after that, outages are retried. File sources end at EOS; an error raises
    SourceError. Starting waits at most stall_timeout_s (live) or start_timeout_s (file) for the pipeline to play.
    close() may be called from another thread to stop a blocked iteration.
    """

    def __init__(self, source: SourceSpec | str, *, jetson: bool | None = None, stall_timeout_s: float = 5.0,
                 reconnect: ReconnectPolicy | None = None, start_timeout_s: float = 10.0) -> None:
        self.spec = parse_source(source) if isinstance(source, str) else source
        if not isinstance(self.spec, SourceSpec):
            raise InputError(f"GstSource needs a SourceSpec or a source URI, got {type(source).__name__}")
        if not stall_timeout_s > 0 or not start_timeout_s > 0:
            raise InputError("stall_timeout_s and start_timeout_s must be positive")
        self.jetson = jetson_available() if jetson is None else bool(jetson)
        self.description = pipeline_description(self.spec, self.jetson)
        self.stall_timeout_s = float(stall_timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self.reconnect = reconnect or ReconnectPolicy()
        self._closing = threading.Event()
        self._pipeline: Any = None
        self._sink: Any = None
        self._bus: Any = None
        self._started = False
        self._eos = False
        # counters
        self._frames = 0
        self._reconnects = 0
        self._dropped = 0
        self._errors = 0
        self._warnings = 0
        self._gaps: list[dict[str, Any]] = []
        self._gap: dict[str, Any] | None = None  # the outage in progress
        self._failed_attempts = 0
        # time bookkeeping
        self._offset = 0.0  # added to this session's buffer PTS
        self._session_first = True
        self._prev_raw: float | None = None
        self._last_pts: float | None = None
        self._last_mono: float | None = None
        self._last_wall: float | None = None
        self._frame_s: float | None = None

    # -- context manager / iterator ----------------------------------------------------------------------------------

    def __enter__(self) -> GstSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> GstSource:
        return self

    def __del__(self) -> None:  # a forgotten close(): a PLAYING pipeline must not be finalised (GStreamer aborts)
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing left to report to
            self.close()

    def start(self) -> None:
        """Build and play the pipeline (idempotent). Raises SourceError if it cannot start."""
        if self._closing.is_set():
            raise SourceError(f"{self.spec.label()}: source is closed")
        if not self._started:
            self._started = True
            try:
                self._start_session()
            except BaseException:
                self.close()  # a source that never started stays closed: later next() calls stop
                raise

    def close(self) -> None:
        """Stop the pipeline (state NULL). Safe to call twice and from another thread."""
        self._closing.set()
        self._teardown()

    def __next__(self) -> Frame:
        if self._closing.is_set():
            raise StopIteration
        self.start()
        waiting_since = time.monotonic()
        while True:
            if self._closing.is_set():  # close() from another thread: make sure nothing started since stays up
                self._teardown()
                raise StopIteration
            if self._pipeline is None:  # in an outage: wait, then try to reconnect
                self._reconnect_once()
                waiting_since = time.monotonic()
                continue
            sink = self._sink
            if sink is None:
                continue
            problem = self._poll_bus()
            if problem is not None and problem[0] == "error":
                self._session_failed(*problem)
                continue
            sample = sink.try_pull_sample(_PULL_NS)
            if sample is not None:
                return self._frame(sample)
            if self._closing.is_set():
                continue
            if sink.is_eos() or self._eos:
                if not self.spec.live:
                    self.close()
                    raise StopIteration
                self._session_failed("eos", "end of stream")
            elif time.monotonic() - waiting_since > self.stall_timeout_s:
                self._session_failed("stall", f"no frame for {self.stall_timeout_s:g} s")

    # -- state ------------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters: frames, reconnects, dropped (estimated from PTS jumps), errors, warnings, reconnect attempts
        failed in a row, and gaps: one dict per outage with start (wall time of the last frame before it), detected
        (when it was noticed), end (wall time of the first frame after it; None while ongoing), reason
        ("error", "eos", "stall"), detail (the message) and attempts."""
        gaps = [dict(g) for g in self._gaps]
        if self._gap is not None:
            gaps.append(dict(self._gap))
        return {"frames": self._frames, "reconnects": self._reconnects, "dropped": self._dropped,
                "errors": self._errors, "warnings": self._warnings, "failed_attempts": self._failed_attempts,
                "gaps": gaps}

    def stream_time_s(self) -> float | None:
        """The pipeline clock's current running time on the Frame.pts_s time line (None when not playing).

        For live sources `stream_time_s() - frame.pts_s` is how old a frame is, i.e. the latency queued up.
        """
        pipeline = self._pipeline
        if pipeline is None:
            return None
        clock = pipeline.get_clock()
        if clock is None:
            return None
        return (clock.get_time() - pipeline.get_base_time()) / 1e9 + self._offset

    # -- sessions ---------------------------------------------------------------------------------------------------

    def _start_session(self) -> None:
        ns = _gst()
        Gst, GLib = ns.Gst, ns.GLib
        label = self.spec.label()
        try:
            pipeline = Gst.parse_launch(self.description)
        except GLib.Error as exc:
            raise SourceError(f"{label}: cannot build the pipeline: {exc.message}") from None
        self._pipeline, self._bus, self._eos = pipeline, pipeline.get_bus(), False
        self._sink = pipeline.get_by_name("sink")
        self._session_first, self._prev_raw = True, None
        try:
            if self._sink is None or not isinstance(self._sink, ns.GstApp.AppSink):
                raise SourceError(f"{label}: the pipeline has no appsink named 'sink'")
            result = pipeline.set_state(Gst.State.PLAYING)
            if result == Gst.StateChangeReturn.FAILURE:
                raise SourceError(f"{label}: cannot start: {self._error_text() or 'state change to PLAYING failed'}")
            if result == Gst.StateChangeReturn.ASYNC:
                self._wait_playing(pipeline)
        except BaseException:
            self._teardown()
            raise

    def _wait_playing(self, pipeline: Any) -> None:
        """Wait for an ASYNC state change (preroll) to finish, watching the bus for the error that ends it."""
        Gst = _gst().Gst
        timeout = self.stall_timeout_s if self.spec.live else self.start_timeout_s
        deadline = time.monotonic() + timeout
        while not self._closing.is_set():
            result, _state, _pending = pipeline.get_state(50 * Gst.MSECOND)
            if result in (Gst.StateChangeReturn.SUCCESS, Gst.StateChangeReturn.NO_PREROLL):
                return
            problem = self._poll_bus()
            if result == Gst.StateChangeReturn.FAILURE or (problem is not None and problem[0] == "error"):
                detail = problem[1] if problem is not None else (self._error_text() or "state change failed")
                raise SourceError(f"{self.spec.label()}: cannot start: {detail}")
            if self._eos:  # e.g. an empty file: let the iterator see the EOS
                return
            if time.monotonic() > deadline:
                self._errors += 1
                # decodebin can swallow a demuxer's error while it is still plugging it (a GStreamer race): then
                # nothing is reported and this timeout is what ends the wait.
                raise SourceError(f"{self.spec.label()}: did not start playing within {timeout:g} s "
                                  f"(no error reported{'' if self.spec.live else '; is it a playable video file?'})")

    def _teardown(self) -> None:
        pipeline, self._pipeline, self._sink, self._bus = self._pipeline, None, None, None
        if pipeline is not None:
            pipeline.set_state(_gst().Gst.State.NULL)  # synchronous for NULL; releases devices and sockets

    def _poll_bus(self, wait_s: float = 0.0) -> tuple[str, str] | None:
        """The one bus handler: drain ERROR/EOS/WARNING without a main loop. Returns ("error", text) for the first
        error; EOS sets a flag (the iterator drains queued frames first); warnings are logged and counted.
        wait_s: wait up to this long for the first message (an error posted from a streaming thread can reach the
        bus a moment after the state change that it made fail has returned)."""
        bus = self._bus
        if bus is None:
            return None
        Gst = _gst().Gst
        mask = Gst.MessageType.ERROR | Gst.MessageType.EOS | Gst.MessageType.WARNING
        found = None
        timeout = int(wait_s * Gst.SECOND)
        while True:
            message = bus.timed_pop_filtered(timeout, mask)
            if message is None:
                return found
            timeout = 0
            if message.type == Gst.MessageType.ERROR:
                self._errors += 1
                if found is None:
                    found = ("error", self._message_text(message))
            elif message.type == Gst.MessageType.EOS:
                self._eos = True
            else:
                self._warnings += 1
                log.warning("%s: %s", self.spec.label(), self._message_text(message))

    def _error_text(self) -> str | None:
        """After a failed state change: the error that explains it (waiting up to 1 s for it to arrive)."""
        deadline = time.monotonic() + 1.0
        while True:
            problem = self._poll_bus(wait_s=max(0.0, deadline - time.monotonic()))
            if problem is not None or time.monotonic() >= deadline:
                return problem[1] if problem else None

    @staticmethod
    def _message_text(message: Any) -> str:
        Gst = _gst().Gst
        error, _debug = message.parse_error() if message.type == Gst.MessageType.ERROR else message.parse_warning()
        source = message.src.get_name() if message.src is not None else "pipeline"
        text = " ".join((error.message or "unknown error").split())
        return f"{text} (from element {source})"

    def _session_failed(self, reason: str, detail: str) -> None:
        """An ERROR, EOS or stall: raise for files and for a live source that never delivered; else start an outage."""
        self._teardown()
        label = self.spec.label()
        if not self.spec.live:
            self.close()  # the iteration is over: later next() calls stop
            raise SourceError(f"{label}: {detail}")
        if self._frames == 0:
            self.close()
            raise SourceError(f"{label}: {detail} (before the first frame; not retrying)")
        if self._gap is None:
            now = time.time()
            self._gap = {"start": self._last_wall, "detected": now, "end": None, "reason": reason,
                         "detail": detail, "attempts": 0}
            log.warning("%s: stream lost after the frame at %s (%s: %s); reconnecting", label,
                        _clock(self._last_wall or now), reason, detail)
        else:  # a reconnection attempt played, then failed before delivering a frame
            self._failed_attempts += 1
            self._gap["last_failure"] = detail

    def _reconnect_once(self) -> None:
        if self._gap is None:  # cannot happen: every teardown of a live session opens a gap or closes the source
            raise RuntimeError("GstSource: no pipeline and no outage in progress")
        attempt = self._failed_attempts + 1
        if self.reconnect.max_attempts is not None and attempt > self.reconnect.max_attempts:
            gap, self._gap = self._gap, None
            self._gaps.append(gap)
            self.close()
            raise SourceError(f"{self.spec.label()}: gave up after {self._failed_attempts} reconnection attempts "
                              f"({gap.get('last_failure', gap['detail'])})")
        if self._closing.wait(self.reconnect.delay(attempt)):
            return
        self._gap["attempts"] += 1
        try:
            self._start_session()
        except SourceError as exc:  # its bus ERROR, if any, was counted in _poll_bus
            self._failed_attempts += 1
            self._gap["last_failure"] = str(exc)
            log.info("reconnection attempt %d failed: %s", attempt, exc)

    # -- frames -----------------------------------------------------------------------------------------------------

    def _frame(self, sample: Any) -> Frame:
        ns = _gst()
        Gst = ns.Gst
        caps = sample.get_caps()
        buffer = sample.get_buffer()
        if caps is None or buffer is None:
            raise SourceError(f"{self.spec.label()}: the appsink delivered a sample without caps or buffer")
        info = ns.GstVideo.VideoInfo.new_from_caps(caps)
        if info is None or info.finfo.format != ns.GstVideo.VideoFormat.BGR:
            raise SourceError(f"{self.spec.label()}: unexpected caps {caps.to_string()}")
        width, height = info.width, info.height
        meta = ns.GstVideo.buffer_get_video_meta(buffer)
        stride, offset = (meta.stride[0], meta.offset[0]) if meta is not None else (info.stride[0], 0)
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if not ok:
            raise SourceError(f"{self.spec.label()}: cannot map a frame buffer")
        try:
            data = np.frombuffer(mapped.data, dtype=np.uint8)
            needed = offset + stride * (height - 1) + width * 3
            if data.size < needed:
                raise SourceError(f"{self.spec.label()}: frame buffer of {data.size} bytes is smaller than "
                                  f"{width}x{height} BGR with stride {stride}")
            rows = np.lib.stride_tricks.as_strided(data[offset:], shape=(height, width * 3), strides=(stride, 1))
            image = rows.reshape(height, width, 3).copy()
            del data, rows
        finally:
            buffer.unmap(mapped)

        now_mono, now_wall = time.monotonic(), time.time()
        raw = buffer.pts / 1e9 if buffer.pts != Gst.CLOCK_TIME_NONE else None
        if self._session_first:
            self._session_first = False
            self._frame_s = info.fps_d / info.fps_n if info.fps_n > 0 else None
            if self._last_pts is not None:  # a new session: continue the time line through the gap
                self._offset = self._last_pts + (now_mono - self._last_mono) - (raw or 0.0)
            if self._gap is not None:
                gap, self._gap = self._gap, None
                gap["end"] = now_wall
                self._gaps.append(gap)
                self._reconnects += 1
                self._failed_attempts = 0
                log.warning("%s: stream resumed after %.2f s (%d attempts)", self.spec.label(),
                            now_wall - (gap["start"] or gap["detected"]), gap["attempts"])
        elif raw is not None and self._prev_raw is not None and self._frame_s:
            step = raw - self._prev_raw
            if step > 1.5 * self._frame_s:
                self._dropped += round(step / self._frame_s) - 1
        if raw is None:  # no timestamp: follow the monotonic clock
            pts = (self._last_pts or 0.0) + (now_mono - self._last_mono if self._last_mono is not None else 0.0)
        else:
            pts = raw + self._offset
        if self._last_pts is not None and pts < self._last_pts:
            pts = self._last_pts  # never backwards (a source that restarts its timestamps mid-session)
        self._prev_raw = raw
        self._last_pts, self._last_mono, self._last_wall = pts, now_mono, now_wall
        frame = Frame(image=image, index=self._frames, pts_s=pts, wall_time=now_wall, session=self._reconnects)
        self._frames += 1
        return frame
