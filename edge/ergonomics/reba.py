"""REBA (Hignett & McAtamney 2000), vectorised over frames.

`reba_scores(RebaInput(...))` scores one worksheet or a whole video at once: every field is array-like, all fields are
broadcast to one shape (scalars broadcast), and every returned array has that shape (0-d when all fields are scalars).
Table lookups are numpy fancy indexing into the tables of `edge/data/ergonomics.json`; there is no loop over frames.

Angles are in degrees; negative flexion means extension.

Boundary convention: a value exactly on a band boundary belongs to the less severe band; the next band starts
strictly above it (e.g. trunk flexion 20 -> 2, 20.001 -> 3; load 5 kg -> 1, 10 kg -> 1, 10.001 kg -> 2).

    trunk       0 -> 1; 0 < |a| <= 20 -> 2; 20 < a <= 60 or a < -20 -> 3; a > 60 -> 4;
                +1 if twisted or side bent (a single +1 even if both, as in the original text; max 5)
    neck        0 <= a <= 20 -> 1; a > 20 or a < 0 (extension) -> 2; +1 if twisted or side bent (max 3)
    legs        bilateral support -> 1 else 2; knee flexion 30 < k <= 60 -> +1, k > 60 -> +2 (max 4).
                The caller passes the larger of the two knee angles.
    upper arm   -20 <= a <= 20 -> 1; a < -20 or 20 < a <= 45 -> 2; 45 < a <= 90 -> 3; a > 90 -> 4;
                +1 if abducted or rotated (one +1), +1 if the shoulder is raised, -1 if supported; clamp 1..6
    lower arm   60 <= a <= 100 -> 1 else 2
    wrist       |a| <= 15 -> 1 else 2; +1 if deviated or twisted (max 3)
    load        kg < 5 -> 0; 5 <= kg <= 10 -> 1; kg > 10 -> 2; +1 if shock
    coupling    0 good, 1 fair, 2 poor, 3 unacceptable, added to Table B
    activity    +1 each for static, repeated, rapid change, added to Table C

Score A = Table A + load (<= 9 + 3 = 12); Score B = Table B + coupling (<= 9 + 3 = 12); total = Table C + activity,
1..15; action level and risk name from the JSON `risk_levels`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from edge.errors import InputError
from edge.ergonomics.tables import table_array, tables
from edge.ergonomics.worksheet_fields import (
    ANGLE, KG, ArrayLike, describe, integer_kind, lower_arm_band, prepare_fields, upper_arm_band,
)

COUPLING = ("good", "fair", "poor", "unacceptable")


@dataclass(frozen=True, kw_only=True)
class RebaInput:
    """One REBA assessment per element; every field is a scalar or an array (broadcast together).

    Keyword-only. The five segment angles are required; the other fields default to the least severe value
    (no twist/bend/abduction, bilateral support, knees straight, no load, good coupling, no activity add-ons).
    """

    neck_flexion_deg: ArrayLike
    neck_twisted: ArrayLike = False
    neck_side_bent: ArrayLike = False
    trunk_flexion_deg: ArrayLike
    trunk_twisted: ArrayLike = False
    trunk_side_bent: ArrayLike = False
    bilateral_support: ArrayLike = True
    knee_flexion_deg: ArrayLike = 0.0  # the larger of the two knees
    upper_arm_flexion_deg: ArrayLike
    upper_arm_abducted: ArrayLike = False
    upper_arm_rotated: ArrayLike = False
    shoulder_raised: ArrayLike = False
    arm_supported: ArrayLike = False
    lower_arm_flexion_deg: ArrayLike
    wrist_flexion_deg: ArrayLike
    wrist_deviated_or_twisted: ArrayLike = False
    load_kg: ArrayLike = 0.0
    shock: ArrayLike = False
    coupling: ArrayLike = 0  # index into COUPLING: 0 good, 1 fair, 2 poor, 3 unacceptable
    activity_static: ArrayLike = False
    activity_repeated: ArrayLike = False
    activity_rapid_change: ArrayLike = False


_REBA_KINDS = {
    "neck_flexion_deg": ANGLE,
    "trunk_flexion_deg": ANGLE,
    "upper_arm_flexion_deg": ANGLE,
    "lower_arm_flexion_deg": ANGLE,
    "wrist_flexion_deg": ANGLE,
    "knee_flexion_deg": ANGLE,
    "load_kg": KG,
    "coupling": integer_kind(0, len(COUPLING) - 1),
}  # every other field is a flag


def _neck(a, twisted, side_bent):
    base = np.where((a >= 0) & (a <= 20), 1, 2)
    return base + (twisted | side_bent)


def _trunk(a, twisted, side_bent):
    mag = np.abs(a)
    # 3 covers both 20 < a <= 60 and extension beyond -20
    base = np.where(a == 0, 1, np.where(mag <= 20, 2, np.where(a > 60, 4, 3)))
    return base + (twisted | side_bent)


def _legs(bilateral, knee):
    base = np.where(bilateral, 1, 2)
    return base + (knee > 30) + (knee > 60).astype(np.int64)  # +1 above 30, +2 above 60


def _upper_arm(a, abducted, rotated, raised, supported):
    score = upper_arm_band(a) + (abducted | rotated) + raised.astype(np.int64) - supported
    return np.clip(score, 1, 6)


def _wrist(a, deviated_or_twisted):
    return np.where(np.abs(a) <= 15, 1, 2) + deviated_or_twisted


def _load(kg, shock):
    return (kg >= 5) + (kg > 10).astype(np.int64) + shock


def reba_scores(inp: RebaInput, *, checked: bool = False) -> dict[str, np.ndarray]:
    """All REBA intermediate scores, the total and the action level, as int64 arrays of the broadcast shape.
    `checked`: the caller built every field of the right kind and dtype, so they are not checked again
    (`worksheet_fields.prepare_fields`)."""
    f = prepare_fields(inp, _REBA_KINDS, checked)
    neck = _neck(f["neck_flexion_deg"], f["neck_twisted"], f["neck_side_bent"])
    trunk = _trunk(f["trunk_flexion_deg"], f["trunk_twisted"], f["trunk_side_bent"])
    legs = _legs(f["bilateral_support"], f["knee_flexion_deg"])
    upper_arm = _upper_arm(
        f["upper_arm_flexion_deg"], f["upper_arm_abducted"], f["upper_arm_rotated"],
        f["shoulder_raised"], f["arm_supported"],
    )
    lower_arm = lower_arm_band(f["lower_arm_flexion_deg"])
    wrist = _wrist(f["wrist_flexion_deg"], f["wrist_deviated_or_twisted"])

    table_a = table_array("reba", "table_a")[neck - 1, trunk - 1, legs - 1]
    score_a = table_a + _load(f["load_kg"], f["shock"])
    table_b = table_array("reba", "table_b")[lower_arm - 1, upper_arm - 1, wrist - 1]
    score_b = table_b + f["coupling"]
    # Both are <= 12 by construction (Table A/B max 9, add-ons max 3); the clamp only guards a future table edit.
    table_c = table_array("reba", "table_c")[np.minimum(score_a, 12) - 1, np.minimum(score_b, 12) - 1]
    activity = (
        f["activity_static"].astype(np.int64) + f["activity_repeated"] + f["activity_rapid_change"]
    )
    total = table_c + activity
    out = {
        "neck": neck, "trunk": trunk, "legs": legs, "upper_arm": upper_arm, "lower_arm": lower_arm, "wrist": wrist,
        "table_a": table_a, "score_a": score_a, "table_b": table_b, "score_b": score_b, "table_c": table_c,
        "total": total, "action_level": _risk_lookup()[0][total],
    }
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def score_ranges() -> dict[str, tuple[int, int]]:
    """The lowest and highest value of each item `reba_scores` returns: the bands in the module docstring, the
    published tables' smallest and largest entries, and the add-ons (load, coupling, activity: 0..3 each)."""
    def table(name: str, add_on: int = 0) -> tuple[int, int]:
        values = table_array("reba", name)
        return int(values.min()), int(values.max()) + add_on

    levels = [band.action_level for band in risk_bands()]
    return {"neck": (1, 3), "trunk": (1, 5), "legs": (1, 4), "upper_arm": (1, 6), "lower_arm": (1, 2),
            "wrist": (1, 3), "table_a": table("table_a"), "score_a": table("table_a", 3), "table_b": table("table_b"),
            "score_b": table("table_b", 3), "table_c": table("table_c"), "total": table("table_c", 3),
            "action_level": (min(levels), max(levels))}


