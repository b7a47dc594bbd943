"""`[dashboard]` of the run config, and `--dashboard [ADDR:]PORT`.

    [dashboard]
    port = 8080                     # 0 (default): no dashboard
    address = "0.0.0.0"             # default 127.0.0.1: this machine only; any other address needs password_hash
    password_hash = "scrypt$..."    # `ergoedge dashboard set-password --config run.toml`
    tls_cert = "/etc/ergo-edge/dashboard.crt"   # optional, with tls_key: https, and Secure cookies
    tls_key = "/etc/ergo-edge/dashboard.key"

Stdlib only: `runtime.config` imports this module whenever a config is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from edge.config import check_number
from edge.errors import InputError
from runtime.dashboard.auth import parse_hash
from runtime.network import is_loopback


@dataclass(frozen=True)
class DashboardConfig:
    port: int = 0  # 0: no dashboard, else 1..65535
    # The dashboard shows workers: this machine only unless an address is given, and then only after a login.
    address: str = "127.0.0.1"
    # scrypt hash of the login password (`ergoedge dashboard set-password`); required on any non-loopback address,
    # and when given, a login is required on loopback too.
    password_hash: str | None = field(default=None, repr=False)
    # A login lasts this long (seconds, 1..604800), never extended by use: then the browser logs in again.
    session_ttl_s: float = 43200.0
    # Live values are pushed this often (above 0, at most 30 Hz); the camera view at most video_fps frames a second
    # (0..30; 0: no camera view).
    update_hz: float = 4.0
    video_fps: float = 4.0
    jpeg_quality: int = 75  # 20..95
    max_width: int = 960  # the camera view is scaled down to at most this many pixels wide (160..3840)
    # https: certificate chain and private key (PEM), both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    # After the source ends, keep serving the final state this long (0..3600 s; SIGINT/SIGTERM end it sooner),
    # e.g. for a clip replayed in a demo.
    linger_s: float = 0.0

    def __post_init__(self) -> None:
        check_number(self.port, "dashboard.port (0: none)", integer=True, minimum=0, maximum=65535)
        check_number(self.session_ttl_s, "dashboard.session_ttl_s", minimum=1, maximum=604800)
        check_number(self.update_hz, "dashboard.update_hz", positive=True, maximum=30)
        check_number(self.video_fps, "dashboard.video_fps (0: no camera view)", minimum=0, maximum=30)
        check_number(self.jpeg_quality, "dashboard.jpeg_quality", integer=True, minimum=20, maximum=95)
        check_number(self.max_width, "dashboard.max_width", integer=True, minimum=160, maximum=3840)
        check_number(self.linger_s, "dashboard.linger_s", minimum=0, maximum=3600)
        if not isinstance(self.address, str) or not self.address.strip():
            raise InputError(f"dashboard.address must be an IP address or host name, got {self.address!r}")
        if self.password_hash is not None:
            parse_hash(self.password_hash)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InputError("dashboard.tls_cert and dashboard.tls_key go together (give both or neither)")
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(os.path.expanduser(path)):
                raise InputError(f"dashboard.{name}: no such file {path!r}")
        if self.port and self.password_hash is None and not is_loopback(self.address):
            raise InputError(f"the dashboard on {self.address} would show workers to anyone who can reach it: set "
                             "dashboard.password_hash (`ergoedge dashboard set-password --config FILE`) or serve on "
                             "127.0.0.1")

    @property
    def login_required(self) -> bool:
        return self.password_hash is not None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def parse_listen(text: str) -> tuple[str | None, int]:
    """`--dashboard` as (address or None for the config's, port): "8080", "0.0.0.0:8080", "[::1]:8080"."""
    m = re.fullmatch(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]:|(?P<host>[^:\[\]\s]+):)?(?P<port>\d{1,5})", str(text).strip())
    if not m:
        raise InputError(f"--dashboard: expected PORT or ADDRESS:PORT (e.g. 8080, 0.0.0.0:8080, [::1]:8080), "
                         f"got {text!r}")
    port = check_number(int(m.group("port")), "--dashboard port", integer=True, minimum=1, maximum=65535)
    return m.group("v6") or m.group("host"), port
