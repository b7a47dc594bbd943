"""Benchmark: what the live dashboard costs `ergoedge run` (issue 15: less than 10 % of its fps with one viewer).

Run: `.venv/bin/python benchmarks/bench_dashboard.py [--seconds 20] [--repeats 3] [--viewer sse|chromium]` after
set-up. The clip is bench_run.py's (the pose2sim demo's cam01, a real person, in 640x480 at 30 fps, looped to
--seconds). Each repeat runs `ergoedge run` on it three ways, in turn so that a load change on the shared machine
hits every mode alike: without the dashboard ("off"), with it and nobody watching ("idle"), and with one viewer
("viewer"): by default a client in this process that reads the server-sent events and fetches each new camera frame
as the page does (`--viewer sse`); `--viewer chromium` opens the page in Debian's headless chromium instead (which
itself needs CPU on the same cores). The fps of each run is its report's (frames over wall seconds); the spread of
the repeats is printed with the medians. Other work on a shared machine moves fps a lot, so each run's CPU time
(user + system, from the kernel's accounting of the `ergoedge run` process: what the dashboard adds there is its
whole cost to the device, as the viewer sits on another machine) is given per frame too, which load elsewhere
moves less; and with the SSE viewer, the dashboard's own CPU time as it measures itself (its server thread, the
drawing and encoding of each camera view, the publisher's work in the frame thread: `dashboard_cpu_s` in the
state), per frame, which the rest of the machine does not move at all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = ("off", "idle", "viewer")


def _make_clip(path: Path, seconds: float) -> None:
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "bench_run.py")
    bench_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_run)
    bench_run.make_clip(path, seconds, Path(os.environ.get("ERGOEDGE_FOOTAGE", REPO / "build" / "footage")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SseViewer:
    """One page's worth of traffic: the event stream, and each new camera frame fetched once."""

    def __init__(self, url: str):
        self.url, self.events, self.frames, self.bytes = url, 0, 0, 0
        self.health: dict = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        opener.open(self.url, timeout=10).read()  # the page: its session cookie
        seen = None
        with opener.open(self.url + "api/events", timeout=30) as stream:
            for line in stream:
                if self._stop.is_set():
                    return
                if not line.startswith(b"data: "):
                    continue
                self.events += 1
                state = json.loads(line[6:])
                self.health, seq = state["health"], state.get("view_seq")
                if seq is not None and seq != seen:
                    seen = seq
                    with opener.open(f"{self.url}api/frame.jpg?seq={seq}", timeout=10) as jpeg:
                        self.bytes += len(jpeg.read())
                    self.frames += 1


class ChromiumViewer:
    def __init__(self, url: str):
        self.url, self.driver, self.events, self.frames, self.bytes = url, None, 0, 0, 0
        self.health: dict = {}

    def start(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.get(self.url)

    def stop(self) -> None:
        self.events = int(self.driver.execute_script("return Number(document.body.dataset.seq || 0);"))
        self.driver.quit()


def run_once(clip: Path, mode: str, viewer_kind: str, work: Path) -> dict:
    """One `ergoedge run` of the clip; returns its fps and, with a viewer, what the viewer received."""
    out = work / f"{mode}-{time.monotonic_ns()}"
    config = out.with_suffix(".toml")
    config.write_text('camera = "bench"\n[sinks]\nstdout = false\n')
    cmd = [sys.executable, "-m", "edge", "run", "--source", str(clip), "--config", str(config), "--out", str(out),
           "--events-db", str(out.with_suffix(".db"))]
    port = _free_port()
    if mode != "off":
        cmd += ["--dashboard", str(port)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    viewer = None
    if mode == "viewer":
        while proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        viewer = (SseViewer if viewer_kind == "sse" else ChromiumViewer)(f"http://127.0.0.1:{port}/")
        viewer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if viewer is not None:
        viewer.stop()
    if code != 0:
        raise SystemExit(f"ergoedge run failed ({code}): {' '.join(cmd)}")
    report = json.loads((out / "report.json").read_text())
    result = {"mode": mode, "fps": report["fps"], "frames": report["frames"],
              "pose_ms": report["stages"]["pose"]["median_ms"], "output_ms": report["stages"]["output"]["median_ms"],
              "cpu_ms_per_frame": 1000.0 * (usage.ru_utime + usage.ru_stime) / max(report["frames"], 1)}
    if viewer is not None:
        result.update(events=viewer.events, jpegs=viewer.frames, jpeg_kb=round(viewer.bytes / 1024))
        h = viewer.health  # the last state the viewer got: the dashboard's own CPU until then
        if h.get("frames"):
            result["dashboard_ms_per_frame"] = 1000.0 * h["dashboard_cpu_s"] / h["frames"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length (stream seconds at 30 fps)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--viewer", choices=("sse", "chromium"), default="sse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        work = Path(tmp)
        clip = work / "clip.mp4"
        _make_clip(clip, args.seconds)
        rows = []
        for repeat in range(args.repeats):
            for mode in MODES[repeat % 3:] + MODES[:repeat % 3]:  # a different order each repeat
                row = run_once(clip, mode, args.viewer, work)
                rows.append(row)
                extra = f"  {row['events']} events, {row['jpegs']} JPEGs ({row['jpeg_kb']} kB)" if "events" in row \
                    else ""
                if "dashboard_ms_per_frame" in row:
                    extra += f", dashboard's own CPU {row['dashboard_ms_per_frame']:.2f} ms/frame"
                print(f"repeat {repeat + 1} {mode:<6} {row['fps']:6.1f} fps  {row['frames']} frames  "
                      f"CPU {row['cpu_ms_per_frame']:.1f} ms/frame  pose {row['pose_ms']:.1f} ms  "
                      f"output {row['output_ms']:.2f} ms{extra}", flush=True)
    own = [r["dashboard_ms_per_frame"] for r in rows if "dashboard_ms_per_frame" in r]
    off_cpu = statistics.median(r["cpu_ms_per_frame"] for r in rows if r["mode"] == "off")
    if own:
        print(f"\nthe dashboard's own CPU with one viewer (server thread, camera views, publisher): median "
              f"{statistics.median(own):.2f} ms/frame (min {min(own):.2f}, max {max(own):.2f}), "
              f"{100 * statistics.median(own) / off_cpu:.1f} % of the run's {off_cpu:.1f} ms/frame without it")
    for key, what, worse in (("fps", "fps", -1), ("cpu_ms_per_frame", "CPU ms per frame", 1)):
        values = {mode: [r[key] for r in rows if r["mode"] == mode] for mode in MODES}
        median = {mode: statistics.median(v) for mode, v in values.items()}
        print(f"\n{what} over {args.repeats} repeats ({args.seconds:g} s clip, viewer: {args.viewer}):")
        for mode in MODES:
            change = 100.0 * (median[mode] / median["off"] - 1.0) * worse
            print(f"  {mode:<6} median {median[mode]:6.1f}  min {min(values[mode]):6.1f}  max {max(values[mode]):6.1f}"
                  + ("" if mode == "off" else f"  ({change:+.1f} % worse than without the dashboard)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
