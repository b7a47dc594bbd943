"""RULA engine: every table cell, both sides of every boundary, C/D clamping, worked examples, vectorisation."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from edge.ergonomics.rula import LOAD_MODES, RulaInput, rula_action_level, rula_scores
from edge.errors import InputError
from edge.ergonomics.tables import table_array

import published_tables  # tests/ is on sys.path under pytest

# The published tables, not the engine's data file: a wrong cell there fails these tests.
TABLE_A = np.array(published_tables.RULA_TABLE_A)
TABLE_B = np.array(published_tables.RULA_TABLE_B)
TABLE_C = np.array(published_tables.RULA_TABLE_C)

# Every part scores 1 (wrist exactly 0 -> 1), no force: Table A = Table B = grand = 1.
NEUTRAL = dict(
    upper_arm_flexion_deg=0.0, lower_arm_flexion_deg=80.0, wrist_flexion_deg=0.0, neck_flexion_deg=5.0,
    trunk_flexion_deg=0.0,
)

# Postures that produce each part score (used to reach every table cell).
UPPER_ARM = {1: dict(upper_arm_flexion_deg=0.0), 2: dict(upper_arm_flexion_deg=30.0),
             3: dict(upper_arm_flexion_deg=60.0), 4: dict(upper_arm_flexion_deg=100.0),
             5: dict(upper_arm_flexion_deg=100.0, shoulder_raised=True),
             6: dict(upper_arm_flexion_deg=100.0, shoulder_raised=True, upper_arm_abducted=True)}
LOWER_ARM = {1: dict(lower_arm_flexion_deg=80.0), 2: dict(lower_arm_flexion_deg=50.0),
             3: dict(lower_arm_flexion_deg=50.0, lower_arm_across_midline_or_out_to_side=True)}
WRIST = {1: dict(wrist_flexion_deg=0.0), 2: dict(wrist_flexion_deg=10.0), 3: dict(wrist_flexion_deg=20.0),
         4: dict(wrist_flexion_deg=20.0, wrist_deviated=True)}
TWIST = {1: dict(wrist_twist_end=False), 2: dict(wrist_twist_end=True)}
NECK = {1: dict(neck_flexion_deg=5.0), 2: dict(neck_flexion_deg=15.0), 3: dict(neck_flexion_deg=25.0),
        4: dict(neck_flexion_deg=-5.0), 5: dict(neck_flexion_deg=-5.0, neck_twisted=True),
        6: dict(neck_flexion_deg=-5.0, neck_twisted=True, neck_side_bent=True)}
TRUNK = {1: dict(trunk_flexion_deg=0.0), 2: dict(trunk_flexion_deg=10.0), 3: dict(trunk_flexion_deg=30.0),
         4: dict(trunk_flexion_deg=70.0), 5: dict(trunk_flexion_deg=70.0, trunk_twisted=True),
         6: dict(trunk_flexion_deg=70.0, trunk_twisted=True, trunk_side_bent=True)}
LEGS = {1: dict(legs_supported=True), 2: dict(legs_supported=False)}
FORCE = {0: dict(load_kg=0.0), 1: dict(load_kg=5.0, load_mode=0), 2: dict(load_kg=5.0, load_mode=1),
         3: dict(shock=True)}


def score(**kw) -> dict[str, int]:
    out = rula_scores(RulaInput(**{**NEUTRAL, **kw}))
    return {k: int(v) for k, v in out.items()}


def test_neutral_posture_scores_one_everywhere():
    assert score() == {"upper_arm": 1, "lower_arm": 1, "wrist": 1, "wrist_twist": 1, "neck": 1, "trunk": 1,
                       "legs": 1, "table_a": 1, "force": 0, "score_c": 1, "table_b": 1, "score_d": 1, "grand": 1,
                       "action_level": 1}


# ---------------------------------------------------------------------------------------------- boundaries
EPS = 1e-6
BOUNDARIES = [
    # upper arm: -20 <= a <= 20 -> 1; a < -20 or 20 < a <= 45 -> 2; 45 < a <= 90 -> 3; a > 90 -> 4
    (dict(upper_arm_flexion_deg=-20.0), "upper_arm", 1),
    (dict(upper_arm_flexion_deg=-20 - EPS), "upper_arm", 2),
    (dict(upper_arm_flexion_deg=20.0), "upper_arm", 1),
    (dict(upper_arm_flexion_deg=20 + EPS), "upper_arm", 2),
    (dict(upper_arm_flexion_deg=45.0), "upper_arm", 2),
    (dict(upper_arm_flexion_deg=45 + EPS), "upper_arm", 3),
    (dict(upper_arm_flexion_deg=90.0), "upper_arm", 3),
    (dict(upper_arm_flexion_deg=90 + EPS), "upper_arm", 4),
    (dict(upper_arm_flexion_deg=30.0, shoulder_raised=True), "upper_arm", 3),
    (dict(upper_arm_flexion_deg=30.0, upper_arm_abducted=True), "upper_arm", 3),
    (dict(upper_arm_flexion_deg=30.0, shoulder_raised=True, upper_arm_abducted=True), "upper_arm", 4),  # two +1s
    (dict(upper_arm_flexion_deg=30.0, arm_supported=True), "upper_arm", 1),
    # lower arm: 60 <= a <= 100 -> 1 else 2; +1 across the midline / out to the side
    (dict(lower_arm_flexion_deg=60.0), "lower_arm", 1),
    (dict(lower_arm_flexion_deg=60 - EPS), "lower_arm", 2),
    (dict(lower_arm_flexion_deg=100.0), "lower_arm", 1),
    (dict(lower_arm_flexion_deg=100 + EPS), "lower_arm", 2),
    (dict(lower_arm_flexion_deg=80.0, lower_arm_across_midline_or_out_to_side=True), "lower_arm", 2),
    (dict(lower_arm_flexion_deg=150.0, lower_arm_across_midline_or_out_to_side=True), "lower_arm", 3),
    # wrist: exactly 0 -> 1; 0 < |a| <= 15 -> 2; |a| > 15 -> 3; +1 deviated
    (dict(wrist_flexion_deg=0.0), "wrist", 1),
    (dict(wrist_flexion_deg=EPS), "wrist", 2),
    (dict(wrist_flexion_deg=-EPS), "wrist", 2),
    (dict(wrist_flexion_deg=15.0), "wrist", 2),
    (dict(wrist_flexion_deg=15 + EPS), "wrist", 3),
    (dict(wrist_flexion_deg=-15.0), "wrist", 2),
    (dict(wrist_flexion_deg=-15 - EPS), "wrist", 3),
    (dict(wrist_flexion_deg=0.0, wrist_deviated=True), "wrist", 2),
    (dict(wrist_flexion_deg=40.0, wrist_deviated=True), "wrist", 4),
    (dict(wrist_twist_end=False), "wrist_twist", 1),
    (dict(wrist_twist_end=True), "wrist_twist", 2),
    # neck: 0 <= a <= 10 -> 1; 10 < a <= 20 -> 2; a > 20 -> 3; a < 0 -> 4; +1 twisted, +1 side bent
    (dict(neck_flexion_deg=0.0), "neck", 1),
    (dict(neck_flexion_deg=-EPS), "neck", 4),
    (dict(neck_flexion_deg=10.0), "neck", 1),
    (dict(neck_flexion_deg=10 + EPS), "neck", 2),
    (dict(neck_flexion_deg=20.0), "neck", 2),
    (dict(neck_flexion_deg=20 + EPS), "neck", 3),
    (dict(neck_flexion_deg=5.0, neck_twisted=True), "neck", 2),
    (dict(neck_flexion_deg=5.0, neck_side_bent=True), "neck", 2),
    (dict(neck_flexion_deg=5.0, neck_twisted=True, neck_side_bent=True), "neck", 3),  # separate +1s
    (dict(neck_flexion_deg=-30.0, neck_twisted=True, neck_side_bent=True), "neck", 6),  # max 6
    # trunk (standing): 0 -> 1; 0 < |a| <= 20 -> 2; 20 < |a| <= 60 -> 3; |a| > 60 -> 4 (extension by magnitude)
    (dict(trunk_flexion_deg=0.0), "trunk", 1),
    (dict(trunk_flexion_deg=EPS), "trunk", 2),
    (dict(trunk_flexion_deg=-EPS), "trunk", 2),
    (dict(trunk_flexion_deg=20.0), "trunk", 2),
    (dict(trunk_flexion_deg=20 + EPS), "trunk", 3),
    (dict(trunk_flexion_deg=-20.0), "trunk", 2),
    (dict(trunk_flexion_deg=-20 - EPS), "trunk", 3),
    (dict(trunk_flexion_deg=60.0), "trunk", 3),
    (dict(trunk_flexion_deg=60 + EPS), "trunk", 4),
    (dict(trunk_flexion_deg=-60.0), "trunk", 3),
    (dict(trunk_flexion_deg=-60 - EPS), "trunk", 4),
    (dict(trunk_flexion_deg=10.0, trunk_twisted=True), "trunk", 3),
    (dict(trunk_flexion_deg=10.0, trunk_side_bent=True), "trunk", 3),
    (dict(trunk_flexion_deg=90.0, trunk_twisted=True, trunk_side_bent=True), "trunk", 6),  # max 6
    (dict(trunk_flexion_deg=70.0, trunk_seated_supported=True), "trunk", 1),  # seated & supported: 1 whatever
    (dict(trunk_flexion_deg=-30.0, trunk_seated_supported=True, trunk_twisted=True, trunk_side_bent=True),
     "trunk", 3),
    # legs
    (dict(legs_supported=True), "legs", 1),
    (dict(legs_supported=False), "legs", 2),
]


@pytest.mark.parametrize("kw,part,expected", BOUNDARIES, ids=[f"{p}-{kw}" for kw, p, _ in BOUNDARIES])
def test_part_boundaries(kw, part, expected):
    assert score(**kw)[part] == expected


@pytest.mark.parametrize(
    "kg,mode,shock,expected",
    [
        (0.0, 0, False, 0), (2 - EPS, 0, False, 0), (2 - EPS, 1, False, 0), (2 - EPS, 2, False, 0),
        (2.0, 0, False, 1), (2.0, 1, False, 2), (2.0, 2, False, 2),
        (10.0, 0, False, 1), (10.0, 1, False, 2), (10.0, 2, False, 2),
        (10 + EPS, 0, False, 2), (10 + EPS, 1, False, 3), (10 + EPS, 2, False, 3),
        (0.0, 0, True, 3), (5.0, 0, True, 3), (30.0, 2, True, 3),  # shock: 3 at any magnitude
    ],
)
def test_force_bands(kg, mode, shock, expected):
    s = score(load_kg=kg, load_mode=mode, shock=shock)
    assert s["force"] == expected
    # The same force score goes into both C and D.
    assert s["score_c"] - s["table_a"] == expected and s["score_d"] - s["table_b"] == expected


def test_muscle_use_is_per_group():
    s = score(muscle_use_arm=True)
    assert (s["score_c"] - s["table_a"], s["score_d"] - s["table_b"]) == (1, 0)
    s = score(muscle_use_body=True)
    assert (s["score_c"] - s["table_a"], s["score_d"] - s["table_b"]) == (0, 1)


def test_upper_arm_clamped_to_1_and_6():
    assert score(upper_arm_flexion_deg=10.0, arm_supported=True)["upper_arm"] == 1  # 1 - 1 -> clamp 1
    assert score(upper_arm_flexion_deg=150.0, shoulder_raised=True, upper_arm_abducted=True)["upper_arm"] == 6
    angles = np.array([-90, -20.5, -20, 0, 20, 20.5, 45, 45.5, 90, 90.5, 180])
    flags = np.array(list(itertools.product([False, True], repeat=3)))
    a = np.repeat(angles, len(flags))
    f = np.tile(flags, (len(angles), 1))
    s = rula_scores(RulaInput(**{**NEUTRAL, "upper_arm_flexion_deg": a, "shoulder_raised": f[:, 0],
                                 "upper_arm_abducted": f[:, 1], "arm_supported": f[:, 2]}))
    assert s["upper_arm"].min() == 1 and s["upper_arm"].max() == 6


# ---------------------------------------------------------------------------------------------- tables
def test_every_table_a_cell():
    for ua, la, w, t in itertools.product(UPPER_ARM, LOWER_ARM, WRIST, TWIST):
        s = score(**UPPER_ARM[ua], **LOWER_ARM[la], **WRIST[w], **TWIST[t])
        assert (s["upper_arm"], s["lower_arm"], s["wrist"], s["wrist_twist"]) == (ua, la, w, t)
        assert s["table_a"] == TABLE_A[ua - 1, la - 1, (w - 1) * 2 + (t - 1)], (ua, la, w, t)


def test_every_table_b_cell():
    for n, t, l in itertools.product(NECK, TRUNK, LEGS):
        s = score(**NECK[n], **TRUNK[t], **LEGS[l])
        assert (s["neck"], s["trunk"], s["legs"]) == (n, t, l)
        assert s["table_b"] == TABLE_B[n - 1, (t - 1) * 2 + (l - 1)], (n, t, l)


def _postures_for_c_and_d() -> dict[tuple[int, int], dict]:
    """A posture for every reachable (Score C, Score D), found from the JSON tables (not from the engine).

    Force is shared by C and D, so it is chosen first; then muscle use per group.
    """
    a_cells = {}
    for ua, la, w, t, m in itertools.product(UPPER_ARM, LOWER_ARM, WRIST, TWIST, (0, 1)):
        value = int(TABLE_A[ua - 1, la - 1, (w - 1) * 2 + (t - 1)]) + m
        a_cells.setdefault(value, {**UPPER_ARM[ua], **LOWER_ARM[la], **WRIST[w], **TWIST[t], "muscle_use_arm": bool(m)})
    b_cells = {}
    for n, t, l, m in itertools.product(NECK, TRUNK, LEGS, (0, 1)):
        value = int(TABLE_B[n - 1, (t - 1) * 2 + (l - 1)]) + m
        b_cells.setdefault(value, {**NECK[n], **TRUNK[t], **LEGS[l], "muscle_use_body": bool(m)})
    found = {}
    for f in FORCE:
        for (a, pa), (b, pb) in itertools.product(a_cells.items(), b_cells.items()):
            found.setdefault((a + f, b + f), {**pa, **pb, **FORCE[f]})
    return found


def test_every_table_c_cell_and_the_c_d_clamps():
    postures = _postures_for_c_and_d()
    # Every cell of Table C is reachable, and so are C up to 13 and D up to 13 (beyond the table's 8 and 7).
    assert {(min(c, 8), min(d, 7)) for c, d in postures} == set(itertools.product(range(1, 9), range(1, 8)))
    assert max(c for c, _ in postures) == 13 and max(d for _, d in postures) == 13
    for (c, d), kw in postures.items():
        s = score(**kw)
        assert (s["score_c"], s["score_d"]) == (c, d)  # unclamped sums are reported
        assert s["grand"] == TABLE_C[min(c, 8) - 1, min(d, 7) - 1], (c, d)


def test_c_above_8_and_d_above_7_use_the_last_row_and_column():
    # C = 9 (Table A 9, nothing else) reads row 8; D = 9 (Table B 9) reads column 7.
    s = score(**UPPER_ARM[6], **LOWER_ARM[3], **WRIST[4], **TWIST[2], **NECK[6], **TRUNK[6])
    assert (s["table_a"], s["score_c"], s["table_b"], s["score_d"]) == (9, 9, 9, 9)
    assert s["grand"] == TABLE_C[7, 6] == 7
    # C = 9 with the least severe D: row 8, column 1 -> 5
    s = score(**UPPER_ARM[6], **LOWER_ARM[3], **WRIST[4], **TWIST[2])
    assert (s["score_c"], s["score_d"], s["grand"]) == (9, 1, 5)
    # D = 9 (Table B[6][(5-1)*2 + 1] = 9) with the least severe C: row 1, column 7 -> 5
    s = score(**NECK[6], **TRUNK[5], **LEGS[2])
    assert (s["score_c"], s["score_d"], s["grand"]) == (1, 9, 5)


@pytest.mark.parametrize("grand,level", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3), (7, 4)])
def test_action_levels(grand, level):
    assert int(rula_action_level(grand)) == level


@pytest.mark.parametrize("bad", [0, 8, 2.0])
def test_action_level_rejects_out_of_range(bad):
    with pytest.raises(InputError, match="RULA grand score"):
        rula_action_level(bad)


# ---------------------------------------------------------------------------------------------- worked examples
def test_worked_example_reaching_across_with_a_static_load():
    s = score(
        upper_arm_flexion_deg=30.0, shoulder_raised=True,  # 20 < 30 <= 45 -> 2, +1 raised -> 3
        lower_arm_flexion_deg=110.0, lower_arm_across_midline_or_out_to_side=True,  # > 100 -> 2, +1 -> 3
        wrist_flexion_deg=20.0, wrist_deviated=True,  # > 15 -> 3, +1 deviated -> 4
        wrist_twist_end=True,  # 2
        muscle_use_arm=True,  # +1 to C
        load_kg=5.0, load_mode=1,  # 2..10 kg static -> 2 (to C and D)
        neck_flexion_deg=15.0, neck_twisted=True,  # 10 < 15 <= 20 -> 2, +1 twisted -> 3
        trunk_flexion_deg=30.0, trunk_side_bent=True,  # 20 < 30 <= 60 -> 3, +1 side bent -> 4
        legs_supported=True,  # 1
    )
    # Table A[upper 3][lower 3][(4-1)*2 + (2-1) = 7] = 5; C = 5 + 1 + 2 = 8
    # Table B[neck 3][(4-1)*2 + (1-1) = 6] = 5; D = 5 + 0 + 2 = 7
    # Table C[8][7] = 7 -> action level 4
    assert s == {"upper_arm": 3, "lower_arm": 3, "wrist": 4, "wrist_twist": 2, "neck": 3, "trunk": 4, "legs": 1,
                 "table_a": 5, "force": 2, "score_c": 8, "table_b": 5, "score_d": 7, "grand": 7, "action_level": 4}


def test_worked_example_supported_seated_work():
    s = score(
        upper_arm_flexion_deg=10.0, arm_supported=True,  # 1, -1 supported -> 0, clamped to 1
        lower_arm_flexion_deg=80.0,  # 1
        wrist_flexion_deg=0.0,  # neutral -> 1
        neck_flexion_deg=5.0,  # 1
        trunk_flexion_deg=10.0, trunk_seated_supported=True,  # seated, well supported -> 1
    )
    # Table A[1][1][0] = 1, C = 1; Table B[1][0] = 1, D = 1; Table C[1][1] = 1 -> action level 1
    assert (s["table_a"], s["score_c"], s["table_b"], s["score_d"], s["grand"], s["action_level"]) == (1, 1, 1, 1, 1, 1)


def test_worked_example_everything_saturated():
    s = score(
        upper_arm_flexion_deg=100.0, shoulder_raised=True, upper_arm_abducted=True,  # 4 + 1 + 1 = 6
        lower_arm_flexion_deg=50.0, lower_arm_across_midline_or_out_to_side=True,  # 2 + 1 = 3
        wrist_flexion_deg=-30.0, wrist_deviated=True, wrist_twist_end=True,  # 3 + 1 = 4; twist 2
        muscle_use_arm=True, muscle_use_body=True,  # +1 to C, +1 to D
        shock=True,  # force 3
        neck_flexion_deg=-10.0, neck_twisted=True, neck_side_bent=True,  # extension 4 + 1 + 1 = 6
        trunk_flexion_deg=-70.0, trunk_twisted=True, trunk_side_bent=True,  # |-70| > 60 -> 4, + 1 + 1 = 6
        legs_supported=False,  # 2
    )
    # Table A[6][3][7] = 9; C = 9 + 1 + 3 = 13 -> row 8
    # Table B[6][(6-1)*2 + 1 = 11] = 9; D = 9 + 1 + 3 = 13 -> column 7
    # Table C[8][7] = 7 -> action level 4
    assert s == {"upper_arm": 6, "lower_arm": 3, "wrist": 4, "wrist_twist": 2, "neck": 6, "trunk": 6, "legs": 2,
                 "table_a": 9, "force": 3, "score_c": 13, "table_b": 9, "score_d": 13, "grand": 7, "action_level": 4}


def test_worked_example_moderate_intermittent_load():
    s = score(
        upper_arm_flexion_deg=60.0,  # 45 < 60 <= 90 -> 3
        lower_arm_flexion_deg=90.0,  # 1
        wrist_flexion_deg=10.0,  # 0 < 10 <= 15 -> 2; twist mid -> 1
        load_kg=3.0, load_mode=0,  # 2..10 kg intermittent -> 1
        neck_flexion_deg=25.0,  # > 20 -> 3
        trunk_flexion_deg=10.0,  # 2
    )
    # Table A[3][1][(2-1)*2 + 0 = 2] = 4; C = 4 + 0 + 1 = 5
    # Table B[3][(2-1)*2 + 0 = 2] = 3; D = 3 + 0 + 1 = 4
    # Table C[5][4] = 5 -> action level 3
    assert (s["table_a"], s["score_c"], s["table_b"], s["score_d"], s["grand"], s["action_level"]) == (4, 5, 3, 4, 5, 3)


# ---------------------------------------------------------------------------------------------- vectorisation
def _band(a: float, edges: list[float], scores: list[int]) -> int:
    """scores[i] for the first edge a <= edges[i], else scores[-1] (the less severe band owns the boundary)."""
    for edge, s in zip(edges, scores):
        if a <= edge:
            return s
    return scores[-1]


def _reference(r: dict) -> tuple[int, ...]:
    """Independent scalar RULA written from the rules (no numpy), for the vectorised check."""
    a = r["upper_arm_flexion_deg"]
    ua = 2 if a < -20 else _band(a, [20, 45, 90], [1, 2, 3, 4])
    ua = min(max(ua + r["shoulder_raised"] + r["upper_arm_abducted"] - r["arm_supported"], 1), 6)
    la = (1 if 60 <= r["lower_arm_flexion_deg"] <= 100 else 2) + r["lower_arm_across_midline_or_out_to_side"]
    a = abs(r["wrist_flexion_deg"])
    wr = (1 if a == 0 else _band(a, [15], [2, 3])) + r["wrist_deviated"]
    tw = 2 if r["wrist_twist_end"] else 1
    a = r["neck_flexion_deg"]
    nk = (4 if a < 0 else _band(a, [10, 20], [1, 2, 3])) + r["neck_twisted"] + r["neck_side_bent"]
    a = abs(r["trunk_flexion_deg"])
    tr = 1 if (r["trunk_seated_supported"] or a == 0) else _band(a, [20, 60], [2, 3, 4])
    tr += r["trunk_twisted"] + r["trunk_side_bent"]
    lg = 1 if r["legs_supported"] else 2
    kg, sustained = r["load_kg"], r["load_mode"] in (1, 2)
    if r["shock"]:
        force = 3
    elif kg < 2:
        force = 0
    elif kg <= 10:
        force = 2 if sustained else 1
    else:
        force = 3 if sustained else 2
    c = TABLE_A[ua - 1][la - 1][(wr - 1) * 2 + tw - 1] + r["muscle_use_arm"] + force
    d = TABLE_B[nk - 1][(tr - 1) * 2 + lg - 1] + r["muscle_use_body"] + force
    grand = TABLE_C[min(c, 8) - 1][min(d, 7) - 1]
    return ua, la, wr, tw, nk, tr, lg, force, c, d, grand


def _random_inputs(n: int, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def angle(lo, hi, edges):
        cont = rng.uniform(lo, hi, n)
        edge = rng.choice(np.concatenate([edges, np.array(edges) + 1e-9, np.array(edges) - 1e-9]), n)
        return np.where(rng.random(n) < 0.5, cont, edge)

    def flag():
        return rng.random(n) < 0.4

    return dict(
        upper_arm_flexion_deg=angle(-60, 180, [-20, 20, 45, 90]), upper_arm_abducted=flag(), shoulder_raised=flag(),
        arm_supported=flag(), lower_arm_flexion_deg=angle(0, 160, [60, 100]),
        lower_arm_across_midline_or_out_to_side=flag(), wrist_flexion_deg=angle(-60, 60, [-15, 0, 15]),
        wrist_deviated=flag(), wrist_twist_end=flag(), neck_flexion_deg=angle(-30, 50, [0, 10, 20]),
        neck_twisted=flag(), neck_side_bent=flag(), trunk_flexion_deg=angle(-80, 100, [-60, -20, 0, 20, 60]),
        trunk_twisted=flag(), trunk_side_bent=flag(), trunk_seated_supported=flag(), legs_supported=flag(),
        muscle_use_arm=flag(), muscle_use_body=flag(), load_kg=np.abs(angle(0, 20, [2, 10])),
        load_mode=rng.integers(0, 3, n), shock=rng.random(n) < 0.1,
    )


def test_vectorised_matches_per_row_calls_and_reference():
    n = 10_000
    cols = _random_inputs(n)
    s = rula_scores(RulaInput(**cols))
    assert all(v.shape == (n,) and v.dtype == np.int64 for v in s.values())
    keys = ("upper_arm", "lower_arm", "wrist", "wrist_twist", "neck", "trunk", "legs", "force", "score_c", "score_d",
            "grand")
    rows = [{k: v[i].item() for k, v in cols.items()} for i in range(n)]
    np.testing.assert_array_equal(np.stack([s[k] for k in keys], axis=1), np.array([_reference(r) for r in rows]))
    # Fields the caller vouches for (live scoring's method_columns) skip the checks, not the arithmetic.
    trusted = rula_scores(RulaInput(**cols), checked=True)
    assert trusted.keys() == s.keys()
    for key, values in s.items():
        np.testing.assert_array_equal(trusted[key], values, err_msg=key)
        assert trusted[key].dtype == np.int64
    # Per-row scalar engine calls on a fixed random sample (a scalar call costs ~0.1 ms; the reference covers all).
    for i in np.random.default_rng(13).choice(n, 1500, replace=False):
        one = rula_scores(RulaInput(**rows[i]))
        assert one["grand"].shape == ()
        assert (int(one["score_c"]), int(one["score_d"]), int(one["grand"])) == (
            s["score_c"][i], s["score_d"][i], s["grand"][i])


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kw,field",
    [
        (dict(neck_flexion_deg=float("nan")), "neck_flexion_deg"),
        (dict(wrist_flexion_deg=[0.0, float("-inf")]), "wrist_flexion_deg"),
        (dict(load_kg=float("inf")), "load_kg"),
        (dict(load_kg=-1.0), "load_kg"),
        (dict(load_mode=3), "load_mode"),
        (dict(load_mode=-1), "load_mode"),
        (dict(load_mode=0.5), "load_mode"),
        (dict(legs_supported=[1, 2]), "legs_supported"),
        (dict(trunk_flexion_deg=None), "trunk_flexion_deg"),
    ],
)
def test_invalid_inputs_raise_input_error_naming_the_field(kw, field):
    with pytest.raises(InputError) as exc:
        rula_scores(RulaInput(**{**NEUTRAL, **kw}))
    assert str(exc.value).startswith(field) and "\n" not in str(exc.value)


def test_input_is_frozen_and_keyword_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RulaInput(**NEUTRAL).shock = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        RulaInput(0.0, 80.0, 0.0, 5.0, 0.0)  # type: ignore[misc]
    assert LOAD_MODES == ("intermittent", "static", "repeated")


def test_the_engines_data_file_holds_the_published_tables():
    for name, published in (("table_a", TABLE_A), ("table_b", TABLE_B), ("table_c", TABLE_C)):
        np.testing.assert_array_equal(table_array("rula", name), published, err_msg=name)
