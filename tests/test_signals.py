"""The zero-phase Butterworth low-pass (edge/signals.py, numpy only) against scipy.signal's butter + sosfiltfilt."""

import numpy as np
import pytest

from edge.signals import butterworth_lowpass


def reference(x, fps, cutoff, order, padlen):
    """scipy's design and forward-backward filtering, odd padding of `padlen` frames (None: scipy's default)."""
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(order, cutoff, fs=fps, output="sos"), x, axis=0, padtype="odd", padlen=padlen)


# (fps, cut-off, order, padding): the padding is where the slowest pole has decayed by 1e-6 (pole radius 0.670 at
# 30 fps / 8 Hz: 0.670^35 < 1e-6; 0.830 at 100 fps / 8 Hz: 75 frames; 0.795 at 10 fps / 4 Hz: 61 frames; an odd
# order has a real pole: 0.909 at 60 fps / 3 Hz, order 5: 145 frames).
CASES = [(30.0, 8.0, 4, 35), (100.0, 8.0, 4, 75), (10.0, 4.0, 4, 61), (60.0, 3.0, 5, 145)]


@pytest.mark.parametrize("fps, cutoff, order, padlen", CASES)
def test_equals_scipy_butter_sosfiltfilt_on_random_signals(fps, cutoff, order, padlen):
    rng = np.random.default_rng(int(fps))
    x = rng.normal(size=(1000, 3)).cumsum(axis=0) + rng.normal(size=(1000, 3))  # a wandering, noisy path
    y = butterworth_lowpass(x, fps, cutoff, order)
    # Ends included: within 1e-7 of the signal's range (what is left of the 1e-6 start-up transient).
    np.testing.assert_allclose(y, reference(x, fps, cutoff, order, padlen), rtol=0, atol=1e-7 * np.ptp(x))
    # Away from the ends neither padding matters: scipy's default padding gives the same samples.
    inner = slice(400, -400)
    np.testing.assert_allclose(y[inner], reference(x, fps, cutoff, order, None)[inner], rtol=0, atol=1e-9)
    # One column alone, or a 1-D signal, is filtered the same as within the block.
    np.testing.assert_allclose(butterworth_lowpass(x[:, 1], fps, cutoff, order), y[:, 1], rtol=0, atol=1e-12)


def steady_gain(fps, cutoff, freq):
    t = np.arange(3000) / fps
    x = np.sin(2 * np.pi * freq * t)
    y = butterworth_lowpass(x, fps, cutoff)
    inner = slice(500, -500)
    return float(np.std(y[inner]) / np.std(x[inner])), x, y


def test_gain_is_the_digital_filtfilt_gain():
    # 30 fps, 8 Hz: filtfilt of the 4th-order digital Butterworth has gain 0.0278 at 10 Hz (the analog formula
    # 1 / (1 + (10/8)^8) gives 0.144, which is what the frequency-domain version applied).
    assert steady_gain(30.0, 8.0, 10.0)[0] == pytest.approx(0.0278, abs=5e-4)
    assert steady_gain(30.0, 8.0, 8.0)[0] == pytest.approx(0.5, abs=2e-3)  # -6 dB at the cut-off, forward-backward
    assert steady_gain(30.0, 8.0, 1.0)[0] == pytest.approx(1.0, abs=1e-4)
    assert steady_gain(30.0, 8.0, 13.0)[0] < 1e-3


def test_zero_phase_and_ramps_pass_unchanged():
    _, x, y = steady_gain(100.0, 8.0, 2.0)  # gain 0.9995 at 2 Hz, no delay
    np.testing.assert_allclose(y[200:-200], x[200:-200], atol=1e-3)
    t = np.arange(1000) / 100.0
    np.testing.assert_allclose(butterworth_lowpass(3.0 + 2.0 * t, 100.0, 8.0), 3.0 + 2.0 * t, rtol=0, atol=1e-6)


def test_short_sequences_pad_with_what_they_have():
    # Below 36 frames (30 fps, 8 Hz: 35 frames of padding) the padding is n - 1 frames. The result still follows
    # sosfiltfilt with that padding, more loosely the shorter the sequence (max differences on unit noise).
    rng = np.random.default_rng(1)
    for n, bound in ((10, 0.05), (16, 5e-3), (20, 1e-3), (31, 2e-5), (36, 2e-6)):
        x = rng.normal(size=(n, 4))
        y = butterworth_lowpass(x, 30.0, 8.0)
        assert np.abs(y - reference(x, 30.0, 8.0, 4, n - 1)).max() < bound, n
    # Constants and straight lines pass unchanged at any length; 2 frames are a line.
    for n in (2, 3, 5):
        line = np.c_[np.full(n, 2.5), np.linspace(-1.0, 3.0, n)]
        np.testing.assert_allclose(butterworth_lowpass(line, 30.0, 8.0), line, rtol=0, atol=1e-12)
    one = np.array([[1.0, 2.0]])
    out = butterworth_lowpass(one, 30.0, 8.0)
    assert np.array_equal(out, one) and out is not one


@pytest.mark.parametrize("cutoff", [0.0, 15.0, 20.0])
def test_cutoff_must_lie_below_nyquist(cutoff):
    with pytest.raises(ValueError, match="below Nyquist"):
        butterworth_lowpass(np.zeros(50), 30.0, cutoff)


def test_seen_median_is_nanmedian_without_its_warning():
    import warnings

    from edge.signals import seen_median

    x = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, np.nan], [2.0, np.nan, 7.0], [np.inf, np.nan, 6.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = seen_median(x)
        assert np.isnan(seen_median(np.empty((0, 2)))).all()
    np.testing.assert_array_equal(got, [2.5, np.nan, 6.0])
