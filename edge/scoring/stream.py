"""Scoring one frame at a time for the live runtime: per-person state, causal windows, the same mapping as the
offline scorer (`edge.scoring.methods.method_columns`), so live and offline scores agree.

`PersonStream.update(time_s, joints)` returns the frame's metrics: every joint angle, the REBA/RULA columns,
activity flags, `lifts_per_min`, and L5/S1 load; `score_people(streams, time_s, joints)` does it for everyone in a
frame at once (what `ergoedge run` calls), the same numbers. Windows are in seconds of stream time (frames may be
dropped live, so frame counts would lie):
- static: each body-part angle within `static_range_deg` over the last `static_hold_s` (all samples seen);
- repeated: more than `repetitions_per_min` cycles of `repetition_amplitude_deg` in the last 60 s, on the angle
  smoothed by a trailing mean of `repetition_smoothing_s`;
- rapid: an angle range of `rapid_range_deg` within the last `rapid_window_s`;
- lifts_per_min: trunk-flexion cycles of at least `lift_amplitude_deg` (bend and straighten) in the last 60 s;
- L5/S1: inverse dynamics over the last `l5s1_window_s` of points (filtered, differentiated), reported for the
  frame `l5s1_lag_s` back from the newest, where the zero-phase filter has data on both sides, at most
  `l5s1_rate_hz` times a second (each person's refreshes shifted by their own phase, so that several people do not
  all refresh on one frame). So L5/S1 in the metrics of frame t describes t - lag (about a quarter second); every
  other metric describes t itself.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.ergonomics.activity import ARM_SIGNALS, BODY_SIGNALS, FLAGS
from edge.ergonomics.l5s1 import l5s1_load
from edge.ergonomics.reba import score_ranges as reba_score_ranges
from edge.ergonomics.rula import score_ranges as rula_score_ranges
from edge.kinematics import ANGLE_NAMES, ANGLE_RANGES, angles_from_points
from edge.scoring.methods import method_columns
from edge.scoring.methods import ScoreConfig
from edge.skeletons import Layout, to_canonical

_SIGNALS = BODY_SIGNALS + ARM_SIGNALS


@dataclass(frozen=True)
class StreamConfig:
    lift_amplitude_deg: float = 30.0
    l5s1_window_s: float = 1.0
    l5s1_lag_s: float = 0.25
    # Inverse dynamics over the window runs at most this often; frames in between repeat the last result.
    l5s1_rate_hz: float = 10.0
    # Frames kept per person: enough for the longest window at the highest frame rate expected.
    max_rate_hz: float = 120.0


class _CycleCounter:
    """Causal cycle detection on one signal (rise by `amplitude` from a trough, then fall by as much): the same
    rule as `edge.signals.cycle_frames`, fed one sample at a time."""

    def __init__(self, amplitude: float):
        self.amplitude = amplitude
        self.low = self.high = None
        self.rising_done = False

    def feed(self, v: float) -> bool:
        if v != v:  # NaN: skipped, as offline
            return False
        if self.low is None:
            self.low = self.high = v
            return False
        if not self.rising_done:
            self.low = min(self.low, v)
            if v - self.low >= self.amplitude:
                self.rising_done, self.high = True, v
            return False
        self.high = max(self.high, v)
        if self.high - v >= self.amplitude:
            self.rising_done, self.low = False, v
            return True
        return False


# The L5/S1 metrics of a frame (computed on a trailing window, see the module docstring).
L5S1_METRICS = ("l5s1_moment_nm", "l5s1_moment_extension_nm", "l5s1_compression_n")


@functools.lru_cache(maxsize=1)
def metric_names() -> tuple[str, ...]:
    """Every metric `PersonStream.update` returns, sorted: what an alert rule may name."""
    angles = {name: np.array([np.nan]) for name in ANGLE_NAMES}
    flags = {name: np.array([False]) for name in FLAGS}
    return tuple(sorted({*angles, *method_columns(angles, flags, ScoreConfig()), "lifts_per_min", *L5S1_METRICS}))


@functools.lru_cache(maxsize=1)
def metric_ranges() -> dict[str, tuple[float, float]]:
    """Every metric's possible values (lowest, highest; inclusive, +-inf where unbounded), from where each is made:
    angles from `edge.kinematics.ANGLE_RANGES`, REBA/RULA items from their engines' `score_ranges` (a column
    `reba_<item>` or `reba_<item>_<side>`), activity flags 0..1, lifts a minute and the L5/S1 moment's size and
    compression >= 0 (axial force plus the extensor's pull: > 500 N in any posture held; below 0, tension at the
    disc, only in a fall or on keypoints jumping centimetres a frame), the signed extensor moment unbounded."""
    scores = {"reba": reba_score_ranges(), "rula": rula_score_ranges()}
    inf = float("inf")
    ranges: dict[str, tuple[float, float]] = {**ANGLE_RANGES, **dict.fromkeys(("static", "repeated", "rapid_change"),
                                                                            (0.0, 1.0))}
    ranges.update({"lifts_per_min": (0.0, inf), "l5s1_moment_nm": (0.0, inf), "l5s1_compression_n": (0.0, inf),
                   "l5s1_moment_extension_nm": (-inf, inf)})
    for name in metric_names():
        method, _, item = name.partition("_")
        if method in scores:
            item = item.removesuffix("_left").removesuffix("_right")
            ranges[name] = tuple(float(v) for v in scores[method][item])
    return {name: ranges[name] for name in metric_names()}


def describe_range(low: float, high: float) -> str:
    """A metric's range for people: "1..15", ">= 0", "-180..180" or "any number"."""
    if math.isinf(low) and math.isinf(high):
        return "any number"
    if math.isinf(high):
        return f">= {low:g}"
    if math.isinf(low):
        return f"<= {high:g}"
    return f"{low:g}..{high:g}"


