"""The frame thread's side of the dashboard: `DashboardPublisher.publish` once per frame.

Per frame it costs a clock read and a look at the acknowledgement queue. At most `video_fps` times a second it
keeps a reference to the frame's image (the source's own copy, which nothing writes to), people and metrics for the
camera view; at most `update_hz` times a second, and only while someone is watching (a request in the last
`VIEWER_IDLE_S`), it builds the page's state (`runtime.dashboard.snapshot`). Hand-over is one attribute assignment
of an immutable object, so the frame path never waits for the server thread; the drawing (with the run's face blur
and overlay settings), scaling and JPEG encoding of the camera view happen in the server thread, on demand.

Acknowledging an alert on the page queues an `AlertEvent` of kind "acknowledged"; `publish` (in the frame thread,
where the sinks live) sends it to every sink of the run (alerts.jsonl, the event store, MQTT, stdout) and to the
run's report.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from runtime.alerts.event import AlertEvent
from runtime.dashboard.config import DashboardConfig
from runtime.dashboard.snapshot import active_alerts, exposure_view, health_view, person_view

# A viewer that has sent nothing for this long (seconds) is gone: nothing is built for the page until one returns.
VIEWER_IDLE_S = 5.0


@dataclass(frozen=True)
class State:
    """One state of the page: `seq` grows with each; `data` is JSON-ready."""

    seq: int
    data: dict


@dataclass(frozen=True)
class View:
    """What the camera view is drawn from: the frame's own image (never written to), its people and metrics, the
    active alerts and status line of that frame, and the run's output settings (face blur, overlay)."""

    seq: int
    image: Any
    people: list
    metrics: dict
    active: dict
    status_line: str
    output: Any = field(repr=False)
    draw: Any = field(default=None, repr=False)


class DashboardPublisher:
    """Starts the dashboard's server (`start`), feeds it (`publish`, `linger`) and stops it (`close`).

    draw: how the run draws a frame for its outputs, `runtime.session.annotate(image, people, metrics, active,
    output, status_line)`; the camera view is drawn with it, so it is the frame every output shows."""

    def __init__(self, config: DashboardConfig, camera: str, run_id: str, draw=None, status=sys.stderr, log=None):
        from runtime.dashboard.server import DashboardServer

        self.config = config
        self.camera, self.run_id, self.draw = camera, run_id, draw
        self.state: State | None = None
        self.view: View | None = None
        self.last_request = 0.0  # monotonic time of the latest request (written by the server thread)
        self.acks: deque[AlertEvent] = deque()  # acknowledgements waiting for the frame thread's sinks
        self._status = status
        self._log = log  # one line per distinct failure of the page's state (the run goes on without it)
        self._failures: set[str] = set()
        self.cpu_s = 0.0  # CPU seconds spent here in the frame thread (the dashboard's whole cost: server.cpu_seconds)
        self._state_period = 1.0 / config.update_hz
        self._view_period = 1.0 / config.video_fps if config.video_fps > 0 else None
        self._next_state = self._next_view = 0.0
        self._fps_mark: tuple[float, int] | None = None
        self._fps = 0.0
        self._seq = self._view_seq = 0
        self.server = DashboardServer(config, self)

    def start(self) -> str:
        """Listen (an `InputError` when the address cannot be served); returns the dashboard's URL."""
        url = self.server.start()
        if self._status is not None:
            login = ", login required" if self.config.login_required else ""
            self._status.write(f"dashboard: {url}{login}\n")
            self._status.flush()
        return url

    def touch(self) -> None:
        """A viewer asked for something (server thread)."""
        self.last_request = time.monotonic()

    def publish(self, session, image, people, metrics: dict[int, dict], fps_now: float) -> None:
        """One processed frame (frame thread): see the module docstring for what is done when."""
        if self.acks:
            self.flush_acks(session)
        now, cpu = time.monotonic(), time.thread_time()
        # The camera view's frame is kept whoever watches (a reference and a few small copies), so that a page
        # opened later, or during `linger`, has a picture; the state is only built for a viewer.
        if self._view_period is not None and self.draw is not None and now >= self._next_view:
            self._next_view = now + self._view_period
            self._view_seq += 1
            self.view = View(self._view_seq, image, list(people), {pid: dict(m) for pid, m in metrics.items()},
                             dict(session.active), f"{fps_now:.1f} fps  {len(metrics)} people", session.config.output,
                             self.draw)
        if now - self.last_request <= VIEWER_IDLE_S and now >= self._next_state:
            self._next_state = now + self._state_period
            try:
                self.state = self._build(session, metrics, now, running=True)
            except Exception as exc:  # noqa: BLE001 - the dashboard must never stop the monitor; the page goes stale
                self._failed(exc)
        self.cpu_s += time.thread_time() - cpu

    def _failed(self, exc: Exception) -> None:
        text = f"dashboard state failed: {type(exc).__name__}: {exc} (the run goes on; repeats not logged)"
        if text not in self._failures and len(self._failures) < 100:
            self._failures.add(text)
            if self._log is not None:
                self._log(text)

    def _build(self, session, metrics: dict[int, dict], now: float, running: bool) -> State:
        if self._fps_mark is not None and now > self._fps_mark[0]:
            self._fps = (session.frames - self._fps_mark[1]) / (now - self._fps_mark[0])
        self._fps_mark = (now, session.frames)
        alerts_by_person: dict[int, list[str]] = {}
        for person, rule in session.active:
            alerts_by_person.setdefault(person, []).append(rule)
        self._seq += 1
        data = {
            "camera": self.camera, "run_id": self.run_id, "running": running, "t": round(session.t, 2),
            "wall_time": session.wall_clock().isoformat(timespec="seconds"),
            "people": [person_view(pid, m, alerts_by_person.get(pid, [])) for pid, m in sorted(metrics.items())],
            "alerts": active_alerts(session.active, session.events.recent),
            "alert_counts": session.events.summary().get("raised", {}),
            "exposure": exposure_view(session.exposure, session.wall_clock()),
            "health": health_view(session, self._fps if running else 0.0),
            "view_seq": self.view.seq if self.view is not None else None,
            "face_blur": session.config.output.face_blur,
        }
        return State(self._seq, data)

    def flush_acks(self, session) -> None:
        """Send the queued acknowledgements to the run's sinks and its report (frame thread: the sinks' thread)."""
        while self.acks:
            event = self.acks.popleft()
            if session.sinks is not None:
                session.sinks.emit(event)
            session.events.append(event.to_dict())

    def linger(self, session, stop: threading.Event) -> None:
        """After the source ended: keep serving the final state for `linger_s` (or until `stop`), still taking
        acknowledgements to the sinks."""
        if self.config.linger_s <= 0:
            return
        try:
            self.state = self._build(session, self.view.metrics if self.view is not None else {}, time.monotonic(),
                                     running=False)
        except Exception as exc:  # noqa: BLE001 - as in `publish`: the page goes stale, the run ends as it should
            self._failed(exc)
        end = time.monotonic() + self.config.linger_s
        while not stop.is_set() and time.monotonic() < end:
            self.flush_acks(session)
            stop.wait(0.1)

    def close(self, session) -> None:
        """Stop the server; acknowledgements made until then still reach the sinks."""
        self.server.stop()
        self.flush_acks(session)
