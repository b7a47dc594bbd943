"""Revised NIOSH lifting equation (metric): multipliers, boundaries, RWL/LI, destination and validation."""

from __future__ import annotations

import dataclasses
import math

import pytest

from edge.errors import InputError
from edge.ergonomics.niosh import LiftTask, assess_lift

# A lift where every multiplier is exactly 1 (H 25, V 75, D < 25, A 0, F 0.2 short, good coupling): RWL = LC = 23 kg.
IDEAL = dict(
    load_kg=10.0,
    h_cm=25.0,
    v_origin_cm=75.0,
    v_dest_cm=75.0,
    asymmetry_deg=0.0,
    frequency_per_min=0.2,
    duration="short",
    coupling="good",
)


def lift(**overrides) -> dict:
    return assess_lift(LiftTask(**{**IDEAL, **overrides}))


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-12)


def test_ideal_lift_gives_load_constant():
    r = lift()
    assert r["multipliers"] == {"hm": 1.0, "vm": 1.0, "dm": 1.0, "am": 1.0, "fm": 1.0, "cm": 1.0}
    assert r["rwl_kg"] == 23.0
    assert r["li"] == approx(10.0 / 23.0)
    assert r["warnings"] == []


def test_result_has_exactly_the_documented_keys():
    r = lift()
    assert set(r) == {"method", "rwl_kg", "li", "multipliers", "warnings", "destination"}
    assert r["method"] == "niosh"
    assert set(r["multipliers"]) == {"hm", "vm", "dm", "am", "fm", "cm"}
    assert set(r["destination"]) == {"rwl_kg", "li", "multipliers"}
    assert set(r["destination"]["multipliers"]) == {"hm", "vm", "dm", "am", "fm", "cm"}
    assert all(type(v) is float for v in r["multipliers"].values())
    assert type(r["rwl_kg"]) is float and type(r["li"]) is float


# ---------------------------------------------------------------------------------------------------------- HM


@pytest.mark.parametrize(
    "h, expected",
    [
        (0.0, 1.0),  # H < 25 -> H = 25
        (10.0, 1.0),
        (24.9, 1.0),
        (25.0, 1.0),
        (40.0, 0.625),
        (50.0, 0.5),
        (63.0, 25.0 / 63.0),  # boundary allowed: 0.3968...
    ],
)
def test_horizontal_multiplier(h, expected):
    r = lift(h_cm=h)
    assert r["multipliers"]["hm"] == approx(expected)
    assert r["warnings"] == []


def test_horizontal_multiplier_beyond_63_is_zero_with_warning():
    r = lift(h_cm=63.1)
    assert r["multipliers"]["hm"] == 0.0
    assert r["destination"]["multipliers"]["hm"] == 0.0
    assert any("H=63.1" in w and "HM = 0" in w for w in r["warnings"])


# ---------------------------------------------------------------------------------------------------------- VM


@pytest.mark.parametrize(
    "v, expected",
    [
        (0.0, 0.775),  # 1 - 0.003*75
        (30.0, 0.865),  # 1 - 0.003*45
        (74.0, 0.997),
        (75.0, 1.0),
        (100.0, 0.925),  # 1 - 0.003*25
        (175.0, 0.7),  # boundary allowed: 1 - 0.003*100
    ],
)
def test_vertical_multiplier(v, expected):
    # v_dest = v_origin so D = 0 -> DM = 1 and the destination sees the same V.
    r = lift(v_origin_cm=v, v_dest_cm=v)
    assert r["multipliers"]["vm"] == approx(expected)
    assert r["multipliers"]["vm"] == approx(1 - 0.003 * abs(v - 75))
    assert r["destination"]["multipliers"]["vm"] == approx(expected)
    assert r["warnings"] == []


def test_vertical_multiplier_above_175_is_zero_with_warning():
    r = lift(v_origin_cm=175.1, v_dest_cm=175.1)
    assert r["multipliers"]["vm"] == 0.0
    assert any("origin" in w and "V=175.1" in w and "VM = 0" in w for w in r["warnings"])


