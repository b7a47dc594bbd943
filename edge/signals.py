"""Time-series helpers in plain numpy: zero-phase Butterworth low-pass, trailing windows, cycle counting, medians of
what was seen.

numpy only on purpose: importing scipy.signal takes about 0.6 s (benchmarks/bench_filter.py), which would add
0.8 s to the 1.1 s of `ergoedge score` on 10,000 frames and stall the live runtime's first L5/S1 frame. The
low-pass is the digital Butterworth filter that scipy.signal.butter designs, run forwards and backwards as
sosfiltfilt runs it; tests/test_signals.py checks it against those.
"""

from __future__ import annotations

import math

import numpy as np

# Edge padding lasts until the slowest pole of the filter has decayed to this fraction.
_TRANSIENT_LEFT = 1e-6


def _padding_frames(fps: float, cutoff_hz: float, order: int) -> int:
    """Frames for the start-up transient of the digital Butterworth filter to decay by `_TRANSIENT_LEFT`.

    Its poles are the analog prototype's (left half of the unit circle) scaled by the pre-warped cut-off
    tan(pi fc / fps) and mapped by the bilinear transform z = (1 + p) / (1 - p); the largest |z| decays slowest."""
    angles = np.pi * (2 * np.arange(order) + order + 1) / (2 * order)
    poles = math.tan(math.pi * cutoff_hz / fps) * np.exp(1j * angles)
    radius = float(np.abs((1 + poles) / (1 - poles)).max())
    return math.ceil(math.log(_TRANSIENT_LEFT) / math.log(radius))


def butterworth_lowpass(x: np.ndarray, fps: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase low-pass along axis 0: the digital Butterworth filter of `order` (bilinear transform pre-warped
    to `cutoff_hz`, as scipy.signal.butter designs it) run forwards and backwards, as scipy.signal.sosfiltfilt does.

    Forward-backward filtering has zero phase and gain |H(f)|^2 = 1 / (1 + (tan(pi f/fps) / tan(pi fc/fps))^(2 order))
    (1/2 at the cut-off, 0 at Nyquist); that gain is applied here in the frequency domain. Each end is padded by odd
    reflection, as sosfiltfilt pads, for as many frames as the slowest pole needs to decay by 1e-6 (35 frames at
    30 fps and 8 Hz, 75 at 100 fps): the result is then butter + sosfiltfilt with that padding to within 1e-7 of
    the signal's range, ends included. A shorter sequence is padded with all it has (n - 1 frames): still filtered,
    constants and straight lines still pass unchanged, other signals see larger edge effects than sosfiltfilt's
    minimum length would allow. Fewer than 2 frames come back unchanged. Columns must be finite; `cutoff_hz` must
    lie below Nyquist (fps / 2).
    """
    if not 0.0 < cutoff_hz < 0.5 * fps:
        raise ValueError(f"cut-off {cutoff_hz} Hz must lie in (0, {0.5 * fps}) Hz, below Nyquist at {fps} fps")
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        return x.copy()
    pad = min(n - 1, _padding_frames(fps, cutoff_hz, order))
    head = 2.0 * x[:1] - x[pad:0:-1]
    tail = 2.0 * x[-1:] - x[-2:-pad - 2:-1]
    padded = np.concatenate([head, x, tail], axis=0)
    m = padded.shape[0]
    column = (-1,) + (1,) * (x.ndim - 1)
    # The FFT treats the signal as periodic: take out the straight line through its ends so the wrap is seamless
    # (a line passes a zero-phase filter with unit DC gain unchanged), filter the rest, put the line back.
    line = padded[:1] + (padded[-1:] - padded[:1]) * np.linspace(0.0, 1.0, m).reshape(column)
    warped = np.tan(np.pi * np.fft.rfftfreq(m, d=1.0 / fps) / fps) / math.tan(math.pi * cutoff_hz / fps)
    with np.errstate(over="ignore"):  # tan is ~1e16 at Nyquist: the power may overflow to inf, i.e. gain 0
        gain = 1.0 / (1.0 + warped ** (2 * order))
    spectrum = np.fft.rfft(padded - line, axis=0) * gain.reshape(column)
    return (np.fft.irfft(spectrum, n=m, axis=0) + line)[pad:pad + n]


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of consecutive True values."""
    edges = np.diff(np.concatenate(([0], np.asarray(mask).astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _trailing_extreme(x: np.ndarray, window: int, op: np.ufunc) -> np.ndarray:
    """Running `op` (np.maximum or np.minimum) over frames [t - window + 1, t], in O(n) with block prefix and suffix
    scans (van Herk / Gil-Werman). Early frames see only the frames that exist."""
    n = x.size
    window = max(int(window), 1)
    if window == 1 or n == 0:
        return x.copy()
    y = np.concatenate([np.full(window - 1, x[0]), x])
    blocks = -(-y.size // window)
    grid = np.concatenate([y, np.full(blocks * window - y.size, y[-1])]).reshape(blocks, window)
    prefix = op.accumulate(grid, axis=1).reshape(-1)
    suffix = op.accumulate(grid[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    start = np.arange(n)
    return op(suffix[start], prefix[start + window - 1])


def trailing_range(x: np.ndarray, window: int) -> np.ndarray:
    """max - min over the trailing `window` frames ending at each frame; NaN in the window gives inf."""
    x = np.asarray(x, dtype=np.float64)
    hi = _trailing_extreme(np.where(np.isnan(x), np.inf, x), window, np.maximum)
    lo = _trailing_extreme(np.where(np.isnan(x), -np.inf, x), window, np.minimum)
    return hi - lo


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Causal moving average over the last `window` frames (fewer at the start); NaN propagates to its window."""
    x = np.asarray(x, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, x.size + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def cycle_frames(x: np.ndarray, amplitude: float) -> np.ndarray:
    """Frames at which a movement cycle is confirmed: the signal rose by >= `amplitude` from a trough and then fell
    by >= `amplitude` from the peak. Causal (a cycle counts when its fall completes); NaN frames are skipped."""
    events = []
    low = high = None
    rising_done = False
    for i, v in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        if v != v:  # NaN
            continue
        if low is None:
            low = high = v
            continue
        if not rising_done:
            if v < low:
                low = v
            if v - low >= amplitude:
                rising_done, high = True, v
        else:
            if v > high:
                high = v
            if high - v >= amplitude:
                events.append(i)
                rising_done, low = False, v
    return np.asarray(events, dtype=np.int64)


def seen_median(x: np.ndarray) -> np.ndarray:
    """Each column's median over its seen (non-NaN) rows of `x` (rows, columns); NaN for a column never seen:
    np.nanmedian's values without the RuntimeWarning it prints for an all-NaN column (np.errstate does not silence
    that one), which would reach a service's log."""
    out = np.full(x.shape[1], np.nan)
    seen = (~np.isnan(x)).any(axis=0)
    if seen.any():
        out[seen] = np.nanmedian(x[:, seen], axis=0)
    return out
