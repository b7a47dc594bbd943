"""Temporal smoothing of keypoints: the One Euro filter, vectorised over keypoints, with visibility gating.

One Euro filter (Casiez, Roussel and Vogel, "1 Euro Filter", CHI 2012): an exponential low-pass whose cutoff rises
with the signal's speed, so that a still joint is smoothed hard (little jitter) and a moving joint lightly (little
lag). Per sample, with dt the time since the previous sample:

    alpha(fc, dt) = 1 / (1 + 1 / (2 pi fc dt))
    dx   = (x - x_prev) / dt                              raw speed, from the previous raw sample
    edx  = edx_prev + alpha(d_cutoff, dt) (dx - edx_prev)  smoothed speed
    fc   = min_cutoff + beta |edx|                         |.| is the Euclidean norm over the D coordinates
    xhat = xhat_prev + alpha(fc, dt) (x - xhat_prev)

The speed is taken between raw samples, as in the authors' reference code (some ports use the previous filtered
value, which over-estimates the speed of a ramp by the lag). On a ramp of speed v the filter settles at a lag of
exactly v / (2 pi fc) with fc = min_cutoff + beta v, whatever the sampling rate.

Using the norm of the velocity (not each coordinate separately) gives every coordinate of a keypoint the same
cutoff, so the smoothing does not depend on the image axes. The first sample (and the first after a keypoint
re-appears) is returned as is, with zero speed. Timestamps are in seconds, must increase strictly, and may be
irregular: every step uses its own dt.

Tuning: lower `min_cutoff` for less jitter at rest (more lag when slow); raise `beta` for less lag when moving.
`beta` multiplies a speed, so it depends on the units: 0.007 per pixel/s suits image keypoints (cutoff 1 Hz at
rest, about 8 Hz at 1000 px/s). World keypoints (metres) use MediaPipe's own tuning for BlazePose's world landmarks:
0.1 Hz at rest, beta 40 per m/s (4 Hz at 0.1 m/s), so a still joint barely moves and a bending trunk is followed
with little lag. A slower world filter (1 Hz, beta 2) lagged enough on the pose2sim bend to widen the trunk flexion
gap between camera 1 and camera 3 from 8.5 to 11 degrees median.

Visibility gating (`KeypointFilter`): a keypoint whose score is below `min_score` (or whose value is not finite) is
not updated. Its filtered value and last visible score are held for at most `hold_s` seconds after its last update;
after that it is reported as missing (NaN, score 0) and starts afresh when it re-appears. One `KeypointFilter` per
track; `reset()` when the track is lost or re-assigned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from edge.errors import InputError
from edge.pose.types import Person

__all__ = ["IMAGE_PARAMS", "WORLD_PARAMS", "KeypointFilter", "KeypointFilterConfig", "OneEuroFilter",
           "OneEuroParams"]


@dataclass(frozen=True)
class OneEuroParams:
    """One Euro filter parameters. Cutoffs in Hz; beta in 1 / (signal unit), since it multiplies a speed."""

    min_cutoff: float = 1.0
    beta: float = 0.007
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise InputError(f"One Euro parameters need min_cutoff > 0, d_cutoff > 0 and beta >= 0, got {self}")


IMAGE_PARAMS = OneEuroParams(min_cutoff=1.0, beta=0.007, d_cutoff=1.0)   # keypoints in pixels
WORLD_PARAMS = OneEuroParams(min_cutoff=0.1, beta=40.0, d_cutoff=1.0)    # world keypoints in metres


@dataclass(frozen=True)
class KeypointFilterConfig:
    """Smoothing for one person's keypoints.

    image: One Euro parameters for 2D keypoints (pixels).
    world: One Euro parameters for 3D world keypoints (metres).
    min_score: a keypoint with a lower score is treated as not seen in that frame.
    hold_s: how long a keypoint not seen keeps its last filtered value before it is reported missing.
    """

    image: OneEuroParams = field(default_factory=lambda: IMAGE_PARAMS)
    world: OneEuroParams = field(default_factory=lambda: WORLD_PARAMS)
    min_score: float = 0.3
    hold_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise InputError(f"KeypointFilterConfig: min_score must lie in [0, 1], got {self.min_score!r}")
        if not self.hold_s >= 0:
            raise InputError(f"KeypointFilterConfig: hold_s must be >= 0, got {self.hold_s!r}")


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    r = 2.0 * math.pi * cutoff * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """One Euro filter over a (J, D) array: J independent points of D coordinates, each with its own state.

    ``filt(t, x, visible=None) -> (J, D)``: rows not visible (or not finite) are held for up to `hold_s` seconds
    after their last update, then become NaN until they are seen again, when they start afresh.
    """

    def __init__(self, params: OneEuroParams = IMAGE_PARAMS, hold_s: float = math.inf) -> None:
        if not hold_s >= 0:
            raise InputError(f"OneEuroFilter: hold_s must be >= 0, got {hold_s!r}")
        self.params = params
        self.hold_s = float(hold_s)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next sample is returned as is."""
        self._x: np.ndarray | None = None     # (J, D) filtered values
        self._raw: np.ndarray | None = None   # (J, D) last raw samples
        self._dx: np.ndarray | None = None    # (J, D) smoothed speeds
        self._t_row: np.ndarray | None = None  # (J,) time of each row's last update, NaN: no state
        self._t_last: float | None = None     # time of the last call

    @property
    def valid(self) -> np.ndarray:
        """(J,) True where the filter currently holds a value (empty before the first sample)."""
        return np.zeros(0, bool) if self._t_row is None else ~np.isnan(self._t_row)

    def __call__(self, t: float, x: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
        t = float(t)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise InputError(f"OneEuroFilter expects (J, D) values, got shape {list(x.shape)}")
        if not math.isfinite(t):
            raise InputError(f"OneEuroFilter: timestamp must be finite, got {t!r}")
        if self._x is None:
            self._x = np.full(x.shape, np.nan)
            self._raw = np.full(x.shape, np.nan)
            self._dx = np.zeros(x.shape)
            self._t_row = np.full(x.shape[0], np.nan)
        elif x.shape != self._x.shape:
            raise InputError(f"OneEuroFilter: shape changed from {list(self._x.shape)} to {list(x.shape)}; "
                             "use one filter per skeleton layout (or reset())")
        if self._t_last is not None and t <= self._t_last:
            raise InputError(f"OneEuroFilter: timestamps must increase, got {t!r} after {self._t_last!r}")
        self._t_last = t

        seen = np.isfinite(x).all(axis=1)
        if visible is not None:
            visible = np.asarray(visible, dtype=bool)
            if visible.shape != (x.shape[0],):
                raise InputError(f"OneEuroFilter: visible must have shape ({x.shape[0]},), got {list(visible.shape)}")
            seen &= visible
        has_state = ~np.isnan(self._t_row)

        start = seen & ~has_state          # first sight, or back after expiry: take the sample as is
        self._x[start] = x[start]
        self._raw[start] = x[start]
        self._dx[start] = 0.0
        self._t_row[start] = t

        step = seen & has_state
        if step.any():
            dt = t - self._t_row[step]      # per row: a held row's dt spans the frames it missed
            prev, dprev = self._x[step], self._dx[step]
            speed = (x[step] - self._raw[step]) / dt[:, None]
            dx = dprev + _alpha(self.params.d_cutoff, dt)[:, None] * (speed - dprev)
            cutoff = self.params.min_cutoff + self.params.beta * np.linalg.norm(dx, axis=1)
            self._x[step] = prev + _alpha(cutoff, dt)[:, None] * (x[step] - prev)
            self._dx[step] = dx
            self._raw[step] = x[step]
            self._t_row[step] = t

        expired = ~seen & has_state & (t - self._t_row > self.hold_s)
        self._x[expired] = np.nan
        self._raw[expired] = np.nan
        self._dx[expired] = 0.0
        self._t_row[expired] = np.nan
        return self._x.copy()


class KeypointFilter:
    """One track's smoother: 2D keypoints (and optional world keypoints) with visibility gating.

    ``kf(person, t) -> Person``: the same person with smoothed keypoints, scores and world keypoints.
    ``kf.update(t, keypoints, scores, world=None) -> (keypoints, scores, world)``: the same on arrays, float32 out.
    Seen keypoints report their own score; held ones their last seen score; missing ones NaN and score 0.
    """

    def __init__(self, config: KeypointFilterConfig | None = None) -> None:
        self.config = config or KeypointFilterConfig()
        self._image = OneEuroFilter(self.config.image, self.config.hold_s)
        self._world = OneEuroFilter(self.config.world, self.config.hold_s)
        self._last_score: np.ndarray | None = None

    def reset(self) -> None:
        self._image.reset()
        self._world.reset()
        self._last_score = None

    def __call__(self, person: Person, t: float) -> Person:
        keypoints, scores, world = self.update(t, person.keypoints, person.scores, person.world)
        return replace(person, keypoints=keypoints, scores=scores, world=world)

    def update(self, t: float, keypoints: np.ndarray, scores: np.ndarray, world: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        scores = np.asarray(scores, dtype=np.float64)
        if keypoints.ndim != 2 or scores.shape != keypoints.shape[:1]:
            raise InputError(f"KeypointFilter: keypoints (J, D) and scores (J,) needed, got shapes "
                             f"{list(keypoints.shape)} and {list(scores.shape)}")
        visible = np.nan_to_num(scores, nan=0.0) >= self.config.min_score
        smoothed = self._image(t, keypoints, visible)
        if self._last_score is None or self._last_score.shape != scores.shape:
            self._last_score = np.zeros(scores.shape)
        seen = visible & np.isfinite(keypoints).all(axis=1)
        self._last_score[seen] = scores[seen]
        valid = self._image.valid
        out_scores = np.where(valid, self._last_score, 0.0)
        out_world = None
        if world is not None:
            world = np.asarray(world, dtype=np.float64)
            if world.shape != (keypoints.shape[0], 3):
                raise InputError(f"KeypointFilter: world must have shape ({keypoints.shape[0]}, 3), got "
                                 f"{list(world.shape)}")
            out_world = self._world(t, world, visible).astype(np.float32)
        return smoothed.astype(np.float32), out_scores.astype(np.float32), out_world
