"""Several cameras of one rig read together: one `FrameSet` per instant, one frame per camera taken within a tolerance.

`SyncedSources({"left": spec, "right": spec})` runs one `GstSource` per camera, each in its own thread (GStreamer
releases the GIL while it decodes) into a small queue, and matches the frames by `Frame.capture_s`:
- files: seconds since each file's first frame (recordings of one take line up frame by frame); the readers wait
  for the consumer, so every frame is seen, and the iteration ends when every file has ended.
- live cameras: Unix seconds, from the sender's NTP clock for RTSP cameras that send RTCP sender reports, else from
  this device's pipeline clock (see `Frame`). A slow consumer never builds latency: frames older than the newest
  instant every camera has reached are dropped (counted as late). The iteration runs until close().
A set is built around the latest of the cameras' oldest frames (the pivot): frames of any camera older than the pivot
minus the tolerance can never be within it of that camera's frames any more and are dropped (counted as unmatched);
from each camera the frame closest to the pivot is taken (waiting for the next frame when it is predicted to be
closer), all within the tolerance of one another. A live camera
without a frame for missing_after_s while others deliver is left out of the sets and comes back with its next frame.
Files and live cameras cannot be mixed: their clocks do not compare.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from edge.config import check_number
from edge.errors import InputError
from runtime.video.source import Frame, GstSource, ReconnectPolicy, SourceError
from runtime.video.uri import SourceSpec, parse_source

log = logging.getLogger(__name__)

_WAKE_S = 0.05  # the consumer looks at missing cameras and close() at least this often
_KEEP_SKEWS = 1000  # recent set skews kept for the median in stats()
_EPS_S = 1e-6  # slack on time comparisons: frames exactly one tolerance apart must not fall to rounding


@dataclass(frozen=True, eq=False)
class FrameSet:
    """One instant seen by the rig.

    frames: camera name -> its frame for this instant, in the order the cameras were given (a camera that is down
    or left out is absent). t: the instant's stream time in seconds, the mean capture time of its frames from the
    first set's (0 for the first set; always increases). index: sets delivered before this one. skew_s: largest minus
    smallest capture time among `frames`.
    """

    frames: dict[str, Frame]
    t: float
    index: int
    skew_s: float


class _Camera:
    """One camera's reader state; every field is guarded by SyncedSources._cond."""

    def __init__(self, name: str, source: GstSource) -> None:
        self.name, self.source = name, source
        self.queue: deque[Frame] = deque()
        self.intervals: deque[float] = deque(maxlen=15)  # recent capture time steps, for the frame period
        self.last_capture: float | None = None
        self.last_arrival: float | None = None  # time.monotonic() of the latest frame
        self.ended = False
        self.error: BaseException | None = None
        self.missing_since: float | None = None  # left out of the sets since (monotonic)
        self.missing_s = 0.0
        self.unmatched = 0
        self.late = 0

    def period(self) -> float | None:
        if self.intervals:
            return statistics.median(self.intervals)
        fps = self.source.spec.fps
        return 1.0 / fps if fps else None


def _capture(frame: Frame) -> float:
    return frame.capture_s if frame.capture_s is not None else frame.wall_time


