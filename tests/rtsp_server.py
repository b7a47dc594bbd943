"""A loopback RTSP test server: videotestsrc (pattern ball) -> x264enc -> rtph264pay, served by GstRtspServer.

Run as a subprocess by the tests and by benchmarks/bench_rtsp_reconnect.py:

    python tests/rtsp_server.py --port 8554 --path /cam --width 640 --height 480 --fps 30

It listens on 127.0.0.1 only, prints "ready" (one line, flushed) once the port is bound, and runs until SIGTERM or
SIGINT (clean exit 0) or SIGKILL (the tests use that to simulate a camera that dies). A bind failure (port in use)
prints one line to stderr and exits 1. Not part of the package: the device never serves RTSP itself.

`free_port()`, `start_server()` and `stop_server()` are the helpers the tests and the benchmark use to run it.
"""

from __future__ import annotations

import argparse
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, path: str = "/cam", width: int = 640, height: int = 480, fps: int = 30,
                 timeout_s: float = 15.0, attempts: int = 5) -> subprocess.Popen:
    """Run this script as a subprocess and return it once it printed "ready" (retrying a failed bind a few times,
    e.g. right after a killed server on the same port). Raises RuntimeError if it never becomes ready."""
    cmd = [sys.executable, str(SCRIPT), "--port", str(port), "--path", path, "--width", str(width),
           "--height", str(height), "--fps", str(fps)]
    problem = "not started"
    for _ in range(attempts):
        with tempfile.TemporaryFile(mode="w+") as errors:  # a file, not a pipe: a chatty server never blocks
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
            ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
            if ready and proc.stdout.readline().strip() == "ready":
                return proc
            stop_server(proc)
            errors.seek(0)
            problem = (errors.read().strip().splitlines() or [f"no 'ready' within {timeout_s:g} s"])[-1]
        time.sleep(0.2)
    raise RuntimeError(f"RTSP test server on 127.0.0.1:{port} did not start: {problem}")


def stop_server(proc: subprocess.Popen, kill: bool = True) -> None:
    """Stop a server from start_server(): SIGKILL (a camera that dies) or SIGTERM (a clean shutdown)."""
    if proc.poll() is None:
        if kill:
            proc.kill()
        else:
            proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def launch_description(width: int, height: int, fps: int) -> str:
    """The media factory's pipeline: a live ball at width x height @ fps, H.264 with a keyframe every second."""
    return (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
        f"! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args(argv)
    if not args.path.startswith("/"):
        parser.error("--path must start with '/'")

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_description(args.width, args.height, args.fps))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)

    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, lambda *_: (loop.quit(), False)[1])
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
