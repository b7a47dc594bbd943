"""`ergoedge assess` worksheets: JSON round trips with hand-checked numbers, defaults, and every validation error."""

from __future__ import annotations

import copy
import json
import re

import pytest

from edge.errors import InputError
from edge.ergonomics.worksheet import NIOSH_SCHEMA, REBA_SCHEMA, RULA_SCHEMA, assess

# Same posture as the first worked example in test_reba.py:
# neck 3, trunk 3, legs 2 -> Table A 6, +1 load -> A 7; upper arm 4, lower arm 2, wrist 2 -> Table B 6, +1 fair -> B 7;
# Table C[7][7] = 9, +1 static -> 10 -> high, action level 3.
REBA_TEXT = """{
  "method": "reba",
  "neck": {"flexion_deg": 25, "twisted": true},
  "trunk": {"flexion_deg": 30.0},
  "legs": {"knee_flexion_deg": 40},
  "upper_arm": {"flexion_deg": 50, "abducted": true},
  "lower_arm": {"flexion_deg": 50},
  "wrist": {"flexion_deg": 20},
  "load_kg": 7,
  "coupling": "fair",
  "activity": {"static": true}
}"""
REBA_EXPECTED = {
    "method": "reba",
    "scores": {"neck": 3, "trunk": 3, "legs": 2, "upper_arm": 4, "lower_arm": 2, "wrist": 2, "table_a": 6,
               "score_a": 7, "table_b": 6, "score_b": 7, "table_c": 9, "total": 10},
    "risk": "high",
    "action_level": 3,
}

# Same posture as the first RULA worked example in test_rula.py:
# upper 3, lower 3, wrist 4, twist 2 -> Table A 5, +1 muscle +2 force -> C 8;
# neck 3, trunk 4, legs 1 -> Table B 5, +2 force -> D 7; Table C[8][7] = 7 -> action level 4.
RULA_TEXT = """{
  "method": "rula",
  "upper_arm": {"flexion_deg": 30, "shoulder_raised": true},
  "lower_arm": {"flexion_deg": 110, "across_midline_or_out_to_side": true},
  "wrist": {"flexion_deg": 20, "deviated": true, "twist": "end"},
  "neck": {"flexion_deg": 15, "twisted": true},
  "trunk": {"flexion_deg": 30, "side_bent": true},
  "muscle_use": {"arm": true},
  "load": {"kg": 5, "mode": "static"}
}"""
RULA_EXPECTED = {
    "method": "rula",
    "scores": {"upper_arm": 3, "lower_arm": 3, "wrist": 4, "wrist_twist": 2, "neck": 3, "trunk": 4, "legs": 1,
               "table_a": 5, "score_c": 8, "table_b": 5, "score_d": 7, "grand": 7},
    "action_level": 4,
}

REBA_MIN = {"method": "reba", "neck": {"flexion_deg": 10}, "trunk": {"flexion_deg": 0},
            "upper_arm": {"flexion_deg": 0}, "lower_arm": {"flexion_deg": 80}, "wrist": {"flexion_deg": 0}}
RULA_MIN = {"method": "rula", "upper_arm": {"flexion_deg": 0}, "lower_arm": {"flexion_deg": 80},
            "wrist": {"flexion_deg": 0}, "neck": {"flexion_deg": 5}, "trunk": {"flexion_deg": 0}}
NIOSH = {"method": "niosh", "load_kg": 10, "h_cm": 40, "v_origin_cm": 30, "v_dest_cm": 100, "asymmetry_deg": 0,
         "frequency_per_min": 1, "duration": "short", "coupling": "good"}


def roundtrip(text: str):
    """JSON text in, JSON text out, parsed again: what the CLI does."""
    return json.loads(json.dumps(assess(json.loads(text))))


def test_reba_single_object_round_trip():
    out = roundtrip(REBA_TEXT)
    assert out == REBA_EXPECTED
    # Plain Python types, not numpy scalars (json.dumps would have failed otherwise) and not bools.
    raw = assess(json.loads(REBA_TEXT))
    assert all(type(v) is int for v in raw["scores"].values()) and type(raw["action_level"]) is int


def test_rula_single_object_round_trip():
    assert roundtrip(RULA_TEXT) == RULA_EXPECTED