def test_vertical_multiplier_above_175_at_destination_only():
    r = lift(v_origin_cm=100.0, v_dest_cm=176.0)
    assert r["multipliers"]["vm"] == approx(0.925)
    assert r["destination"]["multipliers"]["vm"] == 0.0
    assert r["li"] is not None
    assert r["destination"]["li"] is None
    assert any("destination" in w and "V=176" in w for w in r["warnings"])
    assert not any("origin" in w and "VM" in w for w in r["warnings"])


# ---------------------------------------------------------------------------------------------------------- DM


@pytest.mark.parametrize(
    "v_origin, v_dest, expected",
    [
        (75.0, 75.0, 1.0),  # D = 0 -> 25
        (50.0, 74.0, 1.0),  # D = 24 -> 25
        (50.0, 75.0, 1.0),  # D = 25: 0.82 + 4.5/25 = 1.0
        (30.0, 100.0, 0.82 + 4.5 / 70),
        (100.0, 30.0, 0.82 + 4.5 / 70),  # lowering: D is an absolute value
        (20.0, 150.0, 0.82 + 4.5 / 130),  # 0.8546; the printed table's .86 is superseded by the formula
        (0.0, 175.0, 0.82 + 4.5 / 175),  # D = 175 allowed: 0.8457...
    ],
)
def test_distance_multiplier(v_origin, v_dest, expected):
    r = lift(v_origin_cm=v_origin, v_dest_cm=v_dest)
    assert r["multipliers"]["dm"] == approx(expected)
    assert r["destination"]["multipliers"]["dm"] == approx(expected)
    assert not any("DM" in w for w in r["warnings"])


def test_distance_multiplier_beyond_175_is_zero_with_warning():
    r = lift(v_origin_cm=0.0, v_dest_cm=176.0)  # D = 176
    assert r["multipliers"]["dm"] == 0.0
    assert r["destination"]["multipliers"]["dm"] == 0.0
    assert any("D=176" in w and "DM = 0" in w for w in r["warnings"])


def test_distance_multiplier_example_values():
    assert lift(v_origin_cm=75.0, v_dest_cm=125.0)["multipliers"]["dm"] == approx(0.91)  # D = 50
    assert lift(v_origin_cm=0.0, v_dest_cm=100.0)["multipliers"]["dm"] == approx(0.865)  # D = 100


# ---------------------------------------------------------------------------------------------------------- AM


@pytest.mark.parametrize(
    "a, expected",
    [
        (0.0, 1.0),
        (30.0, 0.904),
        (90.0, 0.712),
        (135.0, 0.568),  # boundary allowed: 1 - 0.0032*135
    ],
)
def test_asymmetric_multiplier(a, expected):
    r = lift(asymmetry_deg=a)
    assert r["multipliers"]["am"] == approx(expected)
    assert r["multipliers"]["am"] == approx(1 - 0.0032 * a)
    assert r["warnings"] == []


def test_asymmetric_multiplier_beyond_135_is_zero_with_warning():
    r = lift(asymmetry_deg=136.0)
    assert r["multipliers"]["am"] == 0.0
    assert r["destination"]["multipliers"]["am"] == 0.0
    assert any("A=136" in w and "AM = 0" in w for w in r["warnings"])


# ---------------------------------------------------------------------------------------------------------- FM


def fm(f, duration, v_origin, v_dest=None):
    r = lift(frequency_per_min=f, duration=duration, v_origin_cm=v_origin,
             v_dest_cm=v_origin if v_dest is None else v_dest)
    return r["multipliers"]["fm"], r


@pytest.mark.parametrize(
    "f, duration, v, expected",
    [
        # table rows, returned exactly
        (0.2, "short", 30.0, 1.0),
        (0.2, "moderate", 30.0, 0.95),
        (0.2, "long", 30.0, 0.85),
        (1.0, "long", 30.0, 0.75),
        (4.0, "moderate", 80.0, 0.72),
        (8.0, "long", 30.0, 0.18),  # last non-zero row of long, V < 75
        (10.0, "long", 80.0, 0.13),  # last non-zero row of long, V >= 75
        (10.0, "moderate", 30.0, 0.26),
        (12.0, "moderate", 80.0, 0.21),
        (12.0, "short", 30.0, 0.37),
        (15.0, "short", 80.0, 0.28),  # F = 15 allowed where the table has a value
        (15.0, "short", 75.0, 0.28),  # V = 75 reads the V >= 75 column
    ],
)
def test_frequency_multiplier_table_rows(f, duration, v, expected):
    value, r = fm(f, duration, v)
    assert value == expected
    assert r["warnings"] == []


