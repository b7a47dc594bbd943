"""The running video source: a `SourceSpec` -> a GStreamer pipeline -> BGR numpy frames, with reconnection.

`GstSource(spec)` runs the pipeline built by `runtime.video.pipelines.source_description` and iterates `Frame`s.
Live sources (CSI, V4L2, RTSP, test pattern) keep only the newest frame (latency never builds up) and reconnect
after an error, an EOS or a stall, following a `ReconnectPolicy`; every outage is recorded as a gap in `stats()`.
File sources deliver every frame (appsink backpressure) and end at EOS.

GStreamer (PyGObject) is imported inside the functions that run pipelines: `import runtime.video.source` works
anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from runtime.video.gst import gst as _gst
from runtime.video.gst import jetson_elements
from runtime.video.pipelines import source_description
from runtime.video.uri import SourceSpec, parse_source

log = logging.getLogger(__name__)


class SourceError(InputError):
    """A source failed at run time: it could not start, a file is unreadable, or reconnection gave up.

    A subclass of InputError so the CLI reports it as one line (the camera or file is the user's input).
    """


class CameraUnavailable(SourceError):
    """A live source could not start, or was lost and not reconnected: a camera that is off, booting or unplugged,
    which may come back by itself. The CLI exits with 3 rather than bad input's 2, so that the service restarts on it
    (jetson/ergo-edge.service: a camera still booting after a power cut must not stop the unit for good)."""
    exit_code = 3


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff between reconnection attempts of a live source.

    The first attempt waits initial_s, each further one factor times longer, capped at max_s. max_attempts: failed
    attempts in a row before giving up (SourceError); None = forever. A delivered frame resets the count.
    """

    initial_s: float = 0.5
    max_s: float = 10.0
    factor: float = 2.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (self.initial_s >= 0 and self.max_s >= self.initial_s and self.factor >= 1):
            raise InputError("reconnect policy needs 0 <= initial_s <= max_s and factor >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise InputError("reconnect policy max_attempts must be at least 1 (or None for forever)")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (1-based)."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    image: HxWx3 uint8 BGR, a copy (owns its memory). index: frames delivered before this one.
    pts_s: stream time in seconds (buffer PTS; across reconnects each session is offset so that time keeps running
    through the gap and always moves forward; a frame delivered twice is skipped). wall_time: time.time() at
    delivery. session: reconnects so far.
    capture_s: when the frame was taken, on a clock that several sources share, named by capture_clock:
      "stream"  files: seconds since the file's first frame (recordings of one take line up frame by frame)
      "local"   live: Unix seconds on this device's clock, from the pipeline clock (capture time for cameras and
                test patterns, arrival time for RTSP)
      "ntp"     RTSP: Unix seconds on the sender's clock, from its RTCP sender reports (GstReferenceTimestampMeta
                timestamp/x-ntp); used once a report arrived and the sender's clock agrees with ours within
                NTP_TRUST_S, else "local"
    Frames compare by identity (eq=False: numpy arrays have no single truth value).
    """

    image: np.ndarray
    index: int
    pts_s: float
    wall_time: float
    session: int
    capture_s: float | None = None
    capture_clock: str | None = None


def _clock(wall: float) -> str:
    """A wall time as local HH:MM:SS.mmm for log lines."""
    return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03d}"


NTP_EPOCH_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
# A sender's NTP capture time further than this from our own clock's arrival time means the camera's clock is not
# synchronised with this device: its times would not compare with the other cameras', so the local clock is used.
NTP_TRUST_S = 1.0
_PULL_NS = 100_000_000  # 0.1 s: how long one try_pull_sample blocks before the bus is looked at again
# Outages kept in full for stats(); older ones only count in its totals, so a camera that drops every few minutes
# for weeks does not grow the process.
KEEP_GAPS = 100


class GstSource:
    """A running source: iterate it for Frames; use it as a context manager (or call close()) to stop it.

        with GstSource(parse_source("rtsp://127.0.0.1:8554/cam")) as source:
            for frame in source:
                ...

    The pipeline starts on __enter__ or on the first frame requested. Live sources: an ERROR, an EOS, or no frame for
    stall_timeout_s tears the pipeline down and rebuilds it per `reconnect`; iteration blocks meanwhile and resumes
    with the next session's frames. The first session must deliver a frame (a wrong URL fails fast with SourceError
    instead of retrying forever); after that, outages are retried. File sources end at EOS; an error raises
    SourceError. Starting waits at most stall_timeout_s (live) or start_timeout_s (file) for the pipeline to play.
    close() may be called from another thread to stop a blocked iteration. `alive_at` (time.monotonic()) is the last
    time its loop ran, also while it waits out an outage: a watchdog tells a hang (a teardown stuck in GStreamer) from
    a camera that is down.
    """

    def __init__(self, source: SourceSpec | str, *, jetson: bool | None = None, stall_timeout_s: float = 5.0,
                 reconnect: ReconnectPolicy | None = None, start_timeout_s: float = 10.0,
                 keep_gaps: int = KEEP_GAPS) -> None:
        self.spec = parse_source(source) if isinstance(source, str) else source
        if not isinstance(self.spec, SourceSpec):
            raise InputError(f"GstSource needs a SourceSpec or a source URI, got {type(source).__name__}")
        if not stall_timeout_s > 0 or not start_timeout_s > 0:
            raise InputError("stall_timeout_s and start_timeout_s must be positive")
        self.jetson = jetson_elements() if jetson is None else bool(jetson)
        self.description = source_description(self.spec, self.jetson)
        self.stall_timeout_s = float(stall_timeout_s)
        self.start_timeout_s = float(start_timeout_s)
        self.reconnect = reconnect or ReconnectPolicy()
        self._closing = threading.Event()
        self.alive_at = time.monotonic()
        self._pipeline: Any = None
        self._sink: Any = None
        self._bus: Any = None
        self._started = False
        self._eos = False
        # counters
        self._frames = 0
        self._reconnects = 0
        self._dropped = 0
        self._errors = 0
        self._warnings = 0
        keep_gaps = check_number(keep_gaps, "keep_gaps", integer=True, minimum=1)
        self._gaps: deque[dict[str, Any]] = deque(maxlen=keep_gaps)  # the latest ended outages
        self._gaps_total = 0
        self._gap_s_total = 0.0  # seconds from the last frame before to the first frame after, over all of them
        self._gap: dict[str, Any] | None = None  # the outage in progress
        self._failed_attempts = 0
        # time bookkeeping
        self._offset = 0.0  # added to this session's buffer PTS
        self._session_first = True
        self._prev_raw: float | None = None
        self._last_pts: float | None = None
        self._last_mono: float | None = None
        self._last_wall: float | None = None
        self._frame_s: float | None = None
        self._first_pts: float | None = None  # files: capture_s counts from the first frame
        self._ntp_caps: Any = None
        self._ntp_distrusted = False

    # -- context manager / iterator ----------------------------------------------------------------------------------

    def __enter__(self) -> GstSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> GstSource:
        return self

    def __del__(self) -> None:  # a forgotten close(): a PLAYING pipeline must not be finalised (GStreamer aborts)
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing left to report to
            self.close()

    def start(self) -> None:
        """Build and play the pipeline (idempotent). Raises SourceError if it cannot start."""
        if self._closing.is_set():
            raise SourceError(f"{self.spec.label()}: source is closed")
        if not self._started:
            self._started = True
            try:
                self._start_session()
            except BaseException:
                self.close()  # a source that never started stays closed: later next() calls stop
                raise

    def close(self) -> None:
        """Stop the pipeline (state NULL). Safe to call twice and from another thread."""
        self._closing.set()
        self._teardown()

    def __next__(self) -> Frame:
        if self._closing.is_set():
            raise StopIteration
        self.start()
        waiting_since = time.monotonic()
        while True:
            self.alive_at = time.monotonic()
            if self._closing.is_set():  # close() from another thread: make sure nothing started since stays up
                self._teardown()
                raise StopIteration
            if self._pipeline is None:  # in an outage: wait, then try to reconnect
                self._reconnect_once()
                waiting_since = time.monotonic()
                continue
            sink = self._sink
            if sink is None:
                continue
            problem = self._poll_bus()
            if problem is not None and problem[0] == "error":
                self._session_failed(*problem)
                continue
            sample = sink.try_pull_sample(_PULL_NS)
            if sample is not None:
                frame = self._frame(sample)
                if frame is not None:
                    return frame
                continue
            if self._closing.is_set():
                continue
            if sink.is_eos() or self._eos:
                if not self.spec.live:
                    self.close()
                    raise StopIteration
                self._session_failed("eos", "end of stream")
            elif time.monotonic() - waiting_since > self.stall_timeout_s:
                self._session_failed("stall", f"no frame for {self.stall_timeout_s:g} s")

    # -- state ------------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters: frames, reconnects, dropped (estimated from PTS jumps), errors, warnings, reconnect attempts
        failed in a row, and gaps: one dict per outage with start (wall time of the last frame before it), detected
        (when it was noticed), end (wall time of the first frame after it; None while ongoing), reason
        ("error", "eos", "stall"), detail (the message) and attempts. Only the latest `keep_gaps` ended outages
        (and the one in progress) are listed; gaps_total counts every outage and gap_s_total sums the ended ones."""
        gaps = [dict(g) for g in self._gaps]
        if self._gap is not None:
            gaps.append(dict(self._gap))
        return {"frames": self._frames, "reconnects": self._reconnects, "dropped": self._dropped,
                "errors": self._errors, "warnings": self._warnings, "failed_attempts": self._failed_attempts,
                "gaps": gaps, "gaps_total": self._gaps_total + (self._gap is not None),
                "gap_s_total": self._gap_s_total}

    def stream_time_s(self) -> float | None:
        """The pipeline clock's current running time on the Frame.pts_s time line (None when not playing).

        For live sources `stream_time_s() - frame.pts_s` is how old a frame is, i.e. the latency queued up.
        """
        pipeline = self._pipeline
        if pipeline is None:
            return None
        clock = pipeline.get_clock()
        if clock is None:
            return None
        return (clock.get_time() - pipeline.get_base_time()) / 1e9 + self._offset

    # -- sessions ---------------------------------------------------------------------------------------------------

    def _start_session(self) -> None:
        ns = _gst()
        Gst, GLib = ns.Gst, ns.GLib
        label = self.spec.label()
        try:
            pipeline = Gst.parse_launch(self.description)
        except GLib.Error as exc:
            raise SourceError(f"{label}: cannot build the pipeline: {self.spec.scrub(exc.message)}") from None
        self._pipeline, self._bus, self._eos = pipeline, pipeline.get_bus(), False
        self._sink = pipeline.get_by_name("sink")
        self._session_first, self._prev_raw = True, None
        if self.spec.kind == "rtsp":
            _reference_timestamps(pipeline)
        try:
            if self._sink is None or not isinstance(self._sink, ns.GstApp.AppSink):
                raise SourceError(f"{label}: the pipeline has no appsink named 'sink'")
            result = pipeline.set_state(Gst.State.PLAYING)
            if result == Gst.StateChangeReturn.FAILURE:
                raise self._failure(f"{label}: cannot start: {self._error_text() or 'state change to PLAYING failed'}")
            if result == Gst.StateChangeReturn.ASYNC:
                self._wait_playing(pipeline)
        except BaseException:
            self._teardown()
            raise

    def _wait_playing(self, pipeline: Any) -> None:
        """Wait for an ASYNC state change (preroll) to finish, watching the bus for the error that ends it."""
        Gst = _gst().Gst
        timeout = self.stall_timeout_s if self.spec.live else self.start_timeout_s
        deadline = time.monotonic() + timeout
        while not self._closing.is_set():
            self.alive_at = time.monotonic()
            result, _state, _pending = pipeline.get_state(50 * Gst.MSECOND)
            if result in (Gst.StateChangeReturn.SUCCESS, Gst.StateChangeReturn.NO_PREROLL):
                return
            problem = self._poll_bus()
            if result == Gst.StateChangeReturn.FAILURE or (problem is not None and problem[0] == "error"):
                detail = problem[1] if problem is not None else (self._error_text() or "state change failed")
                raise self._failure(f"{self.spec.label()}: cannot start: {detail}")
            if self._eos:  # e.g. an empty file: let the iterator see the EOS
                return
            if time.monotonic() > deadline:
                self._errors += 1
                # decodebin can swallow a demuxer's error while it is still plugging it (a GStreamer race): then
                # nothing is reported and this timeout is what ends the wait.
                raise self._failure(f"{self.spec.label()}: did not start playing within {timeout:g} s "
                                  f"(no error reported{'' if self.spec.live else '; is it a playable video file?'})")

    def _wait_alive(self, seconds: float) -> bool:
        """Wait `seconds` (True at once when closed), keeping `alive_at` current."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            self.alive_at = time.monotonic()
            if self._closing.wait(min(left, 1.0)):
                return True
        return self._closing.is_set()

    def _failure(self, message: str) -> SourceError:
        return CameraUnavailable(message) if self.spec.live else SourceError(message)

    def _teardown(self) -> None:
        pipeline, self._pipeline, self._sink, self._bus = self._pipeline, None, None, None
        if pipeline is not None:
            pipeline.set_state(_gst().Gst.State.NULL)  # synchronous for NULL; releases devices and sockets

    def _poll_bus(self, wait_s: float = 0.0) -> tuple[str, str] | None:
        """The one bus handler: drain ERROR/EOS/WARNING without a main loop. Returns ("error", text) for the first
        error; EOS sets a flag (the iterator drains queued frames first); warnings are logged and counted.
        wait_s: wait up to this long for the first message (an error posted from a streaming thread can reach the
        bus a moment after the state change that it made fail has returned)."""
        bus = self._bus
        if bus is None:
            return None
        Gst = _gst().Gst
        mask = Gst.MessageType.ERROR | Gst.MessageType.EOS | Gst.MessageType.WARNING
        found = None
        timeout = int(wait_s * Gst.SECOND)
        while True:
            message = bus.timed_pop_filtered(timeout, mask)
            if message is None:
                return found
            timeout = 0
            if message.type == Gst.MessageType.ERROR:
                self._errors += 1
                if found is None:
                    found = ("error", self._message_text(message))
            elif message.type == Gst.MessageType.EOS:
                self._eos = True
            else:
                self._warnings += 1
                log.warning("%s: %s", self.spec.label(), self._message_text(message))

    def _error_text(self) -> str | None:
        """After a failed state change: the error that explains it (waiting up to 1 s for it to arrive)."""
        deadline = time.monotonic() + 1.0
        while True:
            problem = self._poll_bus(wait_s=max(0.0, deadline - time.monotonic()))
            if problem is not None or time.monotonic() >= deadline:
                return problem[1] if problem else None

    def _message_text(self, message: Any) -> str:
        """An ERROR or WARNING as one line, scrubbed: an element may quote its location, credentials included."""
        Gst = _gst().Gst
        error, _debug = message.parse_error() if message.type == Gst.MessageType.ERROR else message.parse_warning()
        source = message.src.get_name() if message.src is not None else "pipeline"
        text = " ".join((error.message or "unknown error").split())
        return self.spec.scrub(f"{text} (from element {source})")

    def _session_failed(self, reason: str, detail: str) -> None:
        """An ERROR, EOS or stall: raise for files and for a live source that never delivered; else start an outage."""
        self._teardown()
        label = self.spec.label()
        if not self.spec.live:
            self.close()  # the iteration is over: later next() calls stop
            raise SourceError(f"{label}: {detail}")
        if self._frames == 0:
            self.close()
            raise CameraUnavailable(f"{label}: {detail} (before the first frame; not retrying)")
        if self._gap is None:
            now = time.time()
            self._gap = {"start": self._last_wall, "detected": now, "end": None, "reason": reason,
                         "detail": detail, "attempts": 0}
            log.warning("%s: stream lost after the frame at %s (%s: %s); reconnecting", label,
                        _clock(self._last_wall or now), reason, detail)
        else:  # a reconnection attempt played, then failed before delivering a frame
            self._failed_attempts += 1
            self._gap["last_failure"] = detail

    def _reconnect_once(self) -> None:
        if self._gap is None:  # cannot happen: every teardown of a live session opens a gap or closes the source
            raise RuntimeError("GstSource: no pipeline and no outage in progress")
        attempt = self._failed_attempts + 1
        if self.reconnect.max_attempts is not None and attempt > self.reconnect.max_attempts:
            gap, self._gap = self._gap, None
            self._end_gap(gap)
            self.close()
            raise CameraUnavailable(f"{self.spec.label()}: gave up after {self._failed_attempts} reconnection attempts "
                              f"({gap.get('last_failure', gap['detail'])})")
        if self._wait_alive(self.reconnect.delay(attempt)):
            return
        self._gap["attempts"] += 1
        try:
            self._start_session()
        except SourceError as exc:  # its bus ERROR, if any, was counted in _poll_bus
            self._failed_attempts += 1
            self._gap["last_failure"] = str(exc)
            log.info("reconnection attempt %d failed: %s", attempt, exc)

    def _end_gap(self, gap: dict[str, Any]) -> None:
        self._gaps.append(gap)
        self._gaps_total += 1
        if gap["end"] is not None:
            self._gap_s_total += gap["end"] - (gap["start"] or gap["detected"])

    # -- frames -----------------------------------------------------------------------------------------------------

    def _frame(self, sample: Any) -> Frame | None:
        ns = _gst()
        Gst = ns.Gst
        caps = sample.get_caps()
        buffer = sample.get_buffer()
        if caps is None or buffer is None:
            raise SourceError(f"{self.spec.label()}: the appsink delivered a sample without caps or buffer")
        info = ns.GstVideo.VideoInfo.new_from_caps(caps)
        if info is None or info.finfo.format != ns.GstVideo.VideoFormat.BGR:
            raise SourceError(f"{self.spec.label()}: unexpected caps {caps.to_string()}")
        width, height = info.width, info.height
        meta = ns.GstVideo.buffer_get_video_meta(buffer)
        stride, offset = (meta.stride[0], meta.offset[0]) if meta is not None else (info.stride[0], 0)
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if not ok:
            raise SourceError(f"{self.spec.label()}: cannot map a frame buffer")
        try:
            data = np.frombuffer(mapped.data, dtype=np.uint8)
            needed = offset + stride * (height - 1) + width * 3
            if data.size < needed:
                raise SourceError(f"{self.spec.label()}: frame buffer of {data.size} bytes is smaller than "
                                  f"{width}x{height} BGR with stride {stride}")
            rows = np.lib.stride_tricks.as_strided(data[offset:], shape=(height, width * 3), strides=(stride, 1))
            image = rows.reshape(height, width, 3).copy()
            del data, rows
        finally:
            buffer.unmap(mapped)

        now_mono, now_wall = time.monotonic(), time.time()
        raw = buffer.pts / 1e9 if buffer.pts != Gst.CLOCK_TIME_NONE else None
        if self._session_first:
            self._session_first = False
            self._frame_s = info.fps_d / info.fps_n if info.fps_n > 0 else None
            if self._last_pts is not None:  # a new session: continue the time line through the gap
                self._offset = self._last_pts + (now_mono - self._last_mono) - (raw or 0.0)
            if self._gap is not None:
                gap, self._gap = self._gap, None
                gap["end"] = now_wall
                self._end_gap(gap)
                self._reconnects += 1
                self._failed_attempts = 0
                log.warning("%s: stream resumed after %.2f s (%d attempts)", self.spec.label(),
                            now_wall - (gap["start"] or gap["detected"]), gap["attempts"])
        elif raw is not None and self._prev_raw is not None and self._frame_s:
            step = raw - self._prev_raw
            if step > 1.5 * self._frame_s:
                self._dropped += round(step / self._frame_s) - 1
        if raw is None:  # no timestamp: follow the monotonic clock
            pts = (self._last_pts or 0.0) + (now_mono - self._last_mono if self._last_mono is not None else 0.0)
        else:
            pts = raw + self._offset
        if self._last_pts is not None and pts <= self._last_pts:
            if raw is not None and raw == self._prev_raw:
                return None  # the same frame again (seen from RTSP cameras): the pose filters need time to advance
            # A source that restarted its timestamps mid-session: the time line goes on one frame later.
            step = self._frame_s or 0.001
            self._offset += self._last_pts + step - pts
            pts = self._last_pts + step
        self._prev_raw = raw
        self._last_pts, self._last_mono, self._last_wall = pts, now_mono, now_wall
        capture_s, capture_clock = self._capture_time(buffer, pts, now_wall)
        frame = Frame(image=image, index=self._frames, pts_s=pts, wall_time=now_wall, session=self._reconnects,
                      capture_s=capture_s, capture_clock=capture_clock)
        self._frames += 1
        return frame

    def _capture_time(self, buffer: Any, pts: float, now_wall: float) -> tuple[float, str]:
        """Frame.capture_s and capture_clock (see Frame)."""
        if not self.spec.live:
            if self._first_pts is None:
                self._first_pts = pts
            return pts - self._first_pts, "stream"
        Gst = _gst().Gst
        local = now_wall
        pipeline = self._pipeline
        clock = pipeline.get_clock() if pipeline is not None else None
        if clock is not None and buffer.pts != Gst.CLOCK_TIME_NONE:
            # the frame's age on the pipeline clock (base time + PTS = when it was taken or, for RTSP, arrived)
            local = now_wall - (clock.get_time() - pipeline.get_base_time() - buffer.pts) / 1e9
        if self.spec.kind != "rtsp":
            return local, "local"
        if self._ntp_caps is None:
            self._ntp_caps = Gst.Caps.from_string("timestamp/x-ntp")
        meta = buffer.get_reference_timestamp_meta(self._ntp_caps)
        if meta is None:
            return local, "local"
        ntp = meta.timestamp / 1e9 - NTP_EPOCH_OFFSET_S
        if abs(ntp - local) > NTP_TRUST_S:
            if not self._ntp_distrusted:  # said once: a clock off by seconds stays off
                self._ntp_distrusted = True
                log.warning("%s: the camera's clock is %+.1f s off this device's; using the arrival time (set the "
                            "camera's NTP server to this device's)", self.spec.label(), ntp - local)
            return local, "local"
        return ntp, "ntp"


def _reference_timestamps(pipeline: Any) -> None:
    """Ask rtspsrc to put the sender's NTP time (from RTCP sender reports) on each buffer as a
    GstReferenceTimestampMeta; it rides through depayloader, decoder and videoconvert to the appsink."""
    for element in pipeline.iterate_elements():
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtspsrc" and \
                element.find_property("add-reference-timestamp-meta") is not None:
            element.set_property("add-reference-timestamp-meta", True)
