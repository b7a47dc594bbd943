"""Lifts for the shift report: each lift the scorer counts, and its NIOSH lifting index where the load is configured.

The per-frame metric `lifts_per_min` counts the lifts that began in the last 60 s: trunk-flexion cycles
(`edge.scoring.stream`) or, with an activity model that has lift classes, its lift segments (`runtime.activity`).
`LiftCounter` turns that rolling count back into single lifts: it keeps its own list of the lifts it has seen in
the last minute, drops the oldest when the count falls (a lift left the window) and adds one lift at the current
time for every one the count rose by. A lift leaving the window in the very frame another arrives is missed; at a
few lifts a minute and 30 frames a second that is rare, and the exposure's lift count says so by being a lower bound.

NIOSH (`lift_index`): the revised lifting equation (`edge.ergonomics.niosh`) needs the hands' horizontal distance H
from the ankles' midpoint, their height V above the floor at the origin and the destination, the asymmetry angle,
the frequency, the duration category and the coupling. From the pose: the hands are the wrists' midpoint, the floor
is `ANKLE_HEIGHT_M` below the lower ankle. A lift is placed `SETTLE_S` after it was counted, since the counters count
at different moments of it (a trunk-flexion cycle once the person has straightened again, the activity model
`lift_min_s` into the lift segment): the origin is where the hands were lowest from `ORIGIN_WINDOW_S` before the
count to `SETTLE_S` after it, the destination where they were highest after the origin in that window. The
asymmetry is the angle between the hands' direction and the body's forward direction (at right angles to the hip line,
on the floor plane); 2D-only poses cannot see it and give 0. The frequency is the person's current `lifts_per_min`; the
duration category is `DURATION` ("long", 2-8 h: a camera cannot see the recovery pattern that would justify a shorter
one, and long is the conservative choice).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

# The ankle joint centre sits about this far above the floor (adult lateral malleolus height).
ANKLE_HEIGHT_M = 0.08
ORIGIN_WINDOW_S = 4.0
SETTLE_S = 2.0
DURATION = "long"
# REBA's coupling classes to NIOSH's: NIOSH has no "unacceptable", its worst class is poor.
NIOSH_COUPLING = {"good": "good", "fair": "fair", "poor": "poor", "unacceptable": "poor"}
_WINDOW_S = 60.0
_JOINTS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "left_hip", "right_hip")
# The hands' positions are kept at most this often: a lift takes a second or more, and the lowest point of 10
# samples a second is within centimetres of the lowest of 30.
GEOMETRY_EVERY_S = 0.1


class LiftCounter:
    """Single lifts from one person's rolling `lifts_per_min` (module doc)."""

    def __init__(self):
        self._times: deque[float] = deque()

    def update(self, t: float, lifts_per_min: float | None) -> int:
        """How many lifts began in this frame (0 while the count is unknown)."""
        if lifts_per_min is None or lifts_per_min != lifts_per_min:
            return 0
        while self._times and self._times[0] <= t - _WINDOW_S:
            self._times.popleft()
        count = max(int(round(lifts_per_min)), 0)
        while len(self._times) > count:  # the scorer's own window let a lift go before ours did
            self._times.popleft()
        new = count - len(self._times)
        self._times.extend([t] * new)
        return new


def _dot(a, b) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _minus(a, b) -> tuple[float, float, float]:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


def _flat(a, u) -> tuple[float, float, float]:
    """`a` without its component along the unit vector `u` (onto the floor plane)."""
    k = _dot(a, u)
    return a[0] - k * u[0], a[1] - k * u[1], a[2] - k * u[2]


