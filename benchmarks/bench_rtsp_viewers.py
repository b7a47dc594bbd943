"""Soak: viewers come and go around an RTSP output that is opened and closed again and again.

Run: `.venv/bin/python benchmarks/bench_rtsp_viewers.py [--cycles 120] [--seed 1]`.
Per cycle: start `runtime.video.outputs.RtspServer` (digest login) on a free 127.0.0.1 port; three real rtspsrc
viewers in turn (no password, a wrong one, the right one), each giving up after a random 0.02-0.3 s, so that
viewers leave mid-handshake and mid-stream; close the server; then sleep 0.3 s and read the process's CPU time
over that sleep. Nothing of the server should run after `close`: a thread still busy shows as CPU time close to
the sleep (GStreamer 1.22 leaves a client's watch spinning on its closed socket when the client is removed from
another thread, printing a GLib-GIO-CRITICAL line each turn).
Prints JSON: cycles, how many were followed by a busy process (CPU > half the sleep) and the first, close times
(median, max), frames the viewers got. Exit status 1 if any cycle left the process busy.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the viewer: tests/rtsp_client.py's real rtspsrc client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--idle", type=float, default=0.3, help="seconds watched after each close")
    args = parser.parse_args()

    from rtsp_client import pull_frame

    from runtime.video.outputs import RtspServer

    rnd = random.Random(args.seed)
    frame = np.zeros((240, 320, 3), np.uint8)
    busy, closes, frames = [], [], 0
    for cycle in range(args.cycles):
        server = RtspServer(port=0, fps=30, width=320, height=240, encoder="x264enc", user="viewer",
                            password="Vw-soak-1")
        try:
            for password in (None, "wrong", "Vw-soak-1"):
                login = ("viewer", password) if password else (None, None)
                image, _ = pull_frame(server.url, *login, feed=lambda: server.write(frame),
                                      timeout_s=rnd.uniform(0.02, 0.3))
                frames += image is not None
        finally:
            start = time.perf_counter()
            server.close()
            closes.append(time.perf_counter() - start)
        cpu = time.process_time()
        time.sleep(args.idle)
        if time.process_time() - cpu > args.idle / 2:
            busy.append(cycle)
    print(json.dumps({"cycles": args.cycles, "seed": args.seed, "busy_after_close": len(busy),
                      "first_busy_cycle": busy[0] if busy else None,
                      "close_s_median": round(statistics.median(closes), 3), "close_s_max": round(max(closes), 3),
                      "frames_received": frames}, indent=1))
    return 1 if busy else 0


if __name__ == "__main__":
    sys.exit(main())
