"""Activity terms from angle time series: static postures, repetitions and rapid large posture changes.

These feed REBA's activity score (+1 each) and RULA's muscle-use score. Every detector is causal (frame t looks only
at frames up to t), so the same rules can run on a live stream. Rules, with defaults in `ActivityConfig`:

- static: a body part whose angle stayed within `static_range_deg` (max - min) over the last `static_hold_s`
  seconds ("held > 1 min"). A NaN in the window breaks the hold: an unseen part is never called static.
- repeated: more than `repetitions_per_min` movement cycles within the last 60 s. A cycle is a rise of at least
  `repetition_amplitude_deg` followed by a fall of as much, on the angle smoothed by a trailing mean over
  `repetition_smoothing_s` (so pose jitter is not counted). Fewer than 60 s of data
  can still show > 4 cycles; the rate is never extrapolated from a shorter window.
- rapid change: an angle that moved through at least `rapid_range_deg` within the last `rapid_window_s` seconds.

Body-part groups: "body" = trunk and neck flexion; "arm" = each side's upper-arm and elbow flexion.

`enabled = False` scores posture only: every flag is false, so REBA gets no activity score and RULA no muscle use
(offline here, live in `edge.scoring.stream`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import check_number
from edge.signals import cycle_frames, trailing_mean, trailing_range

BODY_SIGNALS = ("trunk_flexion_deg", "neck_flexion_deg")
ARM_SIGNALS = tuple(
    f"{side}_{name}" for side in ("left", "right") for name in ("upper_arm_flexion_deg", "elbow_flexion_deg")
)
FLAGS = ("static_body", "static_arm", "repeated_body", "repeated_arm", "rapid_change")


@dataclass(frozen=True)
class ActivityConfig:
    """The rules' settings (module docstring), each with its valid range; a live person keeps
    max(static_hold_s, repetition_window_s, 60 s) of angles, hence the 300 s caps."""

    enabled: bool = True  # False: posture only, no activity terms
    static_hold_s: float = 60.0  # 1..300 s
    static_range_deg: float = 10.0  # 0..90 deg
    repetition_window_s: float = 60.0  # 1..300 s
    repetitions_per_min: float = 4.0  # 0..600
    repetition_amplitude_deg: float = 20.0  # above 0, at most 180 deg
    repetition_smoothing_s: float = 0.5  # 0..10 s (at least one frame is averaged)
    rapid_window_s: float = 1.0  # above 0, at most 10 s (at least two frames are compared)
    rapid_range_deg: float = 45.0  # above 0, at most 180 deg

    def __post_init__(self) -> None:
        for name, low, high in (("static_hold_s", 1, 300), ("static_range_deg", 0, 90), ("repetition_window_s", 1, 300),
                                ("repetitions_per_min", 0, 600), ("repetition_smoothing_s", 0, 10)):
            check_number(getattr(self, name), name, minimum=low, maximum=high)
        for name, high in (("repetition_amplitude_deg", 180), ("rapid_window_s", 10), ("rapid_range_deg", 180)):
            check_number(getattr(self, name), name, positive=True, maximum=high)


def _static(x: np.ndarray, fps: float, cfg: ActivityConfig) -> np.ndarray:
    window = int(round(cfg.static_hold_s * fps))
    held = trailing_range(x, window) <= cfg.static_range_deg
    held[: max(window - 1, 0)] = False  # not yet held long enough
    return held


def _repeated(x: np.ndarray, fps: float, cfg: ActivityConfig) -> np.ndarray:
    cycles = np.zeros(x.size + 1, dtype=np.int64)
    smooth = trailing_mean(x, max(int(round(cfg.repetition_smoothing_s * fps)), 1))
    np.add.at(cycles, cycle_frames(smooth, cfg.repetition_amplitude_deg) + 1, 1)
    cumulative = np.cumsum(cycles)[1:]
    window = int(round(cfg.repetition_window_s * fps))
    earlier = np.concatenate([np.zeros(window, dtype=np.int64), cumulative])[: x.size]
    return (cumulative - earlier) > cfg.repetitions_per_min * cfg.repetition_window_s / 60.0


def _rapid(x: np.ndarray, fps: float, cfg: ActivityConfig) -> np.ndarray:
    window = max(int(round(cfg.rapid_window_s * fps)), 2)
    # An unseen frame neither makes nor breaks a rapid change: carry the last seen value over it.
    return trailing_range(_hold_last(x), window) >= cfg.rapid_range_deg


def _hold_last(x: np.ndarray) -> np.ndarray:
    seen = np.isfinite(x)
    if not seen.any():
        return np.zeros_like(x)
    idx = np.where(seen, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    out[: np.argmax(seen)] = x[np.argmax(seen)]
    return out


def activity_flags(angles: dict[str, np.ndarray], fps: float, config: ActivityConfig = ActivityConfig()):
    """Per-frame booleans: static_body, static_arm, repeated_body, repeated_arm, rapid_change (`FLAGS`)."""
    frames = len(next(iter(angles.values())))
    if not config.enabled:
        return {name: np.zeros(frames, dtype=bool) for name in FLAGS}

    def any_of(names, rule):
        flags = [rule(np.asarray(angles[n], dtype=np.float64), fps, config) for n in names if n in angles]
        return np.logical_or.reduce(flags) if flags else np.zeros(frames, dtype=bool)

    return {
        "static_body": any_of(BODY_SIGNALS, _static),
        "static_arm": any_of(ARM_SIGNALS, _static),
        "repeated_body": any_of(BODY_SIGNALS, _repeated),
        "repeated_arm": any_of(ARM_SIGNALS, _repeated),
        "rapid_change": any_of(BODY_SIGNALS + ARM_SIGNALS, _rapid),
    }