@pytest.mark.parametrize(
    "f, duration, v, expected",
    [
        (2.4, "long", 30.0, 0.65 + 0.4 * (0.55 - 0.65)),  # manual Example 7 style: 0.61
        (2.4, "long", 80.0, 0.61),  # same values in both V columns for long
        (0.35, "short", 30.0, 1.0 + 0.5 * (0.97 - 1.0)),  # 0.985, halfway between 0.2 and 0.5
        (1.5, "moderate", 30.0, 0.88 + 0.5 * (0.84 - 0.88)),  # 0.86
        (8.5, "long", 80.0, 0.18 + 0.5 * (0.15 - 0.18)),  # 0.165
        (10.5, "moderate", 80.0, 0.26 + 0.5 * (0.23 - 0.26)),  # 0.245
        (14.5, "short", 80.0, 0.31 + 0.5 * (0.28 - 0.31)),  # 0.295
    ],
)
def test_frequency_multiplier_interpolates_linearly(f, duration, v, expected):
    value, r = fm(f, duration, v)
    assert value == approx(expected)
    assert r["warnings"] == []


def test_frequency_multiplier_2_4_long_is_0_61():
    assert fm(2.4, "long", 30.0)[0] == pytest.approx(0.61, abs=1e-12)


@pytest.mark.parametrize("f", [0.0, 0.1, 0.19])
def test_frequency_below_0_2_uses_the_0_2_row_with_info_warning(f):
    for duration, expected in (("short", 1.0), ("moderate", 0.95), ("long", 0.85)):
        value, r = fm(f, duration, 30.0)
        assert value == expected
        assert len(r["warnings"]) == 1
        assert "0.2/min row is used" in r["warnings"][0]


@pytest.mark.parametrize(
    "f, duration, v, f_max",
    [
        (8.5, "long", 30.0, 8),  # between the last non-zero row (8) and the zero row (9): 0, not 0.09
        (9.0, "long", 30.0, 8),
        (10.01, "long", 80.0, 10),
        (10.5, "moderate", 30.0, 10),
        (12.5, "moderate", 80.0, 12),
        (12.5, "short", 30.0, 12),
        (15.0, "long", 30.0, 8),
        (15.1, "short", 80.0, 15),  # beyond the end of the table
        (15.1, "short", 30.0, 12),
        (40.0, "long", 80.0, 10),
    ],
)
def test_frequency_above_column_maximum_is_zero_with_warning(f, duration, v, f_max):
    value, r = fm(f, duration, v)
    assert value == 0.0
    band = "V < 75 cm" if v < 75 else "V >= 75 cm"
    expected = f"frequency {f:g}/min exceeds the maximum {f_max}/min for {duration} duration at {band}"
    assert any(w.startswith(expected) for w in r["warnings"]), r["warnings"]
    assert r["li"] is None


def test_frequency_multiplier_uses_v_at_origin_for_both_points():
    # Origin below 75, destination above: long F = 9 is beyond the V < 75 maximum, so 0 at both points.
    _, r = fm(9.0, "long", 30.0, v_dest=100.0)
    assert r["multipliers"]["fm"] == 0.0
    assert r["destination"]["multipliers"]["fm"] == 0.0
    # Origin above 75, destination below: the V >= 75 column (0.15) applies at both points.
    _, r = fm(9.0, "long", 100.0, v_dest=30.0)
    assert r["multipliers"]["fm"] == 0.15
    assert r["destination"]["multipliers"]["fm"] == 0.15


# ---------------------------------------------------------------------------------------------------------- CM


@pytest.mark.parametrize(
    "coupling, v, expected",
    [
        ("good", 30.0, 1.0),
        ("good", 100.0, 1.0),
        ("fair", 74.0, 0.95),
        ("fair", 74.99, 0.95),
        ("fair", 75.0, 1.0),  # V = 75 takes the V >= 75 value
        ("fair", 100.0, 1.0),
        ("poor", 30.0, 0.9),
        ("poor", 100.0, 0.9),
    ],
)
def test_coupling_multiplier(coupling, v, expected):
    r = lift(coupling=coupling, v_origin_cm=v, v_dest_cm=v)
    assert r["multipliers"]["cm"] == expected
    assert r["destination"]["multipliers"]["cm"] == expected


