"""Network exposure: what counts as this machine only, when the RTSP output may serve video, and the settings that
send credentials or video in the clear.

    check_rtsp_output("0.0.0.0", None, None, allow_anonymous=False)   # InputError: who may watch must be decided
    messages = log_exposure_warnings(config, spec)                    # one warning line per problem, also logged

Pure: no GStreamer, no sockets, no name lookups (a host name is never resolved: it may point anywhere).
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from edge.errors import InputError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether `host` reaches this machine only: "localhost" (RFC 6761) or a loopback address (127.0.0.0/8, ::1).
    "0.0.0.0" and "::" are every interface, not loopback."""
    host = str(host).strip().strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_rtsp_output(address: str, user: str | None, password: str | None, allow_anonymous: bool) -> None:
    """Refuse an RTSP output that would show workers to anyone on the network: a non-loopback address needs
    credentials unless anonymous viewers are explicitly allowed. Messages never hold the password."""
    if not isinstance(address, str) or not address.strip():
        raise InputError(f"output.rtsp_address must be an IP address or host name, got {address!r}")
    if (user is None) != (password is None):
        raise InputError("output.rtsp_user and output.rtsp_password go together (give both or neither)")
    if user is not None:
        if not isinstance(user, str) or not user or ":" in user:
            raise InputError("output.rtsp_user must be a non-empty name without ':'")
        if not isinstance(password, str) or not password:
            raise InputError("output.rtsp_password must be a non-empty string")
    elif not allow_anonymous and not is_loopback(address):
        raise InputError(f"the RTSP output on {address} would show the annotated video to anyone who can reach it: "
                         "set output.rtsp_user and output.rtsp_password, or output.rtsp_allow_anonymous = true")


def exposure_warnings(config, spec) -> list[str]:
    """One line per setting of a run (`runtime.config.RunConfig`, its source's `SourceSpec`) that sends credentials
    or video unencrypted to another machine."""
    warnings = []
    mqtt = config.sinks.mqtt
    if mqtt is not None and mqtt.username is not None and mqtt.tls is None and not is_loopback(mqtt.host):
        warnings.append(f"warning: the MQTT user name and password go to {mqtt.host}:{mqtt.port} without TLS, "
                        "readable by anyone on the network path: configure [sinks.mqtt.tls]")
    if spec.kind == "rtsp" and spec.secrets():
        parts = urlsplit(spec.location)
        if parts.scheme.lower() == "rtsp" and not is_loopback(parts.hostname or ""):
            warnings.append(f"warning: the camera credentials in {spec.label()} go over plain rtsp:// to a host that "
                            "is not loopback; whatever authentication the camera uses, the video itself is "
                            "unencrypted: prefer rtsps:// or an isolated camera network")
    board = config.dashboard
    if board.port and not board.tls and not is_loopback(board.address):
        warnings.append(f"warning: the dashboard on {board.address}:{board.port} is plain http: the login password, "
                        "the session cookie and the camera view cross the network unencrypted: set dashboard.tls_cert "
                        "and dashboard.tls_key")
    out = config.output
    if out.rtsp_port and out.rtsp_user is None and not is_loopback(out.rtsp_address):
        warnings.append(f"warning: the RTSP output on {out.rtsp_address}:{out.rtsp_port} serves the annotated video "
                        "to anyone who can reach it, without authentication (output.rtsp_allow_anonymous)")
    return warnings


def log_exposure_warnings(config, spec) -> list[str]:
    """`exposure_warnings`, each also logged (stderr, or the journal under systemd); returns them for the report."""
    warnings = exposure_warnings(config, spec)
    for line in warnings:
        log.warning("%s", line)
    return warnings
