"""Source URIs -> `SourceSpec`: what to open (kind, location, requested caps, options). Pure: no GStreamer.

Source URIs:

    csi://0?flip=2&width=1280&height=720&fps=30     Jetson CSI camera (nvarguscamerasrc), sensor 0, flip method 0-7
    v4l2:///dev/video0?format=mjpeg&width=1280      USB camera; format raw (default) or mjpeg; v4l2://1 = /dev/video1
    rtsp://user:pw@host:554/path#latency=100&codec=h265&transport=tcp
                                                    also rtsps://; our options go in the fragment (never sent to the
                                                    server) so the URL's own query reaches the camera untouched;
                                                    codec h264 (default), h265, or auto (decodebin picks)
    file:///abs/clip.mp4?width=640   or a plain path (relative paths are made absolute); must exist
    test://?pattern=ball&width=640&height=480&fps=30   videotestsrc, live

`parse_source(uri)` is the one entry point; every problem is a one-line `InputError` naming it.

Credentials: a URI may carry a password (user:pw@host), a user name that is really a token, or a credential in a
path or query parameter (?password=, ?token=, /user=admin&password=...). `SourceSpec.label()` (or `redact(uri)`) is
the source as messages, logs and reports may show it; `SourceSpec.camera_name()` is a default camera name that never
holds one (it names topics, files and events); `SourceSpec.scrub(text)` hides them in any other text, e.g. an error
from GStreamer that may quote the location.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from edge.config import check_number
from edge.errors import InputError

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
            if getattr(self, name) is not None:
                check_number(getattr(self, name), f"source {name}", integer=True, minimum=1, maximum=16384)
        if self.fps is not None:
            check_number(self.fps, "source fps", positive=True, maximum=1000)
        _check_choice("pattern", self.pattern, TEST_PATTERNS)
        _check_choice("codec", self.codec, RTSP_CODECS)
        _check_choice("transport", self.transport, RTSP_TRANSPORTS)
        _check_choice("format", self.input_format, V4L2_FORMATS)
        check_number(self.latency_ms, "source latency", integer=True, minimum=0, maximum=60_000)
        check_number(self.sensor_id, "source sensor id", integer=True, minimum=0, maximum=63)
        check_number(self.flip_method, "source flip", integer=True, minimum=0, maximum=7)
        if self.kind == "rtsp" and self.location.lower().startswith("rtsps:") and self.transport != "tcp":
            raise InputError("rtsps:// runs over TLS, which needs transport=tcp")
        if not self.location and self.kind in ("v4l2", "rtsp", "file"):
            raise InputError(f"{self.kind} source needs a location")

    def label(self) -> str:
        """The source for messages, logs and reports, with its credentials hidden (`redact`)."""
        if self.kind == "rtsp":
            return redact(self.location)
        if self.kind == "csi":
            return f"csi://{self.sensor_id}"
        if self.kind == "test":
            return f"test://?pattern={self.pattern}"
        return self.location

    def camera_name(self) -> str:
        """A default camera name, safe for MQTT topics and file names. For RTSP it is built from host, port, path
        and the query's parameters that are not credentials, never from the user part: the name ends up in topics,
        outbox file names, the event store and every alert."""
        if self.kind == "file":
            name = Path(self.location).stem
        elif self.kind == "rtsp":
            parts = urlsplit(self.location)
            try:
                port = parts.port
            except ValueError:  # parse_source refuses a bad port; a SourceSpec made by hand may still hold one
                port = None
            host = (parts.hostname or "") + (f"_{port}" if port else "")
            name = f"rtsp-{host}{_SECRET_PARAM.sub('', parts.path)}?{_SECRET_PARAM.sub('', parts.query)}"
        else:
            name = f"{self.kind}-{self.location}"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:64] or self.kind

    def secrets(self) -> tuple[str, ...]:
        """The credentials in the location (as written and percent-decoded): password, a user name given without
        one (often a token), and the values of credential-like path and query parameters."""
        if self.kind != "rtsp":
            return ()
        found = []
        userinfo = _userinfo(self.location)
        if userinfo is not None:
            user, colon, password = userinfo.partition(":")
            found.append(password if colon else user)
        found += [m.group(2) for m in _SECRET_PARAM.finditer(_after_authority(self.location))]
        return tuple(sorted({v for raw in found for v in (raw, unquote(raw)) if v}, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        """`text` with the location replaced by its label and every remaining credential by ***."""
        text = str(text).replace(self.location, self.label()) if self.location else str(text)
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"source {name} must be one of {', '.join(choices)}, got {value!r}")


# A path or query parameter whose name looks like a credential, e.g. ?password=, &token=, ?api_key=, or the
# /user=admin&password=x&channel=1 paths of some DVRs. A name that only looks like one costs a hidden value.
_SECRET_PARAM = re.compile(r"([^&;/?#=]*(?:pass|pwd|token|secret|key|auth|cred|sig)[^&;/?#=]*)=([^&;/?#]*)",
                           re.IGNORECASE)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def _parts(uri: str) -> tuple[str, str | None, str, str] | None:
    """`uri` as (scheme://, user part or None, host[:port], the rest: path, query, fragment); None without a scheme.
    The user part runs to the last '@' of the whole URI: a password written with an unencoded '/', '?' or '#' ends
    the authority early for a URL parser, which would then show the rest of it as host and path (hiding a query's
    '@' too is the safe mistake)."""
    match = _SCHEME.match(uri)
    if match is None:
        return None
    at = uri.rfind("@", match.end())
    userinfo = uri[match.end():at] if at >= 0 else None
    rest = uri[at + 1:] if at >= 0 else uri[match.end():]
    host = re.match(r"[^/?#]*", rest).group(0)
    return uri[:match.end()], userinfo, host, rest[len(host):]


def _userinfo(uri: str) -> str | None:
    parts = _parts(uri)
    return None if parts is None else parts[1]


def _after_authority(uri: str) -> str:
    parts = _parts(uri)
    return uri if parts is None else parts[3]


def redact(uri: str) -> str:
    """`uri` as messages and logs may show it: `user:***@` for a password, `***@` for a user name given alone (a
    token, often), and *** for the value of every credential-like path or query parameter. Never raises, so an
    error message about a malformed URI can use it."""
    uri = str(uri)
    parts = _parts(uri)
    if parts is None:
        return _SECRET_PARAM.sub(r"\1=***", uri)
    scheme, userinfo, host, rest = parts
    hidden = ""
    if userinfo is not None:
        user, colon, _password = userinfo.partition(":")
        hidden = f"{user}:***@" if colon else "***@"
    return scheme + hidden + host + _SECRET_PARAM.sub(r"\1=***", rest)


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
    userinfo = _userinfo(uri)
    if scheme in ("rtsp", "rtsps") and userinfo is not None and re.search(r"[/?#]", userinfo):
        # before urlsplit, which would take the password's end for a port and say only that it is not a number
        raise InputError(f"RTSP URL {redact(uri)}: its user or password holds a '/', '?' or '#' (or its path or "
                         "query an '@'): write them percent-encoded (%2F, %3F, %23, %40)")
    try:
        parts = urlsplit(uri)
        if scheme in ("rtsp", "rtsps"):
            parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InputError(f"malformed source URI {redact(uri)!r}: {exc}") from None

    if scheme in ("rtsp", "rtsps"):
        if not parts.hostname:
            raise InputError(f"RTSP URL has no host: {redact(uri)}")
        options = _options(parts.fragment, "rtsp", uri)
        location = parts._replace(fragment="").geturl()
        fields = {"kind": "rtsp", "location": location}
    elif scheme == "test":
        if parts.netloc or parts.path not in ("", "/"):
            raise InputError(f"test:// takes its options as a query, e.g. test://?pattern=ball: got {redact(uri)!r}")
        options = _options(parts.query, "test", uri)
        fields = {"kind": "test", "location": ""}
    elif scheme == "csi":
        sensor = parts.netloc or "0"
        if parts.path not in ("", "/") or not sensor.isdigit():
            raise InputError(f"csi:// needs a sensor number, e.g. csi://0: got {redact(uri)!r}")
        options = _options(parts.query, "csi", uri)
        fields = {"kind": "csi", "location": sensor, "sensor_id": int(sensor)}
    elif scheme == "v4l2":
        if parts.netloc.isdigit() and parts.path in ("", "/"):
            device = f"/dev/video{parts.netloc}"
        elif not parts.netloc and parts.path.startswith("/") and len(parts.path) > 1:
            device = unquote(parts.path)
        else:
            raise InputError(f"v4l2 source needs a device: v4l2:///dev/video0 or v4l2://0, got {redact(uri)!r}")
        options = _options(parts.query, "v4l2", uri)
        fields = {"kind": "v4l2", "location": device}
    elif scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InputError(f"file URI must be absolute (file:///path/to/clip.mp4), got {redact(uri)!r}")
        return _file_spec(unquote(parts.path), _options(parts.query, "file", uri), width, height, fps)
    else:
        raise InputError(f"unknown source scheme {scheme + '://'!r} in {redact(uri)!r} "
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
        raise InputError(f"malformed options {text!r} in source {redact(uri)!r} (expected key=value&...)") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise InputError(f"unknown option {key!r} for a {kind} source (allowed: {', '.join(sorted(allowed))})")
        if allowed[key] in out:
            raise InputError(f"option {key!r} given twice in source {redact(uri)!r}")
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