def test_coupling_multiplier_uses_v_at_each_point():
    r = lift(coupling="fair", v_origin_cm=74.0, v_dest_cm=75.0)
    assert r["multipliers"]["cm"] == 0.95
    assert r["destination"]["multipliers"]["cm"] == 1.0
    r = lift(coupling="fair", v_origin_cm=75.0, v_dest_cm=74.0)
    assert r["multipliers"]["cm"] == 1.0
    assert r["destination"]["multipliers"]["cm"] == 0.95


# ---------------------------------------------------------------------------------------------------- RWL and LI


def test_rwl_is_product_of_multipliers_times_23_and_li_is_load_over_rwl():
    r = lift(load_kg=12.5, h_cm=45.0, v_origin_cm=40.0, v_dest_cm=130.0, asymmetry_deg=45.0,
             frequency_per_min=3.5, duration="moderate", coupling="poor")
    for point in (r, r["destination"]):
        m = point["multipliers"]
        product = m["hm"] * m["vm"] * m["dm"] * m["am"] * m["fm"] * m["cm"]
        assert point["rwl_kg"] == approx(23.0 * product)
        assert point["li"] == approx(12.5 / point["rwl_kg"])
    # and the multipliers themselves, by formula
    m = r["multipliers"]
    assert m["hm"] == approx(25 / 45)
    assert m["vm"] == approx(1 - 0.003 * 35)
    assert m["dm"] == approx(0.82 + 4.5 / 90)
    assert m["am"] == approx(1 - 0.0032 * 45)
    assert m["fm"] == approx(0.79 + 0.5 * (0.72 - 0.79))
    assert m["cm"] == 0.9
    assert r["destination"]["multipliers"]["vm"] == approx(1 - 0.003 * 55)


def test_li_is_none_when_hm_is_zero():
    r = lift(h_cm=70.0)
    assert r["rwl_kg"] == 0.0
    assert r["li"] is None
    assert r["destination"]["rwl_kg"] == 0.0
    assert r["destination"]["li"] is None
    undefined = [w for w in r["warnings"] if "undefined" in w]
    assert len(undefined) == 2  # origin and destination
    assert all("RWL is 0" in w and "HM = 0" in w for w in undefined)
    assert any("origin" in w for w in undefined) and any("destination" in w for w in undefined)


def test_li_undefined_warning_names_every_zero_factor():
    r = lift(asymmetry_deg=140.0, frequency_per_min=20.0)
    w = next(w for w in r["warnings"] if "undefined" in w and "origin" in w)
    assert "AM = 0" in w and "FM = 0" in w and "HM" not in w


def test_zero_load_gives_zero_li():
    r = lift(load_kg=0.0)
    assert r["li"] == 0.0
    assert r["destination"]["li"] == 0.0


def test_values_are_not_rounded():
    r = lift(h_cm=63.0)
    assert r["rwl_kg"] == approx(23.0 * 25.0 / 63.0)
    assert r["rwl_kg"] != round(r["rwl_kg"], 2)


# ------------------------------------------------------------------------------------------- hand-worked examples


