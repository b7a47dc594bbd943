"""`ergoedge run`: camera -> pose -> per-person risk -> alerts -> sinks and outputs, at the camera's frame rate.

`run(config, out_dir)` is the one entry point: it opens a `Session`, feeds it the source's frames one at a time
(`Session.step`) until the source ends, `max_seconds` of stream time pass, or SIGINT/SIGTERM arrives, closes it
and writes the report. Per frame: the estimator finds and tracks people; each person's `PersonStream` turns their
joints into REBA/RULA/L5-S1 metrics, and the activity stage (`runtime.activity`, where there is an activity model)
adds their activity and learned REBA; the alert engine turns metrics into events; every event goes to every sink
(isolated from each other); the frame is annotated and written to the outputs that were asked for. Per-stage
latency, frame rate, dropped frames and source gaps are measured as it goes, and at the end `report.json`,
`report.png` and `report.html` describe the run for a supervisor.

Restarts (systemd restarts the service after a crash): exposure is saved in the event store every few seconds and a
new run continues its shift's totals from there; report.json is rewritten every `report_every_s`, and a new run
first renames the report it finds to report-<run id>.* (`runtime.report`). Everything a run keeps in memory is
bounded (the report holds the latest events, shifts, people and gaps plus totals), so weeks of running stay flat.

Privacy: no frame is stored unless `output.record` is given; `output.privacy` ("face-blur" by default, or
"silhouette", or "none"; the older `output.face_blur` stands for the first or the last) applies to every output.
Nothing the run writes or logs holds a source credential: the source appears as its label and the default camera
name comes from host and path only (`runtime.video.uri`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

from edge.ergonomics.reba import risk_band
from edge.errors import InputError
from edge.paths import output_dir
from runtime.config import RunConfig, privacy_mode
from runtime.network import log_exposure_warnings
from runtime.output_set import OutputSet
from runtime.run_paths import check_run_paths, event_store_path


def run(config: RunConfig, out_dir: str | Path, status=sys.stderr, config_file: str | Path | None = None) -> dict:
    """Run until the source ends, `max_seconds` of stream time pass, or SIGINT/SIGTERM. Returns the report (its
    "outputs" say which output failed; the run goes on without it). `config_file`: the file `config` came from,
    which no output may replace."""
    from runtime.service_notify import ServiceNotifier, notify_service

    session = Session(config, out_dir, status, config_file=config_file)
    progress = lambda: max(session.stepped_at, session.source.alive_at)  # noqa: E731 - frames or the source's wait
    try:
        with _stop_on_signals() as stop, _closing_on(stop, session.source):
            with notify_service(ServiceNotifier.from_environment(), progress, lambda: session.status_text):
                for frame in session.source:
                    if not session.step(frame) or stop.is_set():
                        break
            session.interrupted = stop.is_set()
            if session.dashboard is not None:
                session.dashboard.linger(session, stop)  # [dashboard] linger_s: the final state stays up a while
    finally:
        session.close()
    try:
        return session.write_report()
    except OSError as exc:  # a full disk, most often: say where (the alerts went to the sinks already)
        raise InputError(f"cannot write the report in {session.out}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _stop_on_signals():
    """An event set by SIGINT or SIGTERM while the block runs (the previous handlers come back afterwards)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _closing_on(stop: threading.Event, source):
    """While the block runs, a helper thread closes `source` once `stop` is set. The loop above looks at `stop` only
    after a frame, and a source waiting for a camera that is down (reconnecting, by default for ever) delivers none:
    closing it ends the wait (`close` is safe from another thread), so SIGTERM ends an outage's run too."""
    from runtime.background import repeating

    def close_when_stopped() -> bool:
        if stop.is_set():
            source.close()
            return True
        return False

    with repeating(0.2, close_when_stopped, "stop-watch"):
        yield