def test_list_round_trip_keeps_order_across_methods():
    text = f"[{REBA_TEXT}, {RULA_TEXT}, {json.dumps(REBA_MIN)}, {json.dumps(RULA_MIN)}]"
    out = roundtrip(text)
    assert isinstance(out, list) and len(out) == 4
    assert out[0] == REBA_EXPECTED and out[1] == RULA_EXPECTED
    # The minimal worksheets score 1 everywhere.
    assert out[2]["scores"]["total"] == 1 and out[2]["risk"] == "negligible" and out[2]["action_level"] == 0
    assert out[3]["scores"]["grand"] == 1 and out[3]["action_level"] == 1
    # A one-element list gives a one-element list; each element equals the single-object result.
    assert roundtrip(f"[{RULA_TEXT}]") == [RULA_EXPECTED]


def test_reba_defaults_equal_spelled_out_defaults():
    full = copy.deepcopy(REBA_MIN)
    full["neck"].update(twisted=False, side_bent=False)
    full["trunk"].update(twisted=False, side_bent=False)
    full["legs"] = {"bilateral_support": True, "knee_flexion_deg": 0}
    full["upper_arm"].update(abducted=False, rotated=False, shoulder_raised=False, supported=False)
    full["wrist"]["deviated_or_twisted"] = False
    full.update(load_kg=0, shock=False, coupling="good",
                activity={"static": False, "repeated": False, "rapid_change": False})
    assert assess(full) == assess(REBA_MIN)
    # Defaults are not severity-neutral by accident: the one true default is bilateral support.
    assert assess({**REBA_MIN, "legs": {"bilateral_support": False}})["scores"]["legs"] == 2


def test_rula_defaults_equal_spelled_out_defaults():
    full = copy.deepcopy(RULA_MIN)
    full["upper_arm"].update(abducted=False, shoulder_raised=False, supported=False)
    full["lower_arm"]["across_midline_or_out_to_side"] = False
    full["wrist"].update(deviated=False, twist="mid")
    full["neck"].update(twisted=False, side_bent=False)
    full["trunk"].update(twisted=False, side_bent=False, seated_supported=False)
    full.update(legs={"supported": True}, muscle_use={"arm": False, "body": False},
                load={"kg": 0, "mode": "intermittent", "shock": False})
    assert assess(full) == assess(RULA_MIN)


@pytest.mark.parametrize(
    "load,force",
    # RULA force from the worksheet enums: 5 kg intermittent 1, repeated 2; 12 kg intermittent 2, static 3; shock 3
    [({"kg": 5, "mode": "intermittent"}, 1), ({"kg": 5, "mode": "repeated"}, 2), ({"kg": 12}, 2),
     ({"kg": 12, "mode": "static"}, 3), ({"shock": True}, 3)],
)
def test_rula_load_enum_mapping(load, force):
    out = assess({**RULA_MIN, "load": load})
    # Table A = Table B = 1 for the minimal posture, so C = D = 1 + force.
    assert out["scores"]["score_c"] == out["scores"]["score_d"] == 1 + force


@pytest.mark.parametrize("coupling,add", [("good", 0), ("fair", 1), ("poor", 2), ("unacceptable", 3)])
def test_reba_coupling_enum_mapping(coupling, add):
    out = assess({**REBA_MIN, "coupling": coupling})
    assert out["scores"]["score_b"] == 1 + add


def test_schemas_are_data_with_exact_field_names():
    assert set(REBA_SCHEMA) == {"method", "neck", "trunk", "legs", "upper_arm", "lower_arm", "wrist", "load_kg",
                                "shock", "coupling", "activity"}
    assert set(RULA_SCHEMA) == {"method", "upper_arm", "lower_arm", "wrist", "neck", "trunk", "legs", "muscle_use",
                                "load"}
    assert set(NIOSH_SCHEMA) == {"method", "load_kg", "h_cm", "v_origin_cm", "v_dest_cm", "asymmetry_deg",
                                 "frequency_per_min", "duration", "coupling"}
    for schema in (REBA_SCHEMA, RULA_SCHEMA, NIOSH_SCHEMA):
        assert all(len(spec) == 3 for spec in schema.values())