def test_example_1_floor_to_bench_fair_coupling():
    """H 40, V 30 -> 100 cm, A 0, 1 lift/min, long duration, fair coupling, 10 kg.

    Origin:  HM = 25/40 = 0.625
             VM = 1 - 0.003*|30-75| = 1 - 0.135 = 0.865
             DM = 0.82 + 4.5/70 = 0.82 + 0.0642857 = 0.8842857
             AM = 1
             FM = 0.75 (long, V < 75, F = 1)
             CM = 0.95 (fair, V < 75)
             RWL = 23 * 0.625 * 0.865 * 0.8842857 * 1 * 0.75 * 0.95
                 = 14.375 * 0.865 = 12.434375; * 0.8842857 = 10.995540; * 0.75 = 8.246655; * 0.95 = 7.834322 kg
             LI = 10 / 7.834322 = 1.2764
    Destination: VM = 1 - 0.003*25 = 0.925, CM = 1.0 (fair, V >= 75), FM still 0.75 (V at origin)
             RWL = 14.375 * 0.925 = 13.296875; * 0.8842857 = 11.758237; * 0.75 = 8.818677 kg
             LI = 10 / 8.818677 = 1.1340
    The origin governs (lower RWL, higher LI).
    """
    r = assess_lift(LiftTask(10.0, 40.0, 30.0, 100.0, 0.0, 1.0, "long", "fair"))
    m = r["multipliers"]
    assert m["hm"] == approx(0.625)
    assert m["vm"] == approx(0.865)
    assert m["dm"] == approx(0.82 + 4.5 / 70)
    assert m["am"] == 1.0
    assert m["fm"] == 0.75
    assert m["cm"] == 0.95
    assert r["rwl_kg"] == pytest.approx(7.834322, abs=1e-6)
    assert r["li"] == pytest.approx(1.2764, abs=1e-4)
    d = r["destination"]
    assert d["multipliers"] == {"hm": m["hm"], "vm": approx(0.925), "dm": m["dm"], "am": 1.0, "fm": 0.75, "cm": 1.0}
    assert d["rwl_kg"] == pytest.approx(8.818677, abs=1e-6)
    assert d["li"] == pytest.approx(1.1340, abs=1e-4)
    assert r["warnings"] == []


def test_example_2_asymmetric_lowering_poor_coupling_interpolated_frequency():
    """H 50, V 80 -> 30 cm (lowering), A 90, 2.4 lifts/min, long duration, poor coupling, 8 kg.

    Origin:  HM = 25/50 = 0.5
             VM = 1 - 0.003*5 = 0.985
             DM = 0.82 + 4.5/50 = 0.91
             AM = 1 - 0.0032*90 = 0.712
             FM = 0.65 + 0.4*(0.55 - 0.65) = 0.61 (long, V >= 75 column; interpolated between F = 2 and 3)
             CM = 0.9 (poor at either V)
             RWL = 23 * 0.5 = 11.5; * 0.985 = 11.3275; * 0.91 = 10.308025; * 0.712 = 7.339314;
                   * 0.61 = 4.476981; * 0.9 = 4.029283 kg
             LI = 8 / 4.029283 = 1.9855
    Destination: VM = 1 - 0.003*45 = 0.865, everything else unchanged
             RWL = 11.5 * 0.865 = 9.9475; * 0.91 = 9.052225; * 0.712 = 6.445184; * 0.61 = 3.931562; * 0.9 = 3.538406 kg
             LI = 8 / 3.538406 = 2.2609
    """
    r = assess_lift(LiftTask(8.0, 50.0, 80.0, 30.0, 90.0, 2.4, "long", "poor"))
    m = r["multipliers"]
    assert m == {"hm": 0.5, "vm": approx(0.985), "dm": approx(0.91), "am": approx(0.712),
                 "fm": approx(0.61), "cm": 0.9}
    assert r["rwl_kg"] == pytest.approx(4.029283, abs=1e-6)
    assert r["li"] == pytest.approx(1.9855, abs=1e-4)
    d = r["destination"]
    assert d["multipliers"]["vm"] == approx(0.865)
    assert d["multipliers"]["cm"] == 0.9
    assert d["multipliers"]["fm"] == approx(0.61)
    assert d["rwl_kg"] == pytest.approx(3.538406, abs=1e-6)
    assert d["li"] == pytest.approx(2.2609, abs=1e-4)
    assert r["warnings"] == []


def test_example_3_near_ideal_infrequent_lift():
    """H 20 (-> 25), V 75 -> 90 cm (D 15 -> 25), A 0, 0.1 lift/min (-> 0.2 row), short, good coupling, 23 kg.

    Origin:  HM = 1, VM = 1, DM = 0.82 + 4.5/25 = 1, AM = 1, FM = 1.0 (short, 0.2 row), CM = 1
             RWL = 23 kg; LI = 23/23 = 1.0 (the design goal, exactly at the limit)
    Destination: VM = 1 - 0.003*15 = 0.955; RWL = 23 * 0.955 = 21.965 kg; LI = 23/21.965 = 1.0471
    One informational warning, for F < 0.2.
    """
    r = assess_lift(LiftTask(23.0, 20.0, 75.0, 90.0, 0.0, 0.1, "short", "good"))
    assert r["multipliers"] == {"hm": 1.0, "vm": 1.0, "dm": 1.0, "am": 1.0, "fm": 1.0, "cm": 1.0}
    assert r["rwl_kg"] == 23.0
    assert r["li"] == 1.0
    assert r["destination"]["multipliers"]["vm"] == approx(0.955)
    assert r["destination"]["rwl_kg"] == approx(21.965)
    assert r["destination"]["li"] == pytest.approx(1.0471, abs=1e-4)
    assert len(r["warnings"]) == 1 and "0.2/min" in r["warnings"][0]