class Session:
    """One run of the device pipeline: made here, advanced one frame at a time by `step`, and released by `close`;
    `write_report` then describes the run.

    `wall_clock` (aware UTC datetimes; default the system clock) is what alerts, shifts, exposure saves and the
    periodic report read: benchmarks/bench_week.py runs a week through `observe` on a fast one. Each run has a
    `run_id` (its UTC start and a random suffix) under which its exposure is saved and its report is kept.

    Nothing is created before the first frame: every path is checked first (`runtime.run_paths`), and the output
    folder, the alert log and the stores are opened by the first `observe` (`_begin`), so a run that cannot start
    leaves nothing behind."""

    def __init__(self, config: RunConfig, out_dir: str | Path, status=sys.stderr, wall_clock=None,
                 config_file: str | Path | None = None):
        from edge.artifacts import models_dir
        from edge.skeletons import get_layout
        from runtime.activity import ActivityStage
        from runtime.alerts.engine import AlertEngine
        from runtime.alerts.event import parse_utc, utc_now
        from runtime.config import NO_RULES_WARNING
        from runtime.telemetry import EventLog, RiskTimeline, StageClock
        from runtime.views import open_view

        self.config, self.status = config, status
        # On a terminal the status line rewrites itself with "\r"; elsewhere (systemd's journal, a pipe, a file)
        # each status is a line of its own, or "\r" lines would pile into one endless line with messages glued on.
        self._status_line = status is not None and bool(getattr(status, "isatty", lambda: False)())
        self.out = output_dir(out_dir)  # checked; created once the run has started
        self.wall_clock = wall_clock or utc_now
        self.started_utc = parse_utc(self.wall_clock())
        self.run_id = f"{self.started_utc:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        self.view = open_view(config)  # one camera, or a calibrated rig's cameras
        self.camera = self.view.camera
        self.messages: list[str] = []
        for spec in self.view.specs.values():
            check_run_paths(config, spec, self.camera, self.out, config_file)  # no output replaces an input
            self.messages += [m for m in log_exposure_warnings(config, spec) if m not in self.messages]
        fps = next(iter(self.view.specs.values())).fps
        self.outputs = OutputSet(config.output, fps or 30.0, log=self._output_failed)  # display checked
        self.layout = get_layout(self.view.layout)
        rules = config.alerts.rules  # defaults unless the config gave its own; an explicit [] is none: said so
        if not rules:
            self.messages.append(NO_RULES_WARNING)
            logging.getLogger(__name__).warning("%s", NO_RULES_WARNING)
        self.engine = AlertEngine(rules, camera=self.camera, clock=self.wall_clock)
        # Activity and learned REBA per person, where an activity model is there (else off, said once).
        self.activity = ActivityStage(config.activity, models_dir(config.pose.models_dir), self.layout.name, rules,
                                      log=self.messages.append)
        if self.activity.placement is not None:  # the model reads the pelvis's path: place people in the camera
            self.view.enable_placement(self.activity.placement)
        self.sinks = self.store = self.exposure = None  # opened by `_begin`, on the first frame
        self._reports_kept = False
        self.clock = StageClock()
        self.timeline = RiskTimeline()
        self.streams: dict = {}  # track id -> PersonStream
        self._people_seen = 0  # streams made so far
        self.last_seen: dict[int, float] = {}
        self.active: dict[tuple[int, str], str] = {}  # (person, rule) -> message of each raised alert
        self.events = EventLog()  # the latest events and counts of all (every event is in the sinks)
        self.frames = 0
        self.interrupted = False  # stopped by SIGINT or SIGTERM before the source ended (`run`)
        self.t = 0.0
        self._last_t: float | None = None
        self._last_status = 0.0
        self.status_text: str | None = None  # the latest status line, for systemd's STATUS= (runtime.service_notify)
        self.stepped_at = time.monotonic()  # the end of the latest frame's processing, for the watchdog
        self.source = self.view.open_source(config)
        self.started = time.monotonic()
        self._wait_start = time.perf_counter()
        self.source_stats: dict = {}
        self._next_report = self.started_utc.timestamp() + config.report_every_s
        self._report_failed = False
        self.dashboard = None  # last: a port in use stops the run here, and nothing started later can fail
        if config.dashboard.port:
            from runtime.dashboard.publisher import DashboardPublisher

            self.dashboard = DashboardPublisher(config.dashboard, self.camera, self.run_id, draw=annotate,
                                                status=status, log=self._output_failed)
            self.dashboard.start()

    def step(self, frame) -> bool:
        """Process one frame (a `FrameSet` with a rig); False (and the frame unused) once it lies past
        `max_seconds` of stream time."""
        now = time.perf_counter()
        self.clock.add("wait", (now - self._wait_start) * 1000)
        t = frame.t if hasattr(frame, "frames") else frame.pts_s
        if self.config.max_seconds is not None and t > self.config.max_seconds:
            return False
        self.t = t
        dt = 0.0 if self._last_t is None else max(t - self._last_t, 0.0)
        self._last_t = t
        seen = self.view.observe(frame)
        people = seen.people
        t_pose = time.perf_counter()
        self.clock.add("pose", (t_pose - now) * 1000)
        metrics = self._score(seen.bodies, seen.placements, t)
        t_score = time.perf_counter()
        self.clock.add("score", (t_score - t_pose) * 1000)
        self.observe(metrics, t, dt)
        self.exposure.observe_frame(t, seen.image, seen.unique, seen.up)  # episode thumbnails, NIOSH per lift
        t_alerts = time.perf_counter()
        self.clock.add("alerts", (t_alerts - t_score) * 1000)
        self.frames += 1
        fps_now = self.frames / max(time.monotonic() - self.started, 1e-6)
        self._write_outputs(seen.image, people, metrics, fps_now)
        if self.dashboard is not None:  # a reference swap a few times a second; never waits for the web side
            self.dashboard.publish(self, seen.image, people, metrics, fps_now)
        self.clock.add("output", (time.perf_counter() - t_alerts) * 1000)
        self._show_status(people, metrics, fps_now)
        self._wait_start = time.perf_counter()
        self.stepped_at = time.monotonic()
        return True

    def _score(self, bodies: dict, placements: dict, t: float) -> dict[int, dict]:
        """Each person's metrics for this frame (`bodies`: person id -> joints, up; `placements`: person id ->
        what places the joints in the camera's space, for the activity model), from their own `PersonStream`
        (made on first sight), everyone scored in one `score_people` call."""
        from edge.scoring.stream import PersonStream, l5s1_phase, score_people

        for pid, (_joints, up) in bodies.items():
            if pid not in self.streams:
                # Each new person's L5/S1 refreshes shifted from the others', not all on one frame.
                self.streams[pid] = PersonStream(self.layout, up, self.config.scoring,
                                                 l5s1_phase=l5s1_phase(self._people_seen))
                self._people_seen += 1
        found = score_people([self.streams[pid] for pid in bodies], t, [joints for joints, _up in bodies.values()])
        metrics = dict(zip(bodies, found))
        for pid, (joints, up) in bodies.items():
            self.activity.update(pid, t, joints, up, metrics[pid], placements.get(pid))
        return metrics

    def observe(self, metrics: dict[int, dict], t: float, dt: float) -> None:
        """One frame's metrics per person (track id -> metrics) at stream time `t`, `dt` after the frame before:
        alert rules, exposure and timeline for everyone seen; people gone for `forget_after_s` are forgotten;
        report.json when `report_every_s` has passed. `step` calls it after pose and scoring."""
        if self.sinks is None:
            self._begin()
        self.t = t
        events = []
        for pid, m in metrics.items():
            self.last_seen[pid] = t
            events += self.engine.update(t, pid, m)
            self.exposure.update(t, pid, m, dt)
            self.timeline.add(pid, t, m)
            self.activity.observe(pid, m, dt)
        for pid in [p for p, seen in self.last_seen.items() if t - seen > self.config.pose.forget_after_s]:
            events += self.engine.forget(pid, t)
            self.exposure.forget(pid)
            self.activity.forget(pid)
            self.streams.pop(pid, None)
            self.last_seen.pop(pid)
        self._emit(events)
        self._report_when_due()

    def _begin(self) -> None:
        """What the run writes, opened once it has started (its first frame): the previous report kept aside, the
        sinks (alert log, event store, MQTT outbox), and exposure continued from the store."""
        from runtime.alerts.exposure import ExposureTracker

        self._keep_previous_report()
        config = self.config
        self.sinks, self.store = _open_sinks(config, self.out, self.camera, log=self.messages.append)
        # After the sinks: exposure is saved in the event store, and a restarted run loads its shift from there.
        self.exposure = ExposureTracker(
            self.engine.rules, shift_starts=config.alerts.shift_starts, clock=self.wall_clock, store=self.store,
            camera=self.camera, run_id=self.run_id, save_every_s=config.alerts.exposure_save_s,
            scoring=config.scoring, log=self.messages.append)

    def _keep_previous_report(self) -> None:
        from runtime.report import keep_previous_reports

        if not self._reports_kept:
            self._reports_kept = True
            keep_previous_reports(self.out)  # a restart must not overwrite the report of the run before it

    def _output_failed(self, message: str) -> None:
        self.messages.append(message)
        if self.status is not None:
            self.status.write(f"\n{message}\n")

    def _report_when_due(self) -> None:
        now = self.wall_clock().timestamp()
        if now < self._next_report:
            return
        self._next_report = now + self.config.report_every_s
        self.source_stats = self.source.stats()
        try:
            self.write_report(final=False)
        except OSError as exc:  # a full disk must not stop the monitor; the final report will say it again
            if not self._report_failed:
                self._report_failed = True
                self.messages.append(f"writing report.json failed: {exc} "
                                     f"(retried every {self.config.report_every_s:g} s)")

    def _emit(self, events) -> None:
        for event in events:
            self.sinks.emit(event)
            self.exposure.record(event)
            self.events.append(event.to_dict())
            key = (event.person, event.rule)
            if event.kind == "raised":
                self.active[key] = event.message or event.rule
            else:
                self.active.pop(key, None)

    def _write_outputs(self, image, people, metrics: dict[int, dict], fps_now: float) -> None:
        """The annotated frame to every output that was asked for (none: no frame is touched)."""
        if not self.outputs.active:
            return
        if not self.outputs.opened:
            h, w = image.shape[:2]
            self.outputs.open((w, h))
        self.outputs.write(annotate(image, people, metrics, self.active, self.config.output,
                                    f"{fps_now:.1f} fps  {len(metrics)} people"))

    def _show_status(self, people, metrics: dict[int, dict], fps_now: float) -> None:
        if self.status is None or time.monotonic() - self._last_status < self.config.status_interval_s:
            return
        self._last_status = time.monotonic()
        worst = max((m.get("reba_total", 0) for m in metrics.values() if m.get("reba_total") == m.get("reba_total")),
                    default=None)
        risk = f"REBA {worst:.0f} ({_risk_name(worst)})" if worst is not None else "no one in view"
        line = (f"[{self.camera}] t={self.t:7.1f}s  {fps_now:5.1f} fps  people {len(metrics)}  {risk}  "
                f"alerts active {len(self.active)}")
        self.status_text = " ".join(line.split())
        self.status.write(f"\r{line}   " if self._status_line else f"{line}\n")
        self.status.flush()

    def close(self) -> None:
        """Clear everyone's alerts, close the outputs, the source and the sinks (each failure recorded, none
        stopping the others from closing)."""
        if self.dashboard is not None:
            self.dashboard.close(self)  # before the sinks: acknowledgements made until now reach them
        for pid in list(self.last_seen):
            self._emit(self.engine.forget(pid, self.t))
        self.last_seen.clear()
        self.outputs.close()  # each failure recorded, never losing the report
        self.source_stats = self.source.stats()
        self.source.close()
        self.view.close()
        if self.sinks is not None:
            self.sinks.close()
        if self.exposure is not None:
            self.exposure.close()
        if self.store is not None:
            self.store.close()
        if self._status_line:
            self.status.write("\n")

    def write_report(self, final: bool = True) -> dict:
        """report.json, report.png and report.html in the output directory (report.json alone, marked
        "final": false, when not `final`: the periodic one while the run goes); returns the report."""
        from runtime.report import write_report

        self._keep_previous_report()  # done by `_begin` unless no frame came
        elapsed = time.monotonic() - self.started
        report = {
            "camera": self.camera,
            **self.view.describe(),  # source, scene
            "frames": self.frames,
            "interrupted": self.interrupted,
            "stream_seconds": round(self.t, 3),
            "wall_seconds": round(elapsed, 3),
            "fps": round(self.frames / elapsed, 2) if elapsed > 0 else 0.0,
            "source_stats": self.source_stats,
            "stages": self.clock.summary(),
            "keypoints_2d_only": not self.view.keypoints_3d,
            "exposure": self.exposure.totals() if self.exposure is not None else {},
            "alerts": list(self.events.recent),
            "alert_counts": self.events.summary(),
            "sinks": self.sinks.stats() if self.sinks is not None else {},
            "outputs": self.outputs.stats(),
            "messages": self.messages,
            "run_id": self.run_id,
            "started": self.started_utc.isoformat(),
            "timeline": self.timeline.to_json(),
            "activity": self.activity.report(),
        }
        return write_report(report, self.out, final=final)