# ---------------------------------------------------------------------------------------------- errors
def with_(base: dict, path: str, value, delete: bool = False) -> dict:
    """A deep copy of `base` with the dotted `path` set to `value` (or deleted)."""
    doc = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return doc


REBA = json.loads(REBA_TEXT)
RULA = json.loads(RULA_TEXT)
NAN = json.loads("NaN")  # Python's json parser accepts NaN/Infinity, so assess must reject them itself
INF = json.loads("Infinity")

ERRORS = [
    # the document itself
    (5, "worksheet: expected an object or a list of objects, got number"),
    ("reba", "worksheet: expected an object or a list of objects, got string"),
    (None, "worksheet: expected an object or a list of objects, got null"),
    ([], "worksheet: empty list, expected at least one worksheet object"),
    ([REBA, 3], "worksheet[1]: expected a worksheet object, got number"),
    # method
    ({"neck": {}}, "worksheet.method: missing required field (one of reba, rula, niosh)"),
    ({"method": "owas"}, "worksheet.method: unknown method 'owas'; expected one of reba, rula, niosh"),
    ({"method": 1}, "worksheet.method: expected one of reba, rula, niosh, got number"),
    ([REBA, {"method": "REBA"}], "worksheet[1].method: unknown method 'REBA'; expected one of reba, rula, niosh"),
    # unknown fields, at the top and nested
    (with_(REBA, "extra", 1), "worksheet: unknown field 'extra' (valid fields: method, neck, trunk, legs,"),
    ([with_(REBA, "neck.flex", 1)], "worksheet[0].neck: unknown field 'flex' (valid fields: flexion_deg, twisted,"),
    (with_(RULA, "load.weight", 3), "worksheet.load: unknown field 'weight'"),
    (with_(REBA, "activity.walking", True), "worksheet.activity: unknown field 'walking'"),
    # nested objects of the wrong type (an optional object may be absent, but not null)
    (with_(REBA, "neck", 5), "worksheet.neck: expected an object, got number"),
    (with_(REBA, "activity", []), "worksheet.activity: expected an object, got array"),
    (with_(RULA, "legs", None), "worksheet.legs: expected an object, got null"),
    # numbers
    ([REBA, REBA, with_(REBA, "trunk.flexion_deg", "30")],
     "worksheet[2].trunk.flexion_deg: expected a number, got string"),
    (with_(REBA, "neck.flexion_deg", True), "worksheet.neck.flexion_deg: expected a number, got boolean"),
    (with_(REBA, "wrist.flexion_deg", None), "worksheet.wrist.flexion_deg: expected a number, got null"),
    (with_(RULA, "wrist.flexion_deg", [1]), "worksheet.wrist.flexion_deg: expected a number, got array"),
    (with_(REBA, "upper_arm.flexion_deg", NAN), "worksheet.upper_arm.flexion_deg: expected a finite number, got nan"),
    (with_(REBA, "load_kg", INF), "worksheet.load_kg: expected a finite number, got inf"),
    (with_(RULA, "trunk.flexion_deg", -INF), "worksheet.trunk.flexion_deg: expected a finite number, got -inf"),
    (with_(REBA, "legs.knee_flexion_deg", NAN), "worksheet.legs.knee_flexion_deg: expected a finite number, got nan"),
    (with_(REBA, "load_kg", -1), "worksheet.load_kg: expected a number >= 0, got -1"),
    (with_(RULA, "load.kg", -0.5), "worksheet.load.kg: expected a number >= 0, got -0.5"),
    # booleans must be true/false
    (with_(REBA, "neck.twisted", 1), "worksheet.neck.twisted: expected true or false, got number"),
    (with_(REBA, "shock", 0), "worksheet.shock: expected true or false, got number"),
    (with_(RULA, "legs", {"supported": "yes"}), "worksheet.legs.supported: expected true or false, got string"),
    (with_(RULA, "muscle_use.arm", None), "worksheet.muscle_use.arm: expected true or false, got null"),
    # enums
    (with_(REBA, "coupling", "bad"),
     "worksheet.coupling: expected one of 'good', 'fair', 'poor', 'unacceptable', got 'bad'"),
    (with_(REBA, "coupling", 1),
     "worksheet.coupling: expected one of 'good', 'fair', 'poor', 'unacceptable', got number"),
    (with_(RULA, "wrist.twist", "middle"), "worksheet.wrist.twist: expected one of 'mid', 'end', got 'middle'"),
    (with_(RULA, "load.mode", "constant"),
     "worksheet.load.mode: expected one of 'intermittent', 'static', 'repeated', got 'constant'"),
    # missing required fields
    (with_(REBA, "trunk", None, delete=True), "worksheet.trunk: missing required field"),
    (with_(RULA, "wrist", None, delete=True), "worksheet.wrist: missing required field"),
]
ERRORS += [(with_(REBA, f"{part}.flexion_deg", None, delete=True),
            f"worksheet.{part}.flexion_deg: missing required field")
           for part in ("neck", "trunk", "upper_arm", "lower_arm", "wrist")]
