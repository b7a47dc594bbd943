"""Activity terms from time series, and the numpy signal helpers under them."""

import numpy as np
import pytest

from edge.ergonomics.activity import ActivityConfig, activity_flags
from edge.signals import cycle_frames, trailing_range

FPS = 10.0


def _angles(n, **signals):
    base = {name: np.zeros(n) for name in (
        "trunk_flexion_deg", "neck_flexion_deg", "left_upper_arm_flexion_deg", "left_elbow_flexion_deg",
        "right_upper_arm_flexion_deg", "right_elbow_flexion_deg")}
    # Some drift everywhere so nothing is static unless a test makes it so.
    drift = 30.0 * np.sin(2 * np.pi * np.arange(n) / (FPS * 45.0))
    for name in base:
        base[name] = base[name] + drift
    base.update(signals)
    return base


def test_static_only_after_a_full_minute_within_the_band():
    n = int(90 * FPS)
    trunk = np.full(n, 40.0) + 3.0 * np.sin(np.arange(n) / 7.0)  # 6 deg band, held
    flags = activity_flags(_angles(n, trunk_flexion_deg=trunk), FPS)
    first = int(np.argmax(flags["static_body"]))
    # The first frame whose trailing 60 s window lies wholly inside the sequence is frame 599.
    assert first == int(60 * FPS) - 1
    assert flags["static_body"][first:].all()
    assert not flags["static_arm"].any()


def test_static_broken_by_movement_and_by_unseen_frames():
    n = int(140 * FPS)
    trunk = np.full(n, 20.0)
    trunk[int(70 * FPS)] = 45.0  # one big excursion
    trunk_nan = np.full(n, 20.0)
    trunk_nan[int(30 * FPS)] = np.nan
    moved = activity_flags(_angles(n, trunk_flexion_deg=trunk), FPS)["static_body"]
    unseen = activity_flags(_angles(n, trunk_flexion_deg=trunk_nan), FPS)["static_body"]
    excursion = int(70 * FPS)
    assert moved[excursion - 1] and not moved[excursion] and not moved[excursion + int(59 * FPS)]
    assert moved[excursion + int(60 * FPS)]
    assert not unseen[int(30 * FPS): int(90 * FPS)].any() and unseen[int(90 * FPS)]


# Just at the default threshold (more than 4 a minute) and either side of it.
@pytest.mark.parametrize("per_min, expected", [(4.0, False), (5.0, True), (6.0, True)])
def test_repetition_rate_threshold(per_min, expected):
    n = int(120 * FPS)
    t = np.arange(n) / FPS
    arm = 40.0 + 30.0 * np.sin(2 * np.pi * per_min / 60.0 * t)
    flags = activity_flags(_angles(n, left_upper_arm_flexion_deg=arm), FPS)
    assert flags["repeated_arm"][-1] == expected
    assert not flags["repeated_body"].any()


def test_small_jitter_is_not_repetition():
    n = int(120 * FPS)
    rng = np.random.default_rng(0)
    arm = 40.0 + 5.0 * rng.standard_normal(n)  # typical keypoint jitter
    assert not activity_flags(_angles(n, left_upper_arm_flexion_deg=arm), FPS)["repeated_arm"].any()


def test_rapid_change_needs_range_within_window():
    n = int(20 * FPS)
    fast = np.zeros(n)
    fast[100:] = 60.0  # a 60 deg step
    slow = np.linspace(0.0, 60.0, n)  # 60 deg over 20 s
    rapid = activity_flags(_angles(n, trunk_flexion_deg=fast), FPS, ActivityConfig())["rapid_change"]
    assert rapid[100:109].all() and not rapid[109]  # the 1 s window (10 frames) ending at 109 starts at 100
    slow_flags = activity_flags({"trunk_flexion_deg": slow}, FPS)
    assert not slow_flags["rapid_change"].any()


def test_trailing_range_matches_brute_force():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    x[[17, 150]] = np.nan
    for window in (1, 2, 5, 16, 61, 400):
        expected = []
        for i in range(x.size):
            seg = x[max(0, i - window + 1): i + 1]
            expected.append(np.inf if np.isnan(seg).any() else seg.max() - seg.min())
        np.testing.assert_array_equal(trailing_range(x, window), expected)


def test_cycle_frames_counts_full_cycles_causally():
    t = np.arange(0, 30, 0.1)
    x = 25.0 * np.sin(2 * np.pi * t / 5.0)  # 6 cycles
    frames = cycle_frames(x, 20.0)
    assert len(frames) == 6
    assert len(cycle_frames(x, 60.0)) == 0
    # Confirmed on the way down, at the first frame 20 below the peak (25 at t = 1.25 + 5k): 25 sin(2 pi t / 5) <= 5
    # from t = 2.34 + 5k on, the frames at t = 2.4 + 5k.
    assert frames.tolist() == [24, 74, 124, 174, 224, 274]
