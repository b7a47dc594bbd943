"""Keyframe tracks of a synthetic recording, eased into each other with a smooth step.

Every `edge.datasets.synth.posing.Posture` field is a track, plus the body's floor position (x, y). The smooth
step gives continuous velocity, so segments join without jerks; the activity programs
(`edge/datasets/synth/programs.py`) add the keys and `edge/datasets/synth/motion.py` samples them per frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edge.datasets.synth.posing import Posture

POSTURE_FIELDS = tuple(f.name for f in dataclasses.fields(Posture))
TRACKS = POSTURE_FIELDS + ("x", "y")  # x, y: position of the body on the floor, metres


class Timeline:
    """Per-track keys (time, value); tracks are eased independently so heading, position and posture can have
    keys at different instants."""

    def __init__(self):
        self.keys: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in TRACKS}

    def add(self, t: float, values: dict) -> None:
        """Key each named track at `t` (seconds from the recording's start)."""
        for name, value in values.items():
            times, vals = self.keys[name]
            if times and t <= times[-1] + 1e-3:  # same instant: the later key wins
                vals[-1] = float(value)
            else:
                times.append(float(t))
                vals.append(float(value))

    def hold(self, t: float) -> None:
        """Repeat every track's last key at `t`, so that the next segment's transition starts from here."""
        self.add(t, {name: vals[-1] for name, (_, vals) in self.keys.items() if vals})

    def sample(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Every track at the times `t`, smooth-stepped between keys and held before the first and after the last."""
        out = {}
        for name, (times, vals) in self.keys.items():
            times, vals = np.asarray(times), np.asarray(vals)
            if times.size == 1:
                out[name] = np.full(t.shape, vals[0])
                continue
            i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.size - 2)
            s = np.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
            out[name] = vals[i] + (vals[i + 1] - vals[i]) * (s * s * (3.0 - 2.0 * s))
        return out


__all__ = ["POSTURE_FIELDS", "TRACKS", "Timeline"]