class RiskBand(NamedTuple):
    """One of REBA's published risk levels: totals `low`..`high` are `name` risk, at `action_level`."""

    name: str
    low: int
    high: int
    action_level: int


@functools.lru_cache(maxsize=1)
def risk_bands() -> tuple[RiskBand, ...]:
    """REBA's risk levels, lowest first: the one place they are read from the published table."""
    return tuple(RiskBand(b["risk"], b["min"], b["max"], b["action_level"]) for b in tables()["reba"]["risk_levels"])


def risk_band(score: float | None) -> RiskBand | None:
    """The risk level of one REBA score, or None when the score is unknown (None, NaN, inf) or not 1..15. A
    smoothed, non-integer score counts in the band of its nearest integer (halves round up)."""
    if score is None or not math.isfinite(score):
        return None
    nearest = math.floor(score + 0.5)
    return next((band for band in risk_bands() if band.low <= nearest <= band.high), None)


@functools.lru_cache(maxsize=1)
def _risk_lookup() -> tuple[np.ndarray, np.ndarray]:
    """Action level and risk name indexed by REBA total (index 0 unused: -1 / "")."""
    levels = np.full(16, -1, dtype=np.int64)
    names = np.full(16, "", dtype=object)
    for band in risk_bands():
        levels[band.low: band.high + 1] = band.action_level
        names[band.low: band.high + 1] = band.name
    for arr in (levels, names):
        arr.setflags(write=False)
    return levels, names


def reba_risk(total: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Map REBA totals (1..15) to (action level 0..4 as int64, risk name such as "medium" as an object array)."""
    t = np.asarray(total)
    if t.dtype.kind not in "iu":
        raise InputError(f"REBA total: expected integers 1..15, got {describe(t)}")
    bad = (t < 1) | (t > 15)
    if bad.any():
        raise InputError(f"REBA total: expected integers 1..15, got {t[bad].flat[0]}")
    levels, names = _risk_lookup()
    return levels[t], names[t]