ERRORS += [(with_(RULA, f"{part}.flexion_deg", None, delete=True),
            f"worksheet.{part}.flexion_deg: missing required field")
           for part in ("upper_arm", "lower_arm", "wrist", "neck", "trunk")]


@pytest.mark.parametrize("doc,message", ERRORS, ids=[m[:60] for _, m in ERRORS])
def test_validation_errors_name_the_path(doc, message):
    with pytest.raises(InputError, match="^" + re.escape(message)) as exc:
        assess(doc)
    assert "\n" not in str(exc.value)


def test_validation_does_not_mutate_the_input():
    doc = json.loads(REBA_TEXT)
    before = copy.deepcopy(doc)
    assess(doc)
    assert doc == before


# ---------------------------------------------------------------------------------------------- NIOSH
# These fail in validation, before edge.ergonomics.niosh is imported, so they hold whatever that module computes.
NIOSH_ERRORS = [
    (with_(NIOSH, "height_cm", 30), "worksheet: unknown field 'height_cm'"),
    (with_(NIOSH, "h_cm", "40"), "worksheet.h_cm: expected a number, got string"),
    (with_(NIOSH, "load_kg", True), "worksheet.load_kg: expected a number, got boolean"),
    (with_(NIOSH, "frequency_per_min", NAN), "worksheet.frequency_per_min: expected a finite number, got nan"),
    (with_(NIOSH, "asymmetry_deg", -10), "worksheet.asymmetry_deg: expected a number >= 0, got -10"),
    (with_(NIOSH, "duration", "8h"), "worksheet.duration: expected one of 'short', 'moderate', 'long', got '8h'"),
    (with_(NIOSH, "coupling", "unacceptable"), "worksheet.coupling: expected one of 'good', 'fair', 'poor', got"),
] + [(with_(NIOSH, f, None, delete=True), f"worksheet.{f}: missing required field")
     for f in ("load_kg", "h_cm", "v_origin_cm", "v_dest_cm", "asymmetry_deg", "frequency_per_min", "duration",
               "coupling")]


@pytest.mark.parametrize("doc,message", NIOSH_ERRORS, ids=[m[:60] for _, m in NIOSH_ERRORS])
def test_niosh_schema_errors(doc, message):
    with pytest.raises(InputError, match="^" + re.escape(message)):
        assess(doc)


def test_niosh_dispatch_in_a_mixed_list():
    out = assess([REBA, NIOSH, RULA])
    assert out[0] == REBA_EXPECTED and out[2] == RULA_EXPECTED
    niosh = out[1]
    assert set(niosh) == {"method", "rwl_kg", "li", "multipliers", "warnings", "destination"}
    assert niosh["method"] == "niosh"
    assert set(niosh["multipliers"]) == {"hm", "vm", "dm", "am", "fm", "cm"}
    m = niosh["multipliers"]
    product = m["hm"] * m["vm"] * m["dm"] * m["am"] * m["fm"] * m["cm"]
    assert niosh["rwl_kg"] == pytest.approx(23.0 * product)
    assert niosh["li"] == pytest.approx(NIOSH["load_kg"] / niosh["rwl_kg"])
    assert m["hm"] == pytest.approx(25.0 / NIOSH["h_cm"])
    json.dumps(out)  # plain JSON types throughout