class SyncedSources:
    """Synchronised frames from several sources: iterate for FrameSets; close() (from any thread) stops every reader.

        with SyncedSources({"cam1": parse_source("rtsp://..."), "cam2": parse_source("rtsp://...")}) as rig:
            for frame_set in rig:
                ...

    tolerance_s: the largest skew of a set, i.e. capture time difference between two of its frames (None: half the
    slowest camera's frame period, measured). stall_timeout_s and reconnect go to every GstSource. missing_after_s: a
    live camera silent this long while others deliver is left out. queue_frames: frames held per camera.
    A camera that fails before its first frame, or any file error, raises SourceError from the iteration; a live
    camera that gives up reconnecting later is left out for good (and the iteration raises when none is left).
    """

    def __init__(self, specs: dict[str, SourceSpec | str], *, tolerance_s: float | None = None,
                 stall_timeout_s: float = 5.0, reconnect: ReconnectPolicy | None = None,
                 missing_after_s: float = 1.0, queue_frames: int = 4, jetson: bool | None = None) -> None:
        specs = _check_specs(specs)
        self.tolerance_s = None if tolerance_s is None else check_number(tolerance_s, "tolerance_s", positive=True)
        self.missing_after_s = check_number(missing_after_s, "missing_after_s", positive=True)
        self._depth = check_number(queue_frames, "queue_frames", integer=True, minimum=2, maximum=64)
        self.live = next(iter(specs.values())).live
        self._cams = [_Camera(name, GstSource(spec, jetson=jetson, stall_timeout_s=stall_timeout_s,
                                              reconnect=reconnect)) for name, spec in specs.items()]
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self.alive_at = time.monotonic()  # as GstSource's: the consumer's loop ran (a stuck camera is left out)
        self._threads: list[threading.Thread] = []
        self._sets = 0
        self._origin: float | None = None
        self._last_t: float | None = None
        self._skews: deque[float] = deque(maxlen=_KEEP_SKEWS)
        self._skew_max = 0.0
        self._tolerance_used: float | None = None

    # -- context manager / iterator ----------------------------------------------------------------------------------

    def __enter__(self) -> SyncedSources:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> SyncedSources:
        return self

    def start(self) -> None:
        """Start one reader thread per camera (idempotent)."""
        if self._closing.is_set():
            raise SourceError("synchronised sources are closed")
        if not self._threads:
            self._threads = [threading.Thread(target=self._read, args=(cam,), name=f"source-{cam.name}",
                                              daemon=True) for cam in self._cams]
            for thread in self._threads:
                thread.start()

    def close(self) -> None:
        """Stop every reader and end the iteration. Safe to call twice and from any thread."""
        self._closing.set()
        for cam in self._cams:
            cam.source.close()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10.0)

    def __next__(self) -> FrameSet:
        if self._closing.is_set():
            raise StopIteration
        self.start()
        try:
            frame_set = self._next_set()
        except BaseException:  # a camera's error: nothing may keep running behind it
            self.close()
            raise
        if frame_set is None:
            self.close()
            raise StopIteration
        return frame_set

    def _next_set(self) -> FrameSet | None:
        """Wait for the next set; None when every file ended or close() was called."""
        with self._cond:
            while not self._closing.is_set():
                self.alive_at = time.monotonic()
                self._check_failures()
                if self.live:
                    self._update_presence(time.monotonic())
                cams = [c for c in self._cams if c.missing_since is None and not (c.ended and not c.queue)]
                if not cams and all(c.ended for c in self._cams):
                    return None
                frames = self._match(cams) if cams else None
                if frames is not None:
                    return self._frame_set(frames)
                self._cond.notify_all()  # file readers waiting for the room that dropped frames made
                self._cond.wait(_WAKE_S)
        return None

    # -- readers -----------------------------------------------------------------------------------------------------

    def _read(self, cam: _Camera) -> None:
        """A reader thread: frames from one GstSource into its camera's queue."""
        try:
            for frame in cam.source:
                with self._cond:
                    if not self.live:  # files: wait for room, so every frame is seen
                        while len(cam.queue) >= self._depth and not self._closing.is_set():
                            self._cond.wait(_WAKE_S)
                    elif len(cam.queue) >= self._depth:  # live: the oldest frame goes
                        cam.queue.popleft()
                        cam.late += 1
                    t = _capture(frame)
                    if cam.last_capture is not None and t > cam.last_capture:
                        cam.intervals.append(t - cam.last_capture)
                    cam.last_capture, cam.last_arrival = t, time.monotonic()
                    cam.queue.append(frame)
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - handed to the consumer thread, which raises it (_check_failures)
            with self._cond:
                cam.error = exc
        finally:
            with self._cond:
                cam.ended = True
                self._cond.notify_all()

    def _check_failures(self) -> None:
        """Raise a camera's error when the rig cannot go on without it: it never started, a file, the last camera,
        or not a SourceError (a fault here, not the camera's). Else leave the camera out for good."""
        failed = [c for c in self._cams if c.error is not None]
        for cam in failed:
            if (cam.last_arrival is None or not self.live or len(failed) == len(self._cams)
                    or not isinstance(cam.error, InputError)):
                raise cam.error
            if cam.missing_since is None:
                cam.missing_since = time.monotonic()
                log.error("camera %s is lost for good (%s); the sets go on without it", cam.name, cam.error)

    def _update_presence(self, now: float) -> None:
        """Leave out a live camera silent for missing_after_s while another delivers; take it back with a frame."""
        delivering = [c for c in self._cams if c.last_arrival is not None and c.error is None
                      and now - c.last_arrival <= self.missing_after_s]
        for cam in self._cams:
            if cam.last_arrival is None or cam.error is not None:
                continue  # not started yet (GstSource fails fast if it cannot) or lost for good
            silent = now - cam.last_arrival > self.missing_after_s
            if cam.missing_since is None and silent and delivering:
                cam.missing_since = now
                cam.late += len(cam.queue)
                cam.queue.clear()
                log.warning("camera %s: no frame for %.1f s; the sets go on without it", cam.name,
                            now - cam.last_arrival)
            elif cam.missing_since is not None and not silent:
                cam.missing_s += now - cam.missing_since
                log.warning("camera %s is back after %.1f s", cam.name, now - cam.missing_since)
                cam.missing_since = None

    # -- matching ----------------------------------------------------------------------------------------------------

    def _tolerance(self, cams: list[_Camera]) -> float | None:
        if self.tolerance_s is not None:
            return self.tolerance_s
        periods = [c.period() for c in cams]
        if any(p is None for p in periods):
            # a period is measured from a camera's second frame: wait for it unless the camera cannot give one
            if any(p is None and not c.ended for p, c in zip(periods, cams)):
                return None
            periods = [p for p in periods if p is not None] or [1 / 30]
        return max(periods) / 2

    def _match(self, cams: list[_Camera]) -> dict[str, Frame] | None:
        """One frame per camera for the next instant, or None to wait for more frames (called under the lock)."""
        if any(not c.queue for c in cams):
            return None
        tol = self._tolerance(cams)
        if tol is None:
            return None
        self._tolerance_used = tol
        if not self._drop_unmatched(cams, tol):
            return None
        if self.live:  # drop what is older than the newest instant every camera has reached: no latency builds up
            horizon = min(_capture(c.queue[-1]) for c in cams)
            for cam in cams:
                while _capture(cam.queue[0]) < horizon - tol - _EPS_S:
                    cam.queue.popleft()
                    cam.late += 1
            if not self._drop_unmatched(cams, tol):
                return None
        # Every head now lies in [pivot - tol, pivot]; a set takes from each camera the frame closest to the pivot
        # within [oldest head, oldest head + tol], so its skew never exceeds tol.
        heads = [_capture(c.queue[0]) for c in cams]
        pivot, last = max(heads), min(heads) + tol + _EPS_S
        chosen: dict[str, int] = {}
        for cam in cams:
            times = [_capture(f) for f in cam.queue]
            best = min((i for i, t in enumerate(times) if t <= last), key=lambda i: abs(times[i] - pivot))
            period = cam.period()
            if (times[-1] < pivot and not cam.ended and len(cam.queue) < self._depth and period is not None
                    and times[-1] + period <= last and abs(times[-1] + period - pivot) < abs(times[best] - pivot)):
                return None  # this camera's next frame will be closer to the pivot
            chosen[cam.name] = best
        frames: dict[str, Frame] = {}
        for cam in cams:
            for _ in range(chosen[cam.name]):
                cam.queue.popleft()
                cam.unmatched += 1
            frames[cam.name] = cam.queue.popleft()
        self._cond.notify_all()  # file readers waiting for room
        return frames

    @staticmethod
    def _drop_unmatched(cams: list[_Camera], tol: float) -> bool:
        """Drop the frames older than pivot - tol (the pivot: the latest of the cameras' oldest frames): no frame of
        the pivot's camera can be within tol of them any more. False when a camera's queue ran empty."""
        while all(c.queue for c in cams):
            pivot = max(_capture(c.queue[0]) for c in cams)
            dropped = False
            for cam in cams:
                while cam.queue and _capture(cam.queue[0]) < pivot - tol - _EPS_S:
                    cam.queue.popleft()
                    cam.unmatched += 1
                    dropped = True
            if not dropped:
                return True
        return False

    def _frame_set(self, frames: dict[str, Frame]) -> FrameSet:
        times = [_capture(f) for f in frames.values()]
        mean = sum(times) / len(times)
        if self._origin is None:
            self._origin = mean
        t = mean - self._origin
        if self._last_t is not None and t <= self._last_t:  # e.g. an RTSP camera switching to its NTP clock
            t = self._last_t + 1e-3
        self._last_t = t
        skew = max(times) - min(times)
        self._skews.append(skew)
        self._skew_max = max(self._skew_max, skew)
        frame_set = FrameSet(frames=frames, t=t, index=self._sets, skew_s=skew)
        self._sets += 1
        return frame_set

    # -- state -------------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """sets, tolerance_s (the one last used), skew_median_s / skew_max_s (median over the latest sets, max over
        all), and per camera its GstSource.stats() plus: unmatched (frames that fitted no set), late (live frames
        dropped so that latency does not build up), missing (left out now), missing_s (seconds left out of the sets,
        the current outage included) and period_s (the measured frame period)."""
        now = time.monotonic()
        with self._cond:
            cameras = {}
            for cam in self._cams:
                ongoing = now - cam.missing_since if cam.missing_since is not None else 0.0
                cameras[cam.name] = {**cam.source.stats(), "unmatched": cam.unmatched, "late": cam.late,
                                     "missing": cam.missing_since is not None, "missing_s": cam.missing_s + ongoing,
                                     "period_s": cam.period()}
            skews = list(self._skews)
            return {"sets": self._sets, "tolerance_s": self._tolerance_used,
                    "skew_median_s": statistics.median(skews) if skews else None,
                    "skew_max_s": self._skew_max if skews else None, "cameras": cameras}


def _check_specs(specs: Any) -> dict[str, SourceSpec]:
    """Camera name -> SourceSpec (URIs parsed); one line for an empty rig, a bad name, a camera given twice, or
    files mixed with live cameras."""
    if not isinstance(specs, dict) or not specs:
        raise InputError("synchronised sources need at least one camera: a mapping of camera name to source")
    out: dict[str, SourceSpec] = {}
    seen: dict[tuple[str, str], str] = {}
    for name, spec in specs.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"camera names must be non-empty strings, got {name!r}")
        spec = parse_source(spec) if isinstance(spec, str) else spec
        if not isinstance(spec, SourceSpec):
            raise InputError(f"camera {name}: expected a SourceSpec or a source URI, got {type(spec).__name__}")
        key = (spec.kind, spec.location)
        if spec.kind != "test" and key in seen:  # each test pattern is its own generator; a device is one camera
            raise InputError(f"cameras {seen[key]} and {name} are the same source {spec.label()}")
        seen[key] = name
        out[name] = spec
    if len({spec.live for spec in out.values()}) > 1:
        raise InputError("cannot synchronise files with live cameras: their clocks do not compare")
    return out

