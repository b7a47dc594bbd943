"""Test helpers on the viewer's side of an RTSP output: which addresses a port listens on (from the kernel's tables)
and a real rtspsrc client that pulls one decoded frame. Used by tests/test_rtsp_access.py and tests/test_secrets.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import numpy as np


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket in LISTEN state on `port`, read from /proc/net/tcp and tcp6."""
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word of the address in host (little-endian) order.
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
            found.add(socket.inet_ntop(socket.AF_INET if width == 4 else socket.AF_INET6, packed))
    return found


def pull_frame(url: str, user: str | None = None, password: str | None = None, timeout_s: float = 5.0,
               feed: Callable[[], object] | None = None) -> tuple[np.ndarray | None, str | None]:
    """Connect an rtspsrc client (TCP) to `url`, with `user`/`password` if given, and wait for one decoded frame,
    calling `feed()` meanwhile if the server needs frames pushed. Returns (BGR image or None, the client's first
    error message or None)."""
    from runtime.video.gst import gst

    Gst = gst().Gst
    client = Gst.parse_launch(
        f"rtspsrc name=src location={url} latency=0 protocols=tcp ! rtph264depay ! avdec_h264 ! videoconvert ! "
        "video/x-raw,format=BGR ! appsink name=sink sync=false max-buffers=1 drop=true")
    if user is not None:  # properties, not the URL: the client's own URL never carries the password
        client.get_by_name("src").set_property("user-id", user)
        client.get_by_name("src").set_property("user-pw", password)
    sink, bus = client.get_by_name("sink"), client.get_bus()
    try:
        client.set_state(Gst.State.PLAYING)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if feed is not None:
                feed()
            sample = sink.emit("try-pull-sample", 30 * Gst.MSECOND)
            if sample is not None:
                caps = sample.get_caps().get_structure(0)
                shape = (caps.get_value("height"), caps.get_value("width"), 3)
                buf = sample.get_buffer()
                ok, info = buf.map(Gst.MapFlags.READ)
                assert ok
                try:
                    return np.frombuffer(info.data, np.uint8)[:shape[0] * shape[1] * 3].reshape(shape).copy(), None
                finally:
                    buf.unmap(info)
            message = bus.pop_filtered(Gst.MessageType.ERROR)
            if message is not None:
                return None, message.parse_error()[0].message
        return None, None
    finally:
        client.set_state(Gst.State.NULL)