def l5s1_phase(index: int) -> float:
    """The L5/S1 refresh phase for the `index`-th person a run scores: multiples of the golden ratio's fraction,
    which spread any number of consecutive people evenly over the refresh period."""
    return index * (math.sqrt(5.0) - 1.0) / 2.0 % 1.0


class PersonStream:
    """Live scores for one tracked person.

    `l5s1_phase` (0 <= phase < 1) shifts this person's L5/S1 refreshes by that fraction of the refresh period (the
    first as soon as there is a result, the second that fraction of a period later, or a whole period at phase 0,
    then one every period), so that people first seen together do not all pay for inverse dynamics on the same
    frames (`l5s1_phase(i)` for the i-th person)."""

    def __init__(self, layout: Layout, up: np.ndarray, config: ScoreConfig = ScoreConfig(),
                 stream: StreamConfig = StreamConfig(), l5s1_phase: float = 0.0):
        if not 0.0 <= l5s1_phase < 1.0:
            raise ValueError(f"PersonStream: l5s1_phase must be in [0, 1), not {l5s1_phase}")
        self.layout = layout
        self.up = np.asarray(up, dtype=np.float64)
        self.config = config
        self.stream = stream
        self.l5s1_phase = l5s1_phase
        act = config.activity
        horizon = max(act.static_hold_s, act.repetition_window_s, 60.0)
        # A ring buffer of the angle signals: stream time and values, oldest overwritten. Each sample is written
        # twice, at its slot and `capacity` after it, so that the newest `capacity` samples are one contiguous slice
        # and a window is a view, not a copy; the signals are rows, so a window's max and min run along contiguous
        # memory (across the columns of a (frames, 6) array numpy took 20 times as long: 0.1-0.2 ms a person and
        # frame for the default 60 s static hold at 30 fps).
        self._capacity = int(horizon * stream.max_rate_hz) + 1
        self._ring_t = np.full(2 * self._capacity, -np.inf)
        self._ring_v = np.full((len(_SIGNALS), 2 * self._capacity), np.nan)
        self._ring_i = 0
        self._first_t: float | None = None
        self._smooth: dict[str, deque] = {n: deque() for n in _SIGNALS}
        self._smooth_sum = dict.fromkeys(_SIGNALS, 0.0)
        self._cycles = {n: _CycleCounter(act.repetition_amplitude_deg) for n in _SIGNALS}
        self._cycle_times = {n: deque() for n in _SIGNALS}
        self._lifts = _CycleCounter(stream.lift_amplitude_deg)
        self._lift_times: deque[float] = deque()
        self._points_t: deque[float] = deque()
        self._points: deque[np.ndarray] = deque()  # per frame the canonical points stacked (P, 3), in...
        self._point_names: tuple[str, ...] = ()  # ...this order (the layout's, the same every frame)
        self._l5s1_last: dict[str, float] | None = None
        self._l5s1_anchor = 0.0  # stream time of the refresh grid's origin, set by the first result
        self._l5s1_next = 0  # the grid's next refresh: anchor + next periods

    def update(self, time_s: float, joints: np.ndarray) -> dict[str, float]:
        """Metrics for one frame of joints (J, 3) in metres."""
        return score_people([self], time_s, [joints])[0]

    # -- activity ----------------------------------------------------------------------------------------
    def _activity(self, t: float, row: np.ndarray) -> dict[str, bool]:
        """The activity flags at `t`, the frame's angle signals (`_SIGNALS`, in order) in `row` added first."""
        cfg = self.config.activity
        if not cfg.enabled:  # posture only, as offline
            return dict.fromkeys(FLAGS, False)
        self._remember(t, row)
        if self._first_t is None:
            self._first_t = t
        dt = self._frame_interval()

        # Windows are (t - length, t]: the same frames as the offline rule's last round(length * fps) frames, and
        # never fewer than it takes (one frame; two for a change), however short the window or slow the source.
        window = self._newest(min(t - cfg.static_hold_s + 0.5 * dt, t - 0.5 * dt))
        # max - min is NaN where the window holds a NaN (unknown all along or for a moment: never static).
        span = window.max(axis=1) - window.min(axis=1)
        span[np.isnan(span)] = np.inf
        # Static only once a full hold window has been seen.
        static = (t - self._first_t >= cfg.static_hold_s - 1.5 * dt) & (span <= cfg.static_range_deg)
        recent = self._newest(min(t - cfg.rapid_window_s + 0.5 * dt, t - 1.5 * dt))
        # fmax/fmin skip NaN as nanmax/nanmin do, without a RuntimeWarning for a signal unseen all window long.
        rapid_span = np.fmax.reduce(recent, axis=1) - np.fmin.reduce(recent, axis=1)
        rapid = np.nan_to_num(rapid_span, nan=0.0) >= cfg.rapid_range_deg
        # Repetitions: cycles confirmed in the last minute, on a trailing mean like the offline rule.
        repeated = np.zeros(len(_SIGNALS), dtype=bool)
        for i, name in enumerate(_SIGNALS):
            smooth = self._smooth[name]
            smooth.append((t, row[i]))
            self._smooth_sum[name] += row[i]
            while len(smooth) > 1 and smooth[0][0] <= t - cfg.repetition_smoothing_s + 0.5 * dt:
                self._smooth_sum[name] -= smooth.popleft()[1]
            mean = self._smooth_sum[name] / len(smooth)
            if self._cycles[name].feed(mean):
                self._cycle_times[name].append(t)
            ct = self._cycle_times[name]
            while ct and ct[0] <= t - cfg.repetition_window_s:
                ct.popleft()
            repeated[i] = len(ct) > cfg.repetitions_per_min * cfg.repetition_window_s / 60.0
        body = slice(0, len(BODY_SIGNALS))
        arm = slice(len(BODY_SIGNALS), None)
        flags = {}
        flags["static_body"] = bool(static[body].any())
        flags["static_arm"] = bool(static[arm].any())
        flags["repeated_body"] = bool(repeated[body].any())
        flags["repeated_arm"] = bool(repeated[arm].any())
        flags["rapid_change"] = bool(rapid.any())
        return flags

    def _remember(self, t: float, row: np.ndarray) -> None:
        """The frame's time and angle signals into the ring, over its oldest."""
        slot = self._ring_i % self._capacity
        self._ring_t[slot] = self._ring_t[slot + self._capacity] = t
        self._ring_v[:, slot] = self._ring_v[:, slot + self._capacity] = row
        self._ring_i += 1

    def _newest(self, after: float) -> np.ndarray:
        """The signals (signals, frames) of the newest frames later than `after`, as a view of the ring."""
        end = (self._ring_i - 1) % self._capacity + self._capacity + 1  # just past the newest frame's second copy
        times = self._ring_t[end - self._capacity:end]  # oldest to newest (stream time only goes forward)
        return self._ring_v[:, end - np.count_nonzero(times > after):end]

    def _frame_interval(self) -> float:
        """Median spacing of the last few frames (seconds)."""
        n = min(self._ring_i, 9, self._capacity)
        if n < 2:
            return 1.0 / 30.0
        ring = self._ring_t
        times = [float(ring[(self._ring_i - 1 - k) % self._capacity]) for k in range(n)]  # newest first
        # The median in plain Python (np.median's own arithmetic: the middle value, or the mean of the two middle
        # ones), a few microseconds instead of numpy's call overhead on eight numbers, every frame of every person.
        gaps = sorted(newer - older for newer, older in itertools.pairwise(times))
        mid = len(gaps) // 2
        return gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2.0

    def _lifts_per_min(self, t: float, trunk_flexion: float) -> float:
        if self._lifts.feed(trunk_flexion):
            self._lift_times.append(t)
        while self._lift_times and self._lift_times[0] <= t - 60.0:
            self._lift_times.popleft()
        return float(len(self._lift_times))

    # -- L5/S1 -------------------------------------------------------------------------------------------
    def _l5s1(self, t: float, point_names: tuple[str, ...], points: np.ndarray) -> dict[str, float]:
        """The L5/S1 metrics at `t`, the frame's canonical points `points` (P, 3), named in order, added first."""
        s = self.stream
        self._points_t.append(t)
        self._point_names = point_names
        self._points.append(points)
        while self._points_t and self._points_t[0] < t - s.l5s1_window_s:
            self._points_t.popleft()
            self._points.popleft()
        # Refreshes fall on a grid of whole periods from the first result (not a period after each refresh, which
        # drifts by a frame whenever float time falls a hair short of a period, and with it the people's phases).
        period = 1.0 / s.l5s1_rate_hz
        if self._l5s1_last is not None and (t - self._l5s1_anchor) / period < self._l5s1_next - 1e-6:
            return self._l5s1_last
        times = np.fromiter(self._points_t, dtype=np.float64)
        nan = dict.fromkeys(L5S1_METRICS, float("nan"))
        if len(times) < 3 or times[-1] - times[0] <= 0:
            return nan
        fps = (len(times) - 1) / (times[-1] - times[0])
        # One array (points, frames, 3) instead of one list per point: each point's (frames, 3) slice is
        # contiguous, as the per-point arrays were, so l5s1_load's arithmetic is the same to the bit.
        stacked = np.array(self._points).transpose(1, 0, 2).copy()
        window = dict(zip(self._point_names, stacked))
        result = l5s1_load(window, self.up, fps, self.config.body, self.config.load_kg, self.config.l5s1)
        i = int(np.searchsorted(times, t - s.l5s1_lag_s))
        i = min(max(i, 0), len(times) - 1)
        # The first result comes as soon as there is one; the next the phase's fraction of a period later (a
        # whole period at phase 0): the grid's origin lies (1 - phase) periods before the first result.
        if self._l5s1_last is None:
            self._l5s1_anchor = t - (1.0 - self.l5s1_phase) * period
        self._l5s1_next = math.floor((t - self._l5s1_anchor) / period + 1e-6) + 1
        self._l5s1_last = {"l5s1_moment_nm": float(result.moment_magnitude[i]),
                           "l5s1_moment_extension_nm": float(result.moment_extension[i]),
                           "l5s1_compression_n": float(result.compression_n[i])}
        return self._l5s1_last


