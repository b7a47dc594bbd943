"""`ergoedge run`: camera -> pose -> per-person risk -> alerts -> sinks and outputs, at the camera's frame rate.

`run(config, out_dir)` is the one entry point. Per frame: the estimator finds and tracks people; each person's
`PersonStream` turns their joints into REBA/RULA/L5-S1 metrics; the alert engine turns metrics into events; every
event goes to every sink (isolated from each other); the frame is annotated and written to the outputs that were
asked for. Per-stage latency, frame rate, dropped frames and source gaps are measured as it goes, and at the end
`report.json`, `report.png` and `report.html` describe the run for a supervisor.

Privacy: no frame is stored unless `output.record` is given; `output.face_blur` blurs faces in every output.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.scoring.offline import reba_risk_bands
from edge.paths import user_dir
from runtime.config import RunConfig

_STAGES = ("wait", "pose", "score", "alerts", "output")


class _StageClock:
    """Milliseconds per stage, kept as a bounded reservoir so a months-long run has flat memory."""

    def __init__(self, keep: int = 4096):
        self.samples = {s: np.zeros(keep) for s in _STAGES}
        self.count = dict.fromkeys(_STAGES, 0)
        self.keep = keep

    def add(self, stage: str, ms: float) -> None:
        self.samples[stage][self.count[stage] % self.keep] = ms
        self.count[stage] += 1

    def summary(self) -> dict:
        out = {}
        for stage in _STAGES:
            n = min(self.count[stage], self.keep)
            if n:
                values = self.samples[stage][:n]
                out[stage] = {"median_ms": round(float(np.median(values)), 2),
                              "p90_ms": round(float(np.percentile(values, 90)), 2)}
        return out


class _Timeline:
    """Per person, one row per time bin: worst REBA and RULA, peak compression, peak trunk flexion. Bins start at
    0.25 s and double in width whenever a person has more than `max_rows`, so memory stays bounded on long runs."""

    def __init__(self, bin_s: float = 0.25, max_rows: int = 20000):
        self.bin_s = bin_s
        self.max_rows = max_rows
        self.rows: dict[int, dict[int, list[float]]] = defaultdict(dict)

    @staticmethod
    def _merge(row: list[float], values) -> None:
        for i, value in enumerate(values):
            if value == value and not (row[i] == row[i] and row[i] >= value):
                row[i] = float(value)

    def add(self, person: int, t: float, m: dict) -> None:
        rows = self.rows[person]
        row = rows.setdefault(int(math.floor(t / self.bin_s)), [np.nan] * 4)
        self._merge(row, [m.get(k, np.nan) for k in
                          ("reba_total", "rula_grand", "l5s1_compression_n", "trunk_flexion_deg")])
        if len(rows) > self.max_rows:
            self.bin_s *= 2
            for pid, old in list(self.rows.items()):
                merged: dict[int, list[float]] = {}
                for b, values in old.items():
                    self._merge(merged.setdefault(b // 2, [np.nan] * 4), values)
                self.rows[pid] = merged

    def seconds(self) -> dict[int, dict[float, list[float]]]:
        """Rows keyed by bin start time in seconds."""
        return {p: {b * self.bin_s: v for b, v in rows.items()} for p, rows in self.rows.items()}


def _lift_2d(person) -> tuple[np.ndarray, np.ndarray]:
    """2D keypoints as pseudo-3D joints for models without world keypoints: image plane, scaled so the person's
    box is about 1.7 m tall, up = image up. Angles are projections: the report says so."""
    height_px = max(float(person.box[3] - person.box[1]), 1.0)
    xy = person.keypoints.astype(np.float64) * (1.7 / height_px)
    joints = np.concatenate([xy, np.zeros((len(xy), 1))], axis=1)
    joints[person.scores < 0.3] = np.nan
    return joints, np.array([0.0, -1.0, 0.0])


def _open_sinks(config: RunConfig, out: Path, camera: str, log):
    from runtime.alerts.store import EventStore
    from runtime.alerts.sinks import JsonlSink, SinkSet, SqliteSink, StdoutSink

    sinks, store = [], None
    s = config.sinks
    if s.jsonl:
        sinks.append(JsonlSink(out / "alerts.jsonl"))
    if s.sqlite != "":
        db = Path(s.sqlite) if s.sqlite else user_dir("data") / "events.db"
        store = EventStore(db, retention_days=s.retention_days)
        sinks.append(SqliteSink(store))
    if s.stdout:
        sinks.append(StdoutSink())
    if s.mqtt is not None:
        from runtime.alerts.mqtt import MqttSink

        sinks.append(MqttSink.from_config(s.mqtt, camera))
    if s.gpio is not None:
        from runtime.alerts.sinks import GpioSink

        sinks.append(GpioSink(pins=s.gpio.pins, mode=s.gpio.mode))
    return SinkSet(sinks, log=log), store


def _open_outputs(config: RunConfig, size: tuple[int, int], fps: float):
    outputs = []
    o = config.output
    if o.record:
        from runtime.video.outputs import VideoRecorder

        Path(o.record).parent.mkdir(parents=True, exist_ok=True)
        outputs.append(VideoRecorder(o.record, fps, size[0], size[1]))
    if o.rtsp_port:
        from runtime.video.outputs import RtspServer

        outputs.append(RtspServer(port=o.rtsp_port, path=o.rtsp_path, fps=fps, width=size[0], height=size[1]))
    if o.show:
        from runtime.video.outputs import DisplayOutput

        outputs.append(DisplayOutput())
    return outputs


def _risk_name(reba: float | None) -> str | None:
    if reba is None or reba != reba:
        return None
    return next((name for name, lo, hi in reba_risk_bands() if lo <= reba <= hi), None)


def run(config: RunConfig, out_dir: str | Path, status=sys.stderr) -> dict:
    """Run until the source ends, `max_seconds` of stream time pass, or SIGINT/SIGTERM. Returns the report."""
    from edge.pose.estimator import open_estimator
    from edge.pose.scene import load_calibration
    from edge.skeletons import get_layout
    from edge.scoring.stream import PersonStream
    from runtime.alerts.engine import DEFAULT_RULES, AlertEngine
    from runtime.alerts.exposure import ExposureTracker
    from runtime.video.overlay import PersonStatus, blur_faces, draw_overlay
    from runtime.report import write_report
    from runtime.video.source import GstSource, ReconnectPolicy, parse_source

    if not config.source.uri:
        raise InputError("no source: pass --source (test://, a video file, rtsp://..., v4l2:///dev/video0, csi://0)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = config.source
    spec = parse_source(src.uri, width=src.width, height=src.height, fps=src.fps)
    camera = config.camera or _camera_name(spec)
    scene = load_calibration(camera, config.scene_dir)
    estimator = open_estimator(config.pose)
    layout = get_layout(estimator.layout)
    rules = config.alerts.rules or DEFAULT_RULES
    engine = AlertEngine(rules, camera=camera)
    exposure = ExposureTracker(rules, shift_starts=config.alerts.shift_starts)
    messages: list[str] = []
    sinks, store = _open_sinks(config, out, camera, log=messages.append)

    stop = {"flag": False}

    def _stop(_signum, _frame):
        stop["flag"] = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    clock = _StageClock()
    timeline = _Timeline()
    streams: dict[int, PersonStream] = {}
    last_seen: dict[int, float] = {}
    active: dict[tuple[int, str], str] = {}
    events_out: list[dict] = []
    outputs: list = []
    frames = 0
    started = time.monotonic()
    last_status = 0.0
    t = 0.0
    last_t = None
    two_d = estimator.layout != "blazepose33"
    source = GstSource(spec, reconnect=ReconnectPolicy(initial_s=src.reconnect_initial_s, max_s=src.reconnect_max_s),
                       stall_timeout_s=src.stall_timeout_s)
    try:
        wait_start = time.perf_counter()
        for frame in source:
            now = time.perf_counter()
            clock.add("wait", (now - wait_start) * 1000)
            t = frame.pts_s
            if config.max_seconds is not None and t > config.max_seconds:
                break
            dt = 0.0 if last_t is None else max(t - last_t, 0.0)
            last_t = t
            people = estimator(frame.image, t)
            t_pose = time.perf_counter()
            clock.add("pose", (t_pose - now) * 1000)

            statuses = {}
            metrics_by_person = {}
            for person in people:
                if person.world is not None:
                    joints, up = person.world, np.asarray(scene.up)
                else:
                    joints, up = _lift_2d(person)
                stream = streams.get(person.track_id)
                if stream is None:
                    stream = streams[person.track_id] = PersonStream(layout, up, config.scoring)
                metrics_by_person[person.track_id] = stream.update(t, joints)
                last_seen[person.track_id] = t
            t_score = time.perf_counter()
            clock.add("score", (t_score - t_pose) * 1000)

            events = []
            for pid, m in metrics_by_person.items():
                events += engine.update(t, pid, m)
                exposure.update(t, pid, m, dt)
                timeline.add(pid, t, m)
            for pid in [p for p, seen in last_seen.items() if t - seen > config.pose.forget_after_s]:
                events += engine.forget(pid, t)
                streams.pop(pid, None)
                last_seen.pop(pid)
            for event in events:
                sinks.emit(event)
                exposure.record(event)
                events_out.append(event.to_dict())
                key = (event.person, event.rule)
                if event.kind == "raised":
                    active[key] = event.message or event.rule
                else:
                    active.pop(key, None)
            t_alerts = time.perf_counter()
            clock.add("alerts", (t_alerts - t_score) * 1000)

            frames += 1
            fps_now = frames / max(time.monotonic() - started, 1e-6)
            if config.output.record or config.output.rtsp_port or config.output.show:
                if not outputs:
                    h, w = frame.image.shape[:2]
                    outputs = _open_outputs(config, (w, h), spec.fps or 30.0)
                image = frame.image.copy()
                if config.output.face_blur:
                    blur_faces(image, people)
                if config.output.overlay:
                    for pid, m in metrics_by_person.items():
                        statuses[pid] = PersonStatus(
                            person=pid, reba=m.get("reba_total"), rula=m.get("rula_grand"),
                            risk=_risk_name(m.get("reba_total", float("nan"))),
                            trunk_flexion_deg=m.get("trunk_flexion_deg"),
                            alerts=tuple(r for (p, r) in active if p == pid))
                    banner = next(iter(active.values()), None)
                    draw_overlay(image, people, statuses, banner, f"{fps_now:.1f} fps  {len(people)} people")
                for output in outputs:
                    output.write(image)
            clock.add("output", (time.perf_counter() - t_alerts) * 1000)

            if status is not None and time.monotonic() - last_status >= config.status_interval_s:
                last_status = time.monotonic()
                worst = max((m.get("reba_total", 0) for m in metrics_by_person.values() if m.get("reba_total") ==
                             m.get("reba_total")), default=None)
                risk = f"REBA {worst:.0f} ({_risk_name(worst)})" if worst is not None else "no one in view"
                status.write(f"\r[{camera}] t={t:7.1f}s  {fps_now:5.1f} fps  people {len(people)}  {risk}  "
                             f"alerts active {len(active)}   ")
                status.flush()
            if stop["flag"]:
                break
            wait_start = time.perf_counter()
    finally:
        for pid in list(last_seen):
            for event in engine.forget(pid, t):
                sinks.emit(event)
                exposure.record(event)
                events_out.append(event.to_dict())
        for output in outputs:
            try:
                output.close()
            except Exception as exc:  # one output failing to close must not lose the report
                messages.append(f"output close failed: {exc}")
        source_stats = source.stats()
        source.close()
        sinks.close()
        exposure.close()
        if store is not None:
            store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if status is not None:
            status.write("\n")
    elapsed = time.monotonic() - started
    report = {
        "camera": camera,
        "source": src.uri,
        "scene": asdict(scene),
        "frames": frames,
        "stream_seconds": round(t, 3),
        "wall_seconds": round(elapsed, 3),
        "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
        "source_stats": source_stats,
        "stages": clock.summary(),
        "keypoints_2d_only": two_d,
        "exposure": exposure.totals(),
        "alerts": events_out,
        "sinks": sinks.stats(),
        "messages": messages,
    }
    return write_report(report, timeline.seconds(), timeline.bin_s, out)


def _camera_name(spec) -> str:
    import re

    name = Path(spec.location).stem if spec.kind == "file" else f"{spec.kind}-{spec.location}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:64] or spec.kind