def _open_sinks(config: RunConfig, out: Path, camera: str, log):
    from runtime.alerts.sinks import JsonlSink, SinkSet, SqliteSink, StdoutSink
    from runtime.alerts.store import EventStore

    sinks, store = [], None
    s = config.sinks
    if s.jsonl:
        sinks.append(JsonlSink(out / "alerts.jsonl"))
    if s.sqlite != "":
        store = EventStore(event_store_path(config), retention_days=s.retention_days)
        sinks.append(SqliteSink(store, close_store=False))  # the session closes it, after exposure's last save
    if s.stdout:
        sinks.append(StdoutSink())
    if s.mqtt is not None:
        from runtime.alerts.mqtt import MqttSink

        sinks.append(MqttSink(s.mqtt, camera))
    if s.gpio is not None:
        from runtime.alerts.sinks import GpioSink

        sinks.append(GpioSink(pins=s.gpio.pins, mode=s.gpio.mode))
    return SinkSet(sinks, log=log), store


def annotate(image, people, metrics: dict[int, dict], active: dict, output, status_line: str):
    """A copy of the frame as every output shows it: people as `output.privacy` says (`privacy_mode`), skeletons,
    per-person labels, the alert banner and `status_line` unless `output.overlay` is off. `active`: (person, rule) ->
    message of each raised alert (`Session.active`). Also draws the dashboard's camera view."""
    from runtime.video.overlay import PersonStatus, apply_privacy, draw_overlay

    image = image.copy()
    apply_privacy(image, people, privacy_mode(output))
    if output.overlay:
        statuses = {pid: PersonStatus(
            person=pid, reba=m.get("reba_total"), rula=m.get("rula_grand"),
            risk=_risk_name(m.get("reba_total", float("nan"))), trunk_flexion_deg=m.get("trunk_flexion_deg"),
            activity=m.get("activity"), activity_confidence=m.get("activity_confidence"),
            learned_reba=m.get("learned_reba"),
            alerts=tuple(r for (p, r) in active if p == pid)) for pid, m in metrics.items()}
        banner = next(iter(active.values()), None)
        draw_overlay(image, people, statuses, banner, status_line)
    return image


def _risk_name(reba: float | None) -> str | None:
    band = risk_band(reba)
    return band.name if band is not None else None