def hand_geometry(joints: np.ndarray, names: tuple[str, ...], up: np.ndarray, planar: bool) -> tuple | None:
    """(H cm, V cm, asymmetry deg) of the hands, from joints (J, 3) in metres named `names`; None when a wrist,
    ankle or hip is not seen. Plain float arithmetic: a few 3-vectors, where numpy's per-call cost would dominate
    (it runs every GEOMETRY_EVERY_S for every person)."""
    try:
        p = {n: joints[names.index(n)].tolist() for n in _JOINTS}
    except ValueError:
        return None
    if not all(math.isfinite(v) for xyz in p.values() for v in xyz):
        return None
    norm = math.sqrt(_dot(up, up))
    u = (up[0] / norm, up[1] / norm, up[2] / norm)
    lw, rw, la, ra = p["left_wrist"], p["right_wrist"], p["left_ankle"], p["right_ankle"]
    hands = ((lw[0] + rw[0]) / 2, (lw[1] + rw[1]) / 2, (lw[2] + rw[2]) / 2)
    ankles = ((la[0] + ra[0]) / 2, (la[1] + ra[1]) / 2, (la[2] + ra[2]) / 2)
    v_m = _dot(hands, u) - (min(_dot(la, u), _dot(ra, u)) - ANKLE_HEIGHT_M)
    flat = _flat(_minus(hands, ankles), u)
    h_m = math.sqrt(_dot(flat, flat))
    asym = 0.0
    hips = _flat(_minus(p["right_hip"], p["left_hip"]), u)
    hips_len = math.sqrt(_dot(hips, hips))
    if not planar and hips_len > 1e-6 and h_m > 1e-6:
        # Forward is at right angles to the hips on the floor plane (u x hips); its sign is unknown from the hips
        # alone, so the hands' side is taken as the front.
        forward = (u[1] * hips[2] - u[2] * hips[1], u[2] * hips[0] - u[0] * hips[2], u[0] * hips[1] - u[1] * hips[0])
        cos = abs(_dot(flat, forward)) / (math.sqrt(_dot(forward, forward)) * h_m)
        asym = math.degrees(math.acos(min(cos, 1.0)))
    return h_m * 100.0, max(v_m * 100.0, 0.0), asym


class LiftGeometry:
    """One person's recent hand geometry (the last ORIGIN_WINDOW_S + SETTLE_S), to place counted lifts."""

    def __init__(self):
        self._recent: deque[tuple[float, float, float, float]] = deque()
        self.next_t = -math.inf  # when the next sample is due (GEOMETRY_EVERY_S)

    def add(self, t: float, geometry: tuple | None) -> None:
        self.next_t = t + GEOMETRY_EVERY_S - 1e-6
        if geometry is not None:
            self._recent.append((t, *geometry))
        while self._recent and self._recent[0][0] < t - ORIGIN_WINDOW_S - SETTLE_S:
            self._recent.popleft()

    def lift(self, counted_t: float) -> tuple[float, float, float, float] | None:
        """For the lift counted at `counted_t`: (H cm at the origin, V origin cm, V destination cm, asymmetry deg
        at the origin), or None if the hands were not seen then."""
        window = [r for r in self._recent if counted_t - ORIGIN_WINDOW_S <= r[0] <= counted_t + SETTLE_S]
        if not window:
            return None
        low = min(range(len(window)), key=lambda i: window[i][2])
        origin = window[low]
        return origin[1], origin[2], max(r[2] for r in window[low:]), origin[3]


def lift_index(load_kg: float, geometry: tuple[float, float, float, float], frequency_per_min: float,
               coupling: str) -> dict:
    """NIOSH for one lift: {"li", "rwl_kg", "h_cm", "v_origin_cm", "v_dest_cm", "asymmetry_deg"}; li is None
    where RWL is 0 (a multiplier outside the equation's range, e.g. H over 63 cm)."""
    from edge.ergonomics.niosh import LiftTask, assess_lift

    h, v0, v1, a = geometry
    result = assess_lift(LiftTask(load_kg=load_kg, h_cm=h, v_origin_cm=v0, v_dest_cm=v1, asymmetry_deg=a,
                                  frequency_per_min=max(frequency_per_min, 0.0), duration=DURATION,
                                  coupling=NIOSH_COUPLING.get(coupling, "poor")))
    return {"li": result["li"], "rwl_kg": result["rwl_kg"], "h_cm": h, "v_origin_cm": v0, "v_dest_cm": v1,
            "asymmetry_deg": a}


def li_band(li: float | None) -> str:
    """The NIOSH interpretation band of a lifting index (manual p. 20): "li_le_1" (the design goal), "li_1_to_3"
    (increased risk for some workers) or "li_over_3" (nearly all workers; also RWL 0, li None)."""
    if li is None:
        return "li_over_3"
    return "li_le_1" if li <= 1.0 else "li_1_to_3" if li <= 3.0 else "li_over_3"