def score_people(streams: Sequence[PersonStream], time_s: float, joints: Sequence[np.ndarray]) -> list[dict]:
    """One frame's metrics for each person, `streams[i].update(time_s, joints[i])` for every i, with the stateless
    part (canonical points, joint angles, REBA/RULA columns) computed once over everyone: a frame of one person
    pays numpy's cost per call, not per number, so each person after the first costs a fraction of it. The
    streams share a layout and a scoring config (one run's people do); each keeps its own up vector and state."""
    if not streams:
        return []
    first = streams[0]
    if any(s.layout != first.layout or s.config != first.config for s in streams[1:]):
        raise ValueError("score_people: the streams must share one layout and one scoring config")
    points = to_canonical(np.stack([np.asarray(j, dtype=np.float64) for j in joints]), first.layout)
    up = first.up if len(streams) == 1 else np.stack([s.up for s in streams])
    angles = angles_from_points(points, up)
    signals = np.stack([angles[name] for name in _SIGNALS], axis=1)
    flags = [stream._activity(time_s, row) for stream, row in zip(streams, signals)]
    columns = method_columns(angles, {name: np.array([f[name] for f in flags]) for name in FLAGS}, first.config)
    # Every column as float (bool, int or float before), one row a person: one conversion instead of one a value.
    names = (*angles, *columns)
    table = np.stack([*angles.values(), *columns.values()], axis=1).astype(np.float64).tolist()
    point_names = tuple(points)
    by_person = np.stack(list(points.values()), axis=1)  # (people, points, 3)
    out = []
    for stream, row, person_points in zip(streams, table, by_person):
        metrics = dict(zip(names, row))
        metrics["lifts_per_min"] = stream._lifts_per_min(time_s, metrics["trunk_flexion_deg"])
        metrics.update(stream._l5s1(time_s, point_names, person_points))
        out.append(metrics)
    return out
