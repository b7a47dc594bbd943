"""runtime/service_notify.py: systemd's notification protocol on a real AF_UNIX datagram socket, as systemd listens
for it (the unit's Type=notify and WatchdogSec). The whole run under it: tests/test_run.py's SIGTERM test."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from runtime.service_notify import ServiceNotifier, notify_service


class NotifyListener:
    """systemd's side: collects (time.monotonic(), message) datagrams sent to `path` until `close()`."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self):
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def close(self) -> list[tuple[float, str]]:
        time.sleep(0.1)  # the last datagram in flight
        self._done.set()
        self._thread.join()
        self.sock.close()
        return self.messages


def test_the_environment_is_read_as_systemd_sets_it():
    pid = str(os.getpid())
    assert ServiceNotifier.from_environment({}) == ServiceNotifier(None, None)
    assert ServiceNotifier.from_environment({"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "60000000",
                                             "WATCHDOG_PID": pid}) == ServiceNotifier("/run/systemd/notify", 60.0)
    assert ServiceNotifier.from_environment({"NOTIFY_SOCKET": "@ns/x"}).address == "\0ns/x"  # abstract namespace
    # The watchdog is another process's (a child would inherit the variables), or the value is not a number.
    assert ServiceNotifier.from_environment({"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "5000000",
                                             "WATCHDOG_PID": "1"}).watchdog_s is None
    assert ServiceNotifier.from_environment({"NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "soon"}).watchdog_s is None
    assert ServiceNotifier("/no/such/socket").send("READY=1") is False  # systemd gone: nothing raised
    assert ServiceNotifier().send("READY=1") is False


def test_pings_stop_when_progress_stops_and_the_ends_are_said(tmp_path):
    listener = NotifyListener(tmp_path / "notify")
    moving = {"at": time.monotonic(), "frozen": False}

    def progress():
        if not moving["frozen"]:
            moving["at"] = time.monotonic()
        return moving["at"]

    notifier = ServiceNotifier(str(tmp_path / "notify"), watchdog_s=0.4)  # a ping every 0.1 s while moving
    with notify_service(notifier, progress, lambda: "12.0 fps  people 1"):
        time.sleep(0.6)
        moving["frozen"] = True  # stuck: after half the interval no more pings
        frozen = time.monotonic()
        time.sleep(0.8)
    messages = listener.close()
    assert messages[0][1] == "READY=1\nSTATUS=12.0 fps  people 1"
    assert messages[-1][1] == "STOPPING=1\nSTATUS=stopping: writing the report"
    pings = [t for t, text in messages if text == "WATCHDOG=1\nSTATUS=12.0 fps  people 1"]
    assert len(pings) >= 3 and all(t < frozen + 0.2 + 0.15 for t in pings)  # 0.15 s: a busy machine's slack
    assert len(messages) == len(pings) + 2

