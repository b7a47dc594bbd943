"""Time-series helpers in plain numpy: zero-phase Butterworth low-pass, trailing windows, cycle counting.

numpy only on purpose: importing scipy.signal costs about a second (it pulls in scipy.stats), which is half the
time budget for scoring a 10,000-frame sequence.
"""

from __future__ import annotations

import numpy as np


def butterworth_lowpass(x: np.ndarray, fps: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase low-pass along axis 0 with the gain of a forward-backward Butterworth filter of `order`.

    Forward-backward filtering (filtfilt) of a Butterworth filter has gain |H(f)|^2 = 1 / (1 + (f/fc)^(2 order))
    and zero phase; that gain is applied here in the frequency domain. The ends are padded with an odd reflection
    (as filtfilt does) so a sequence does not wrap around onto itself. Columns must be finite.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 3:
        return x.copy()
    pad = min(n - 1, max(3 * order, int(round(2.0 * fps / cutoff_hz))))
    head = 2.0 * x[:1] - x[pad:0:-1]
    tail = 2.0 * x[-1:] - x[-2:-pad - 2:-1]
    padded = np.concatenate([head, x, tail], axis=0)
    m = padded.shape[0]
    # The FFT treats the signal as periodic: take out the straight line through its ends so the wrap is seamless
    # (a line passes a low-pass unchanged), filter the rest, put the line back.
    ramp = np.linspace(0.0, 1.0, m).reshape((-1,) + (1,) * (x.ndim - 1))
    line = padded[:1] + (padded[-1:] - padded[:1]) * ramp
    freqs = np.fft.rfftfreq(m, d=1.0 / fps)
    gain = 1.0 / (1.0 + (freqs / cutoff_hz) ** (2 * order))
    spectrum = np.fft.rfft(padded - line, axis=0)
    spectrum *= gain.reshape((-1,) + (1,) * (x.ndim - 1))
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
