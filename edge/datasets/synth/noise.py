"""Slow random drift for synthetic data: the micro-motion of held postures (`edge/datasets/synth/motion.py`) and
the correlated wobble of 2D keypoints (`edge/datasets/synth/camera.py`) are the same low-passed noise."""

from __future__ import annotations

import numpy as np

from edge.signals import butterworth_lowpass


def correlated_noise(rng: np.random.Generator, shape: tuple, fps: float, cutoff_hz: float) -> np.ndarray:
    """Unit-variance noise low-passed along axis 0 (frame to frame correlated)."""
    white = rng.normal(size=shape)
    if shape[0] < 3:
        return white
    low = butterworth_lowpass(white.reshape(shape[0], -1), fps, cutoff_hz)
    return (low / np.maximum(low.std(axis=0), 1e-9)).reshape(shape)


__all__ = ["correlated_noise"]