def test_example_4_frequency_over_the_limit_for_long_duration():
    """H 30, V 60 -> 110 cm, A 30, 8.5 lifts/min, long, fair coupling, 5 kg.

    Long duration at V < 75 has a maximum of 8 lifts/min (the 9/min cell is 0), so FM = 0 and RWL = 0 at both
    points; LI is undefined. The same lift at 8/min: HM = 25/30 = 0.8333, VM = 1 - 0.003*15 = 0.955,
    DM = 0.82 + 4.5/50 = 0.91, AM = 1 - 0.096 = 0.904, FM = 0.18, CM = 0.95
    RWL = 23 * 0.8333333 = 19.166667; * 0.955 = 18.304167; * 0.91 = 16.656792; * 0.904 = 15.057740;
          * 0.18 = 2.710393; * 0.95 = 2.574873 kg; LI = 5 / 2.574873 = 1.9418
    """
    task = LiftTask(5.0, 30.0, 60.0, 110.0, 30.0, 8.5, "long", "fair")
    r = assess_lift(task)
    assert r["multipliers"]["fm"] == 0.0
    assert r["rwl_kg"] == 0.0 and r["li"] is None
    assert r["destination"]["rwl_kg"] == 0.0 and r["destination"]["li"] is None
    assert any("exceeds the maximum 8/min for long duration" in w for w in r["warnings"])
    assert any("undefined" in w and "FM = 0" in w for w in r["warnings"])

    r = assess_lift(dataclasses.replace(task, frequency_per_min=8.0))
    assert r["multipliers"]["fm"] == 0.18
    assert r["rwl_kg"] == pytest.approx(2.574873, abs=1e-6)
    assert r["li"] == pytest.approx(1.9418, abs=1e-4)
    assert r["warnings"] == []


# ---------------------------------------------------------------------------------------------------- validation

NUMERIC_FIELDS = ["load_kg", "h_cm", "v_origin_cm", "v_dest_cm", "asymmetry_deg", "frequency_per_min"]


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -0.1, -10.0, "10", None, True])
def test_bad_numeric_values_raise_input_error_naming_the_field(field, bad):
    with pytest.raises(InputError) as exc:
        LiftTask(**{**IDEAL, field: bad})
    message = str(exc.value)
    assert field in message
    assert "\n" not in message


@pytest.mark.parametrize("bad", ["medium", "Long", "", None, 8])
def test_unknown_duration_raises(bad):
    with pytest.raises(InputError, match="duration"):
        LiftTask(**{**IDEAL, "duration": bad})


@pytest.mark.parametrize("bad", ["bad", "Good", "", None, 1])
def test_unknown_coupling_raises(bad):
    with pytest.raises(InputError, match="coupling"):
        LiftTask(**{**IDEAL, "coupling": bad})


def test_zero_values_are_valid():
    r = assess_lift(LiftTask(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, "long", "poor"))
    assert r["multipliers"]["hm"] == 1.0
    assert r["multipliers"]["vm"] == approx(0.775)
    assert r["multipliers"]["dm"] == 1.0
    assert r["multipliers"]["fm"] == 0.85


def test_integers_are_accepted_and_stored_as_floats():
    task = LiftTask(10, 40, 30, 100, 0, 1, "long", "fair")
    assert type(task.h_cm) is float
    assert assess_lift(task)["rwl_kg"] == pytest.approx(7.834322, abs=1e-6)


def test_lift_task_is_frozen():
    task = LiftTask(**IDEAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.h_cm = 30.0  # type: ignore[misc]


def test_assess_lift_rejects_other_types():
    with pytest.raises(InputError):
        assess_lift(IDEAL)  # type: ignore[arg-type]
