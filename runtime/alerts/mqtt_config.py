"""MQTT sink settings, apart from the sink (`runtime.alerts.mqtt`) so that a run config can be read without it."""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import check_number
from edge.errors import InputError


@dataclass(frozen=True)
class MqttTls:
    """TLS settings. ca_certs: CA bundle that signed the broker's certificate (PEM). certfile/keyfile: client
    certificate and key for brokers that require one (both or neither). insecure: skip the check that the broker's
    certificate names `host` (the chain is still verified against ca_certs); for a broker addressed by an IP that is
    not in its certificate. Typical TLS port is 8883."""

    ca_certs: str
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        for name in ("ca_certs", "certfile", "keyfile"):
            value = getattr(self, name)
            if value is None and name != "ca_certs":
                continue
            if not isinstance(value, (str, os.PathLike)) or not str(value):
                raise InputError(f"mqtt tls.{name} must be a file path, got {value!r}")
            if not Path(value).expanduser().is_file():
                raise InputError(f"mqtt tls.{name}: no such file {str(value)!r}")
        if (self.certfile is None) != (self.keyfile is None):
            raise InputError("mqtt tls: certfile and keyfile go together (give both or neither)")
        if not isinstance(self.insecure, bool):
            raise InputError(f"mqtt tls.insecure must be true or false, got {self.insecure!r}")


@dataclass(frozen=True)
class MqttConfig:
    """MQTT sink settings (a run config's [mqtt] table holds only the changes from these defaults).

    host, port: the broker (port 1..65535; default the device's local broker, 127.0.0.1:1883; 8883 is usual with TLS).
    topic: topic template; "{camera}" is replaced by the sink's camera (else the event's, else "default").
    qos: 1 (default) or 2. QoS 0 is refused: it has no acknowledgement, so the outbox could not know what arrived.
    client_id: MQTT client id; default "ergo-edge-" + a hash of host name and outbox path (stable across restarts,
        one id per outbox). The session is persistent (clean_session=False).
    username, password: broker credentials (password needs username).
    tls: MqttTls, or None for plain TCP.
    outbox_path: SQLite outbox file; "{camera}" is replaced by the camera. Default
        `<state dir>/mqtt-outbox-{camera}.sqlite` (`edge.paths.user_dir("state")`).
    keepalive: seconds between MQTT pings (5..65535); a dead broker is noticed after about 1.5 x keepalive.
    reconnect_min_s, reconnect_max_s: reconnect back-off, doubling from min (above 0, at most 60 s) to max (min..3600
        s) while the broker is down.
    max_inflight: rows published and not yet acknowledged, at most (1..65535).
    retain_acked_days: acked rows older than this (above 0, at most 3650 days) are deleted from the outbox (at start
        and hourly).
    """

    host: str = "127.0.0.1"
    port: int = 1883
    topic: str = "ergo-edge/{camera}/alerts"
    qos: int = 1
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of reprs, tracebacks, logs
    tls: MqttTls | None = None
    outbox_path: str | None = None
    keepalive: int = 30
    reconnect_min_s: float = 0.5
    # 5 s: a broker back after an outage gets the backlog within seconds, for a few connection attempts a minute.
    reconnect_max_s: float = 5.0
    max_inflight: int = 20
    retain_acked_days: float = 7.0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise InputError(f"mqtt host must be a host name or address, got {self.host!r}")
        check_number(self.port, "mqtt port", integer=True, minimum=1, maximum=65535)
        if isinstance(self.qos, bool) or self.qos not in (1, 2):
            raise InputError(f"mqtt qos must be 1 or 2 (QoS 0 has no acknowledgement), got {self.qos!r}")
        if not isinstance(self.topic, str):
            raise InputError(f"mqtt topic must be a string, got {self.topic!r}")
        _check_topic_template(self.topic)
        if self.client_id is not None and (not isinstance(self.client_id, str) or not self.client_id
                                           or len(self.client_id.encode()) > 65535):
            raise InputError(f"mqtt client_id must be a non-empty string, got {self.client_id!r}")
        if self.username is not None and not isinstance(self.username, str):
            raise InputError(f"mqtt username must be a string, got {self.username!r}")
        if self.password is not None:
            if not isinstance(self.password, str):
                raise InputError("mqtt password must be a string")
            if self.username is None:
                raise InputError("mqtt password given without username")
        if self.tls is not None and not isinstance(self.tls, MqttTls):
            raise InputError(f"mqtt tls must be MqttTls or None, got {type(self.tls).__name__}")
        if self.outbox_path is not None and (not isinstance(self.outbox_path, (str, os.PathLike))
                                             or not str(self.outbox_path)):
            raise InputError(f"mqtt outbox_path must be a file path, got {self.outbox_path!r}")
        check_number(self.keepalive, "mqtt keepalive (seconds)", integer=True, minimum=5, maximum=65535)
        for name, high in (("reconnect_min_s", 60), ("reconnect_max_s", 3600), ("retain_acked_days", 3650)):
            check_number(getattr(self, name), f"mqtt {name}", positive=True, maximum=high)
        if self.reconnect_max_s < self.reconnect_min_s:
            raise InputError(f"mqtt reconnect_max_s ({self.reconnect_max_s}) is below reconnect_min_s "
                             f"({self.reconnect_min_s})")
        check_number(self.max_inflight, "mqtt max_inflight", integer=True, minimum=1, maximum=65535)


def _check_topic_template(template: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise InputError(f"mqtt topic {template!r}: {err}") from None
    unknown = names - {"camera"}
    if unknown:
        raise InputError(f"mqtt topic {template!r}: unknown placeholder {{{sorted(unknown)[0]}}} (only {{camera}})")
    sample = template.replace("{camera}", "x")
    if not sample or any(ch in sample for ch in "+#\0") or len(sample.encode()) > 65535:
        raise InputError(f"mqtt topic {template!r}: must be non-empty without '+', '#' (wildcards are for "
                         "subscribing, not publishing)")
