"""systemd's notification protocol (sd_notify(3)) for `ergoedge run` as the unit's main process.

jetson/ergo-edge.service is `Type=notify` with `WatchdogSec=`: the run says READY=1 once it is set up (models
loaded, engines built) and is about to read frames, WATCHDOG=1 while it makes progress, its status line as STATUS=
(`systemctl status ergo-edge` shows it), and STOPPING=1 when its frame loop ends. A run that stops making progress
(a pipeline teardown stuck inside GStreamer, an inference call that never returns) stops the pings, and systemd kills
and restarts it. Progress is a frame processed or the source's own loop running (`alive_at`): a camera that is down
and being reconnected is not a hang.

Outside systemd (no NOTIFY_SOCKET) every call does nothing. The protocol is one datagram per message to the
AF_UNIX socket named by NOTIFY_SOCKET ('@' for the abstract namespace); WATCHDOG_USEC gives the watchdog interval,
for this process only when WATCHDOG_PID, if set, is its pid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceNotifier:
    """Where to send notifications (None: not under systemd) and the watchdog interval in seconds (None: no
    watchdog)."""
    address: str | None = None
    watchdog_s: float | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ServiceNotifier:
        path = environ.get("NOTIFY_SOCKET") or None
        if path is not None and path.startswith("@"):
            path = "\0" + path[1:]
        watchdog_s = None
        pid = environ.get("WATCHDOG_PID")
        if environ.get("WATCHDOG_USEC") and (not pid or pid == str(os.getpid())):
            try:
                usec = int(environ["WATCHDOG_USEC"])
            except ValueError:
                usec = 0
            watchdog_s = usec / 1e6 if usec > 0 else None
        return cls(path, watchdog_s)

    def send(self, *fields: str) -> bool:
        """One message of `KEY=value` fields; False when it could not be sent (the run goes on without)."""
        if self.address is None:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:  # systemd gone or restarting: the run goes on
            log.debug("sd_notify %s failed: %s", fields[0] if fields else "", exc)
            return False
        return True


@contextlib.contextmanager
def notify_service(notifier: ServiceNotifier, progress: Callable[[], float], status: Callable[[], str | None]
                   ) -> Iterator[None]:
    """READY=1 now; while the block runs, WATCHDOG=1 (with the latest STATUS=) every quarter interval as long as
    `progress()` (a time.monotonic() time) is within half the interval of now; STOPPING=1 when the block ends. A
    stuck run thus misses its pings at most 1.5 intervals after it stopped moving."""
    if notifier.address is None:
        yield
        return
    from runtime.background import repeating

    notifier.send("READY=1", f"STATUS={status() or 'running'}")
    interval = notifier.watchdog_s

    def ping() -> None:
        if time.monotonic() - progress() < interval / 2:
            notifier.send("WATCHDOG=1", f"STATUS={status() or 'running'}")

    try:
        with repeating(interval / 4, ping, "service-watchdog") if interval else contextlib.nullcontext():
            yield
    finally:
        notifier.send("STOPPING=1", "STATUS=stopping: writing the report")
