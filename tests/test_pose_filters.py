"""One Euro filter and per-track keypoint smoothing: measured against the filter's closed-form behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.errors import InputError
from edge.pose.filters import (
    IMAGE_PARAMS, WORLD_PARAMS, KeypointFilter, KeypointFilterConfig, OneEuroFilter, OneEuroParams,
)
from edge.pose.types import Person

FPS = 30.0


def run(filt, xs, ts, visible=None):
    return np.stack([filt(t, x, None if visible is None else visible[i]) for i, (t, x) in enumerate(zip(ts, xs))])


def ramp_lag(params, speed, ts):
    """Steady-state lag (last sample) of a filter fed x = speed * t on one 2D point moving along x."""
    xs = np.zeros((len(ts), 1, 2))
    xs[:, 0, 0] = speed * np.asarray(ts)
    out = run(OneEuroFilter(params), xs, ts)
    return xs[-1, 0, 0] - out[-1, 0, 0]


def expected_ramp_lag(params, speed):
    # Fixed point of the filter on a ramp: speed estimate = v, cutoff fc = min_cutoff + beta v, lag = v / (2 pi fc).
    return speed / (2 * math.pi * (params.min_cutoff + params.beta * speed))


def test_first_sample_is_returned_as_is():
    x = np.float64([[1.5, -2.0], [np.pi, 1e6]])
    np.testing.assert_array_equal(OneEuroFilter()(0.25, x), x)


def test_constant_signal_passes_unchanged():
    x = np.float64([[320.5, 240.25], [10.0, 700.0], [0.0, 0.0]])
    ts = np.cumsum(np.random.default_rng(0).uniform(0.005, 0.2, 200))     # irregular dt
    out = run(OneEuroFilter(), [x] * len(ts), ts)
    np.testing.assert_array_equal(out, np.broadcast_to(x, out.shape))


def test_noise_variance_drops_on_a_static_point():
    rng = np.random.default_rng(1)
    n, sigma = 6000, 2.0
    ts = np.arange(n) / FPS
    xs = np.float64([100.0, 50.0]) + rng.normal(0, sigma, (n, 4, 2))
    settle = 60
    # beta = 0 is a plain exponential filter: output variance = alpha / (2 - alpha) of the input's.
    plain = run(OneEuroFilter(OneEuroParams(1.0, 0.0, 1.0)), xs, ts)[settle:]
    alpha = 2 * math.pi / FPS / (1 + 2 * math.pi / FPS)
    noise = xs[settle:].var(axis=0).mean()                             # per coordinate, over time
    ratio_plain = plain.var(axis=0).mean() / noise
    assert ratio_plain == pytest.approx(alpha / (2 - alpha), rel=0.1)          # 0.095 at 1 Hz, 30 fps
    # With the default beta the noise's own speed raises the cutoff a little: measured 0.11, about 9x less variance.
    ratio = run(OneEuroFilter(IMAGE_PARAMS), xs, ts)[settle:].var(axis=0).mean() / noise
    assert ratio_plain < ratio < 0.15


def test_ramp_lag_is_bounded_and_decreases_with_beta():
    ts = np.arange(300) / FPS
    speed = 200.0                                   # px/s
    lags = []
    for beta in (0.0, 0.007, 0.02, 0.1):
        params = OneEuroParams(min_cutoff=1.0, beta=beta, d_cutoff=1.0)
        lag = ramp_lag(params, speed, ts)
        assert lag == pytest.approx(expected_ramp_lag(params, speed), rel=1e-3)
        assert 0 < lag <= speed / (2 * math.pi * params.min_cutoff) + 1e-9   # never worse than the rest cutoff
        lags.append(lag)
    assert lags == sorted(lags, reverse=True) and lags[0] / lags[-1] > 10       # 31.8 px down to 1.5 px


def test_ramp_lag_does_not_depend_on_the_sampling_rate():
    speed, params = 150.0, OneEuroParams(1.0, 0.01, 1.0)
    want = expected_ramp_lag(params, speed)
    for rate in (15.0, 30.0, 120.0):
        assert ramp_lag(params, speed, np.arange(int(12 * rate)) / rate) == pytest.approx(want, rel=1e-3)
    # Irregular frame times (10-60 ms): the same lag, since each step uses its own dt.
    dts = np.random.default_rng(2).uniform(0.01, 0.06, 600)
    assert ramp_lag(params, speed, np.cumsum(dts)) == pytest.approx(want, rel=1e-2)


def test_timestamps_must_increase_and_shapes_are_checked():
    f = OneEuroFilter()
    f(1.0, np.zeros((3, 2)))
    for t in (1.0, 0.5, float("nan")):
        with pytest.raises(InputError, match="timestamp"):
            f(t, np.zeros((3, 2)))
    with pytest.raises(InputError, match="shape changed"):
        f(2.0, np.zeros((4, 2)))
    with pytest.raises(InputError, match=r"\(J, D\)"):
        OneEuroFilter()(0.0, np.zeros(3))
    with pytest.raises(InputError, match="visible"):
        f(3.0, np.zeros((3, 2)), visible=np.ones(2, bool))
    f.reset()
    np.testing.assert_array_equal(f(0.0, np.ones((4, 3))), np.ones((4, 3)))     # after reset: anything goes
    with pytest.raises(InputError):
        OneEuroParams(min_cutoff=0.0)
    with pytest.raises(InputError):
        KeypointFilterConfig(hold_s=-1.0)


def _track(n=3):
    kf = KeypointFilter(KeypointFilterConfig(min_score=0.5, hold_s=0.2))
    kp = np.float64([[10.0 * j, 5.0 * j] for j in range(n)])
    return kf, kp


def test_gating_holds_a_hidden_keypoint_then_reports_it_missing():
    kf, kp = _track()
    dt = 1 / FPS
    kf.update(0.0, kp, np.float64([0.9, 0.8, 0.7]))
    moved = kp + [[50.0, 0.0]]
    out, scores, _ = kf.update(dt, moved, np.float64([0.9, 0.1, 0.7]))        # joint 1 not seen: held
    assert out[1].tolist() == kp[1].tolist() and scores[1] == pytest.approx(0.8)   # value and last score kept
    assert 10 < out[0, 0] - kp[0, 0] < 50                              # seen joints move, smoothed
    for i in range(2, 7):                                              # still hidden; 0.2 s = 6 frames
        out, scores, _ = kf.update(i * dt, moved, np.float64([0.9, 0.1, 0.7]))
        assert out[1].tolist() == kp[1].tolist()
    out, scores, _ = kf.update(7 * dt, moved, np.float64([0.9, 0.1, 0.7]))   # 0.233 s since its last update
    assert np.isnan(out[1]).all() and scores[1] == 0.0
    assert np.isfinite(out[[0, 2]]).all() and scores[0] == pytest.approx(0.9)
    out, scores, _ = kf.update(8 * dt, moved + 1.0, np.float64([0.9, 0.95, 0.7]))  # back: starts afresh, as is
    np.testing.assert_array_equal(out[1], (moved + 1.0)[1].astype(np.float32))
    assert scores[1] == pytest.approx(0.95)


def test_gating_within_hold_continues_smoothly():
    kf, kp = _track()
    dt = 1 / FPS
    kf.update(0.0, kp, np.ones(3))
    kf.update(dt, kp, np.float64([1.0, 0.0, 1.0]))
    out, _, _ = kf.update(2 * dt, kp + 30.0, np.ones(3))                 # back within 0.2 s: filtered, not reset
    assert 0 < out[1, 0] - kp[1, 0] < 30
    # Its step spans both frames (dt = 2/30 s), so a larger alpha: it follows the same jump at least as far.
    assert out[1, 0] - kp[1, 0] >= out[0, 0] - kp[0, 0] - 1e-9


def test_non_finite_keypoints_count_as_not_seen():
    kf, kp = _track()
    kf.update(0.0, kp, np.ones(3))
    bad = kp.copy()
    bad[2] = np.nan
    out, scores, _ = kf.update(0.05, bad, np.ones(3))
    np.testing.assert_array_equal(out[2], kp[2].astype(np.float32))
    assert scores[2] == 1.0
    fresh = KeypointFilter()
    out, scores, _ = fresh.update(0.0, bad, np.ones(3))                        # never seen: missing from the start
    assert np.isnan(out[2]).all() and scores[2] == 0.0


def test_world_keypoints_use_their_own_parameters():
    assert WORLD_PARAMS.beta != IMAGE_PARAMS.beta
    kf = KeypointFilter()
    ts = np.arange(120) / FPS
    speed = 1.0                                                         # m/s, along x
    for t in ts:
        kp = np.zeros((2, 2))
        world = np.zeros((2, 3))
        world[:, 0] = speed * t
        out, scores, w = kf.update(t, kp, np.ones(2), world)
    assert w.shape == (2, 3) and w.dtype == np.float32 and out.dtype == np.float32 and scores.dtype == np.float32
    assert speed * ts[-1] - w[0, 0] == pytest.approx(expected_ramp_lag(WORLD_PARAMS, speed), rel=1e-3)
    with pytest.raises(InputError, match="world"):
        kf.update(10.0, np.zeros((2, 2)), np.ones(2), np.zeros((2, 2)))


def test_keypoint_filter_on_people_shapes_and_reset():
    kf = KeypointFilter()
    with pytest.raises(InputError, match="scores"):
        kf.update(0.0, np.zeros((17, 2)), np.ones(16))
    person = Person(keypoints=np.full((17, 2), 5.0), scores=np.full(17, 0.9), layout="coco17",
                    box=[0, 0, 10, 10], score=0.8, world=np.zeros((17, 3)), track_id=4)
    first = kf(person, 0.0)
    np.testing.assert_array_equal(first.keypoints, person.keypoints)
    assert (first.layout, first.track_id, first.score) == ("coco17", 4, pytest.approx(0.8))
    moved = Person(person.keypoints + 20, person.scores, "coco17", person.box, 0.8, person.world, 4)
    second = kf(moved, 0.1)
    assert (second.keypoints > person.keypoints).all() and (second.keypoints < moved.keypoints).all()
    kf.reset()
    np.testing.assert_array_equal(kf(moved, 0.05).keypoints, moved.keypoints)  # time may restart
