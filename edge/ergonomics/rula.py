"""RULA (McAtamney & Corlett 1993), vectorised over frames.

`rula_scores(RulaInput(...))` scores one worksheet or a whole video at once: every field is array-like, all fields are
broadcast to one shape (scalars broadcast), and every returned array has that shape (0-d when all fields are scalars).
Table lookups are numpy fancy indexing into the tables of `edge/data/ergonomics.json`; there is no loop over frames.

Angles are in degrees; negative flexion means extension.

Boundary convention: a value exactly on a band boundary belongs to the less severe band; the next band starts
strictly above it (e.g. neck flexion 10 -> 1, 10.001 -> 2; load 2 kg -> the 2-10 kg band, 10 kg too, 10.001 -> >10).

    upper arm   -20 <= a <= 20 -> 1; a < -20 or 20 < a <= 45 -> 2; 45 < a <= 90 -> 3; a > 90 -> 4;
                +1 if the shoulder is raised, +1 if abducted, -1 if supported; clamp 1..6
    lower arm   60 <= a <= 100 -> 1 else 2; +1 if working across the midline or out to the side (max 3)
    wrist       exactly 0 -> 1; 0 < |a| <= 15 -> 2; |a| > 15 -> 3; +1 if deviated (max 4)
    wrist twist mid-range 1, at or near the end of the range 2
    neck        0 <= a <= 10 -> 1; 10 < a <= 20 -> 2; a > 20 -> 3; a < 0 (extension) -> 4;
                +1 twisted, +1 side bent (max 6)
    trunk       seated and well supported -> 1 whatever the angle; otherwise exactly 0 -> 1; 0 < |a| <= 20 -> 2;
                20 < |a| <= 60 -> 3; |a| > 60 -> 4; +1 twisted, +1 side bent (max 6).
                The original gives no band for trunk extension; it is scored by magnitude like flexion, which is
                the conservative choice (an extended trunk never scores lower than the same flexion).
    legs        supported and balanced 1, else 2
    muscle use  +1 for group A (arm) and, separately, +1 for group B (body)
    force/load  (original wording; the same score is added to C and D) shock -> 3; else kg < 2 -> 0;
                2 <= kg <= 10: intermittent 1, static or repeated 2; kg > 10: intermittent 2, static or repeated 3

Score C = Table A + muscle use (arm) + force; Score D = Table B + muscle use (body) + force. Both are returned
unclamped; the grand score is Table C[min(C, 8) - 1][min(D, 7) - 1], and the action level (1..4) comes from the JSON
`action_levels`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.ergonomics.tables import table_array, tables
from edge.ergonomics.worksheet_fields import (
    ANGLE, KG, ArrayLike, describe, integer_kind, lower_arm_band, prepare_fields, upper_arm_band,
)

LOAD_MODES = ("intermittent", "static", "repeated")


@dataclass(frozen=True, kw_only=True)
class RulaInput:
    """One RULA assessment per element; every field is a scalar or an array (broadcast together).

    Keyword-only. The five segment angles are required; the other fields default to the least severe value
    (no adjustments, wrist twist mid-range, legs supported, no muscle use, no load, intermittent, no shock).
    """

    upper_arm_flexion_deg: ArrayLike
    upper_arm_abducted: ArrayLike = False
    shoulder_raised: ArrayLike = False
    arm_supported: ArrayLike = False
    lower_arm_flexion_deg: ArrayLike
    lower_arm_across_midline_or_out_to_side: ArrayLike = False
    wrist_flexion_deg: ArrayLike
    wrist_deviated: ArrayLike = False
    wrist_twist_end: ArrayLike = False  # True: at or near the end of the twisting range
    neck_flexion_deg: ArrayLike
    neck_twisted: ArrayLike = False
    neck_side_bent: ArrayLike = False
    trunk_flexion_deg: ArrayLike
    trunk_twisted: ArrayLike = False
    trunk_side_bent: ArrayLike = False
    trunk_seated_supported: ArrayLike = False
    legs_supported: ArrayLike = True
    muscle_use_arm: ArrayLike = False
    muscle_use_body: ArrayLike = False
    load_kg: ArrayLike = 0.0
    load_mode: ArrayLike = 0  # index into LOAD_MODES: 0 intermittent, 1 static, 2 repeated
    shock: ArrayLike = False


_RULA_KINDS = {
    "upper_arm_flexion_deg": ANGLE,
    "lower_arm_flexion_deg": ANGLE,
    "wrist_flexion_deg": ANGLE,
    "neck_flexion_deg": ANGLE,
    "trunk_flexion_deg": ANGLE,
    "load_kg": KG,
    "load_mode": integer_kind(0, len(LOAD_MODES) - 1),
}  # every other field is a flag


def _upper_arm(a, abducted, raised, supported):
    score = upper_arm_band(a) + abducted + raised.astype(np.int64) - supported
    return np.clip(score, 1, 6)


def _wrist(a, deviated):
    mag = np.abs(a)
    return np.where(a == 0, 1, np.where(mag <= 15, 2, 3)) + deviated


def _neck(a, twisted, side_bent):
    base = np.where(a < 0, 4, np.where(a <= 10, 1, np.where(a <= 20, 2, 3)))
    return base + twisted + side_bent.astype(np.int64)


def _trunk(a, twisted, side_bent, seated_supported):
    mag = np.abs(a)
    by_angle = np.where(a == 0, 1, np.where(mag <= 20, 2, np.where(mag <= 60, 3, 4)))
    base = np.where(seated_supported, 1, by_angle)
    return base + twisted + side_bent.astype(np.int64)


def _force(kg, mode, shock):
    sustained = (mode != 0).astype(np.int64)  # static or repeated
    by_load = np.where(kg < 2, 0, np.where(kg <= 10, 1 + sustained, 2 + sustained))
    return np.where(shock, 3, by_load)


def rula_scores(inp: RulaInput, *, checked: bool = False) -> dict[str, np.ndarray]:
    """All RULA intermediate scores, the grand score and the action level, as int64 arrays of the broadcast shape.
    `checked`: the caller built every field of the right kind and dtype, so they are not checked again
    (`worksheet_fields.prepare_fields`)."""
    f = prepare_fields(inp, _RULA_KINDS, checked)
    upper_arm = _upper_arm(f["upper_arm_flexion_deg"], f["upper_arm_abducted"], f["shoulder_raised"],
                           f["arm_supported"])
    lower_arm = lower_arm_band(f["lower_arm_flexion_deg"]) + f["lower_arm_across_midline_or_out_to_side"]
    wrist = _wrist(f["wrist_flexion_deg"], f["wrist_deviated"])
    wrist_twist = 1 + f["wrist_twist_end"].astype(np.int64)
    neck = _neck(f["neck_flexion_deg"], f["neck_twisted"], f["neck_side_bent"])
    trunk = _trunk(f["trunk_flexion_deg"], f["trunk_twisted"], f["trunk_side_bent"], f["trunk_seated_supported"])
    legs = np.where(f["legs_supported"], 1, 2)
    force = _force(f["load_kg"], f["load_mode"], f["shock"])

    table_a = table_array("rula", "table_a")[upper_arm - 1, lower_arm - 1, (wrist - 1) * 2 + (wrist_twist - 1)]
    table_b = table_array("rula", "table_b")[neck - 1, (trunk - 1) * 2 + (legs - 1)]
    score_c = table_a + f["muscle_use_arm"] + force
    score_d = table_b + f["muscle_use_body"] + force
    grand = table_array("rula", "table_c")[np.minimum(score_c, 8) - 1, np.minimum(score_d, 7) - 1]
    out = {
        "upper_arm": upper_arm, "lower_arm": lower_arm, "wrist": wrist, "wrist_twist": wrist_twist, "neck": neck,
        "trunk": trunk, "legs": legs, "table_a": table_a, "force": force, "score_c": score_c, "table_b": table_b,
        "score_d": score_d, "grand": grand, "action_level": _action_lookup()[grand],
    }
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def score_ranges() -> dict[str, tuple[int, int]]:
    """The lowest and highest value of each item `rula_scores` returns: the bands in the module docstring, the
    published tables' smallest and largest entries, muscle use (0..1) and force (0..3) added to C and D."""
    def table(name: str, add_on: int = 0) -> tuple[int, int]:
        values = table_array("rula", name)
        return int(values.min()), int(values.max()) + add_on

    levels = [band["action_level"] for band in tables()["rula"]["action_levels"]]
    return {"upper_arm": (1, 6), "lower_arm": (1, 3), "wrist": (1, 4), "wrist_twist": (1, 2), "neck": (1, 6),
            "trunk": (1, 6), "legs": (1, 2), "table_a": table("table_a"), "force": (0, 3),
            "score_c": table("table_a", 4), "table_b": table("table_b"), "score_d": table("table_b", 4),
            "grand": table("table_c"), "action_level": (min(levels), max(levels))}


@functools.lru_cache(maxsize=1)
def _action_lookup() -> np.ndarray:
    """Action level indexed by grand score (index 0 unused: -1)."""
    bands = tables()["rula"]["action_levels"]
    levels = np.full(max(b["max"] for b in bands) + 1, -1, dtype=np.int64)
    for band in bands:
        levels[band["min"]: band["max"] + 1] = band["action_level"]
    levels.setflags(write=False)
    return levels


def rula_action_level(grand: ArrayLike) -> np.ndarray:
    """Map RULA grand scores (1..7) to action levels (1..4)."""
    g = np.asarray(grand)
    if g.dtype.kind not in "iu":
        raise InputError(f"RULA grand score: expected integers 1..7, got {describe(g)}")
    lookup = _action_lookup()
    bad = (g < 1) | (g >= len(lookup))
    if bad.any():
        raise InputError(f"RULA grand score: expected integers 1..{len(lookup) - 1}, got {g[bad].flat[0]}")
    return lookup[g]
