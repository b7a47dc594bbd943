"""Revised NIOSH lifting equation, metric (Waters et al., Applications Manual, NIOSH Pub. 94-110).

    RWL = LC * HM * VM * DM * AM * FM * CM        LI = L / RWL        LC = 23 kg

`assess_lift(LiftTask(...))` is the single entry point. It evaluates the lift at the origin (top-level values) and at
the destination (``"destination"``), so a caller that needs significant control at the destination can take the
lower RWL, as the manual asks.

Boundary conventions (the manual gives the ranges but leaves the edges open; these are the choices made here):

- H: H < 25 cm is treated as 25 cm (HM = 1). H = 63 cm exactly is allowed (HM = 25/63); only H > 63 gives HM = 0.
- V: V = 175 cm exactly is allowed (VM = 0.7); only V > 175 gives VM = 0.
- D = |v_dest - v_origin|: D < 25 cm is treated as 25 cm (DM = 1). D = 175 exactly is allowed; only D > 175 gives 0.
- A: A = 135 deg exactly is allowed (AM = 0.568); only A > 135 gives AM = 0.
- V = 75 cm exactly belongs to the "V >= 75" column of the frequency table and of the coupling table.
- F: F < 0.2 lifts/min uses the 0.2 row (with an informational warning). Between table rows FM is interpolated
  linearly in F. A zero cell in the table means the frequency is above the maximum for that duration and V, so FM = 0
  for any F above the last non-zero row of the column (no interpolation towards the zero row). F > 15 always gives 0.
- FM always uses V at the origin (also for the destination evaluation); CM uses V at the point being evaluated;
  HM, DM and AM are the same at both points.
- When RWL is 0, LI is None (undefined) and a warning names the multiplier(s) that are 0.

Values are full-precision floats; the manual's worked examples round multipliers to 2 decimals, so results can
differ from the printed examples by about 0.1 kg.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

from edge.errors import InputError
from edge.ergonomics.tables import tables

_DURATION_COLUMN = {"short": "<=1h", "moderate": "<=2h", "long": "<=8h"}
_COUPLINGS = ("good", "fair", "poor")

_H_MIN, _H_MAX = 25.0, 63.0
_V_OPTIMAL, _V_MAX = 75.0, 175.0
_D_MIN, _D_MAX = 25.0, 175.0
_A_MAX = 135.0
_F_MIN = 0.2


@dataclass(frozen=True)
class LiftTask:
    """One lift. Distances in cm, asymmetry in degrees, frequency in lifts per minute.

    duration: "short" (<=1 h), "moderate" (1-2 h) or "long" (2-8 h); coupling: "good", "fair" or "poor".
    """

    load_kg: float
    h_cm: float
    v_origin_cm: float
    v_dest_cm: float
    asymmetry_deg: float
    frequency_per_min: float
    duration: str
    coupling: str

    def __post_init__(self) -> None:
        for name in ("load_kg", "h_cm", "v_origin_cm", "v_dest_cm", "asymmetry_deg", "frequency_per_min"):
            value = getattr(self, name)
            # bool is an int subclass, but True as a distance is a caller bug, not a number.
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise InputError(f"LiftTask.{name} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise InputError(f"LiftTask.{name} must be finite, got {value!r}")
            if value < 0:
                raise InputError(f"LiftTask.{name} must be >= 0, got {value:g}")
            # Store plain floats so numpy scalars or ints behave identically downstream.
            object.__setattr__(self, name, value)
        if not isinstance(self.duration, str) or self.duration not in _DURATION_COLUMN:
            raise InputError(f"LiftTask.duration must be one of short, moderate, long; got {self.duration!r}")
        if not isinstance(self.coupling, str) or self.coupling not in _COUPLINGS:
            raise InputError(f"LiftTask.coupling must be one of good, fair, poor; got {self.coupling!r}")


def _v_band(v_cm: float) -> int:
    """0 for V < 75 cm, 1 for V >= 75 cm (index into the coupling values and the table's column pairs)."""
    return 0 if v_cm < _V_OPTIMAL else 1


def _v_band_label(v_cm: float) -> str:
    return "V<75" if v_cm < _V_OPTIMAL else "V>=75"


@functools.lru_cache(maxsize=1)
def _frequency_table() -> tuple[tuple[str, ...], tuple[tuple[float, tuple[float, ...]], ...]]:
    """Column names and (F, row) pairs sorted by F; the JSON keys rows by F as strings."""
    fm = tables()["niosh"]["frequency_multiplier"]
    rows = sorted((float(f), tuple(float(x) for x in vals)) for f, vals in fm["rows"].items())
    return tuple(fm["columns"]), tuple(rows)


def _horizontal_multiplier(h_cm: float, warnings: list[str]) -> float:
    if h_cm > _H_MAX:
        warnings.append(f"horizontal distance H={h_cm:g} cm > {_H_MAX:g} cm: HM = 0")
        return 0.0
    # Closer than 25 cm is physically hard to reach, so the manual caps HM at 1.
    return _H_MIN / max(h_cm, _H_MIN)


def _vertical_multiplier(v_cm: float, where: str, warnings: list[str]) -> float:
    if v_cm > _V_MAX:
        warnings.append(f"vertical height at {where} V={v_cm:g} cm > {_V_MAX:g} cm: VM = 0")
        return 0.0
    return 1.0 - 0.003 * abs(v_cm - _V_OPTIMAL)


def _distance_multiplier(v_origin_cm: float, v_dest_cm: float, warnings: list[str]) -> float:
    d = abs(v_dest_cm - v_origin_cm)
    if d > _D_MAX:
        warnings.append(f"vertical travel distance D={d:g} cm > {_D_MAX:g} cm: DM = 0")
        return 0.0
    # Short travel is not credited beyond DM = 1, hence the 25 cm floor.
    return 0.82 + 4.5 / max(d, _D_MIN)


def _asymmetric_multiplier(a_deg: float, warnings: list[str]) -> float:
    if a_deg > _A_MAX:
        warnings.append(f"asymmetry angle A={a_deg:g} deg > {_A_MAX:g} deg: AM = 0")
        return 0.0
    return 1.0 - 0.0032 * a_deg


def _frequency_multiplier(f: float, duration: str, v_origin_cm: float, warnings: list[str]) -> float:
    columns, rows = _frequency_table()
    col = columns.index(f"{_DURATION_COLUMN[duration]},{_v_band_label(v_origin_cm)}")
    points = [(rf, vals[col]) for rf, vals in rows]
    # A zero cell marks a frequency above the physiological maximum for this column; everything above the last
    # non-zero row is out of range (this also covers F > 15, where the table ends).
    f_max = max(rf for rf, value in points if value > 0.0)
    band = "V < 75 cm" if v_origin_cm < _V_OPTIMAL else "V >= 75 cm"
    if f > f_max:
        warnings.append(
            f"frequency {f:g}/min exceeds the maximum {f_max:g}/min for {duration} duration at {band} "
            f"(origin V={v_origin_cm:g} cm): FM = 0"
        )
        return 0.0
    if f < _F_MIN:
        warnings.append(f"frequency {f:g}/min < {_F_MIN:g}/min: the {_F_MIN:g}/min row is used (info)")
        f = _F_MIN
    exact = dict(points)
    if f in exact:
        return exact[f]  # table rows come back unchanged, free of interpolation rounding
    for (f0, m0), (f1, m1) in zip(points, points[1:]):
        if f0 < f < f1:
            return m0 + (f - f0) / (f1 - f0) * (m1 - m0)
    raise AssertionError(f"unreachable: F={f} outside the table after range checks")


def _coupling_multiplier(coupling: str, v_cm: float) -> float:
    return float(tables()["niosh"]["coupling_multiplier"]["values"][coupling][_v_band(v_cm)])


def _evaluate(load_kg: float, multipliers: dict[str, float], where: str, warnings: list[str]) -> dict:
    rwl = float(tables()["niosh"]["load_constant_kg"])
    for value in multipliers.values():
        rwl *= value
    if rwl == 0.0:
        zero = ", ".join(f"{k.upper()} = 0" for k, v in multipliers.items() if v == 0.0)
        warnings.append(f"LI at {where} is undefined because RWL is 0 ({zero})")
        li = None
    else:
        li = load_kg / rwl
    return {"rwl_kg": rwl, "li": li, "multipliers": multipliers}


def assess_lift(task: LiftTask) -> dict:
    """RWL, LI and multipliers at the origin (top level) and at the destination (``"destination"``).

    Returns ``{"method": "niosh", "rwl_kg", "li", "multipliers": {hm, vm, dm, am, fm, cm}, "warnings",
    "destination": {"rwl_kg", "li", "multipliers"}}``; ``li`` is None when RWL is 0.
    """
    if not isinstance(task, LiftTask):
        raise InputError(f"assess_lift expects a LiftTask, got {type(task).__name__}")
    warnings: list[str] = []
    # HM, DM, AM and FM are shared by both points, so each of their warnings is emitted once.
    hm = _horizontal_multiplier(task.h_cm, warnings)
    dm = _distance_multiplier(task.v_origin_cm, task.v_dest_cm, warnings)
    am = _asymmetric_multiplier(task.asymmetry_deg, warnings)
    # The manual reads the frequency table with V at the origin, for the destination too.
    fm = _frequency_multiplier(task.frequency_per_min, task.duration, task.v_origin_cm, warnings)

    def multipliers_at(v_cm: float, where: str) -> dict[str, float]:
        vm = _vertical_multiplier(v_cm, where, warnings)
        cm = _coupling_multiplier(task.coupling, v_cm)
        return {"hm": hm, "vm": vm, "dm": dm, "am": am, "fm": fm, "cm": cm}

    origin = _evaluate(task.load_kg, multipliers_at(task.v_origin_cm, "origin"), "origin", warnings)
    destination = _evaluate(task.load_kg, multipliers_at(task.v_dest_cm, "destination"), "destination", warnings)
    return {
        "method": "niosh",
        "rwl_kg": origin["rwl_kg"],
        "li": origin["li"],
        "multipliers": origin["multipliers"],
        "warnings": warnings,
        "destination": destination,
    }
