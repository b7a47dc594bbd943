"""The `ergoedge assess` worksheet schema: parsed JSON in, REBA / RULA / NIOSH results out.

`assess(doc)` takes one worksheet object or a list of them (already parsed JSON) and returns one result dict or a
list of them, in input order. Every worksheet names its method ("reba", "rula" or "niosh").

Validation is strict and driven by the schemas below, which are data: an object schema maps each field name to
`(type, required, default)`, where type is NUMBER, NON_NEGATIVE, BOOLEAN, a tuple of allowed strings (an enum) or a
nested object schema. An optional nested object that is absent is read as `{}`, so its own defaults apply. Unknown
fields, wrong JSON types (booleans must be true/false, never 0/1; a number is never a boolean), NaN/infinity, missing
required fields and unknown enum strings are all errors: `InputError` with one line naming the path, e.g.
``worksheet[2].trunk.flexion_deg: expected a number, got string``. The root path is ``worksheet`` for a single
object and ``worksheet[i]`` for the i-th element of a list.

Angles are degrees, negative flexion = extension; band boundaries follow the engines (`edge.ergonomics.reba`,
`edge.ergonomics.rula`). REBA and RULA worksheets in a list are scored in one vectorised engine call per method.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from edge.ergonomics.reba import COUPLING, RebaInput, reba_risk, reba_scores
from edge.ergonomics.rula import LOAD_MODES, RulaInput, rula_scores
from edge.errors import InputError

NUMBER = "number"
NON_NEGATIVE = "non-negative number"
BOOLEAN = "boolean"

_ANGLE = (NUMBER, True, None)  # every segment angle is required: there is no neutral default for a measurement
_NO = (BOOLEAN, False, False)
_YES = (BOOLEAN, False, True)

REBA_SCHEMA: dict = {
    "method": (("reba",), True, None),
    "neck": ({"flexion_deg": _ANGLE, "twisted": _NO, "side_bent": _NO}, True, None),
    "trunk": ({"flexion_deg": _ANGLE, "twisted": _NO, "side_bent": _NO}, True, None),
    "legs": ({"bilateral_support": _YES, "knee_flexion_deg": (NUMBER, False, 0.0)}, False, None),
    "upper_arm": (
        {"flexion_deg": _ANGLE, "abducted": _NO, "rotated": _NO, "shoulder_raised": _NO, "supported": _NO}, True, None,
    ),
    "lower_arm": ({"flexion_deg": _ANGLE}, True, None),
    "wrist": ({"flexion_deg": _ANGLE, "deviated_or_twisted": _NO}, True, None),
    "load_kg": (NON_NEGATIVE, False, 0.0),
    "shock": _NO,
    "coupling": (COUPLING, False, "good"),
    "activity": ({"static": _NO, "repeated": _NO, "rapid_change": _NO}, False, None),
}

RULA_SCHEMA: dict = {
    "method": (("rula",), True, None),
    "upper_arm": ({"flexion_deg": _ANGLE, "abducted": _NO, "shoulder_raised": _NO, "supported": _NO}, True, None),
    "lower_arm": ({"flexion_deg": _ANGLE, "across_midline_or_out_to_side": _NO}, True, None),
    "wrist": ({"flexion_deg": _ANGLE, "deviated": _NO, "twist": (("mid", "end"), False, "mid")}, True, None),
    "neck": ({"flexion_deg": _ANGLE, "twisted": _NO, "side_bent": _NO}, True, None),
    "trunk": ({"flexion_deg": _ANGLE, "twisted": _NO, "side_bent": _NO, "seated_supported": _NO}, True, None),
    "legs": ({"supported": _YES}, False, None),
    "muscle_use": ({"arm": _NO, "body": _NO}, False, None),
    "load": (
        {"kg": (NON_NEGATIVE, False, 0.0), "mode": (LOAD_MODES, False, "intermittent"), "shock": _NO}, False, None,
    ),
}

NIOSH_SCHEMA: dict = {
    "method": (("niosh",), True, None),
    # The lifting equation has no meaning for negative distances, loads, angles or rates.
    "load_kg": (NON_NEGATIVE, True, None),
    "h_cm": (NON_NEGATIVE, True, None),
    "v_origin_cm": (NON_NEGATIVE, True, None),
    "v_dest_cm": (NON_NEGATIVE, True, None),
    "asymmetry_deg": (NON_NEGATIVE, True, None),
    "frequency_per_min": (NON_NEGATIVE, True, None),
    "duration": (("short", "moderate", "long"), True, None),
    "coupling": (("good", "fair", "poor"), True, None),
}

SCHEMAS = {"reba": REBA_SCHEMA, "rula": RULA_SCHEMA, "niosh": NIOSH_SCHEMA}

# Engine field <- (path in the validated worksheet, conversion). Also data, so adding a field is one line.
_REBA_FIELDS: dict[str, tuple[tuple[str, ...], Callable | None]] = {
    "neck_flexion_deg": (("neck", "flexion_deg"), None),
    "neck_twisted": (("neck", "twisted"), None),
    "neck_side_bent": (("neck", "side_bent"), None),
    "trunk_flexion_deg": (("trunk", "flexion_deg"), None),
    "trunk_twisted": (("trunk", "twisted"), None),
    "trunk_side_bent": (("trunk", "side_bent"), None),
    "bilateral_support": (("legs", "bilateral_support"), None),
    "knee_flexion_deg": (("legs", "knee_flexion_deg"), None),
    "upper_arm_flexion_deg": (("upper_arm", "flexion_deg"), None),
    "upper_arm_abducted": (("upper_arm", "abducted"), None),
    "upper_arm_rotated": (("upper_arm", "rotated"), None),
    "shoulder_raised": (("upper_arm", "shoulder_raised"), None),
    "arm_supported": (("upper_arm", "supported"), None),
    "lower_arm_flexion_deg": (("lower_arm", "flexion_deg"), None),
    "wrist_flexion_deg": (("wrist", "flexion_deg"), None),
    "wrist_deviated_or_twisted": (("wrist", "deviated_or_twisted"), None),
    "load_kg": (("load_kg",), None),
    "shock": (("shock",), None),
    "coupling": (("coupling",), COUPLING.index),
    "activity_static": (("activity", "static"), None),
    "activity_repeated": (("activity", "repeated"), None),
    "activity_rapid_change": (("activity", "rapid_change"), None),
}

_RULA_FIELDS: dict[str, tuple[tuple[str, ...], Callable | None]] = {
    "upper_arm_flexion_deg": (("upper_arm", "flexion_deg"), None),
    "upper_arm_abducted": (("upper_arm", "abducted"), None),
    "shoulder_raised": (("upper_arm", "shoulder_raised"), None),
    "arm_supported": (("upper_arm", "supported"), None),
    "lower_arm_flexion_deg": (("lower_arm", "flexion_deg"), None),
    "lower_arm_across_midline_or_out_to_side": (("lower_arm", "across_midline_or_out_to_side"), None),
    "wrist_flexion_deg": (("wrist", "flexion_deg"), None),
    "wrist_deviated": (("wrist", "deviated"), None),
    "wrist_twist_end": (("wrist", "twist"), lambda twist: twist == "end"),
    "neck_flexion_deg": (("neck", "flexion_deg"), None),
    "neck_twisted": (("neck", "twisted"), None),
    "neck_side_bent": (("neck", "side_bent"), None),
    "trunk_flexion_deg": (("trunk", "flexion_deg"), None),
    "trunk_twisted": (("trunk", "twisted"), None),
    "trunk_side_bent": (("trunk", "side_bent"), None),
    "trunk_seated_supported": (("trunk", "seated_supported"), None),
    "legs_supported": (("legs", "supported"), None),
    "muscle_use_arm": (("muscle_use", "arm"), None),
    "muscle_use_body": (("muscle_use", "body"), None),
    "load_kg": (("load", "kg"), None),
    "load_mode": (("load", "mode"), LOAD_MODES.index),
    "shock": (("load", "shock"), None),
}

_REBA_OUTPUT = ("neck", "trunk", "legs", "upper_arm", "lower_arm", "wrist",
                "table_a", "score_a", "table_b", "score_b", "table_c", "total")
_RULA_OUTPUT = ("upper_arm", "lower_arm", "wrist", "wrist_twist", "neck", "trunk", "legs",
                "table_a", "score_c", "table_b", "score_d", "grand")


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check(value: Any, kind: Any, path: str) -> Any:
    """Validate one value against a field type; return it (objects come back with defaults filled in)."""
    if isinstance(kind, dict):
        return _validate_object(value, kind, path)
    if isinstance(kind, tuple):
        if not isinstance(value, str):
            raise InputError(f"{path}: expected one of {_choices(kind)}, got {_json_type(value)}")
        if value not in kind:
            raise InputError(f"{path}: expected one of {_choices(kind)}, got {value!r}")
        return value
    if kind == BOOLEAN:
        if not isinstance(value, bool):
            raise InputError(f"{path}: expected true or false, got {_json_type(value)}")
        return value
    if kind in (NUMBER, NON_NEGATIVE):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{path}: expected a number, got {_json_type(value)}")
        value = float(value)
        if not math.isfinite(value):  # Python's json accepts NaN and Infinity
            raise InputError(f"{path}: expected a finite number, got {value}")
        if kind == NON_NEGATIVE and value < 0:
            raise InputError(f"{path}: expected a number >= 0, got {value:g}")
        return value
    raise TypeError(f"bad schema type {kind!r} at {path}")  # a bug in the schema tables, not user input


def _choices(names: tuple[str, ...]) -> str:
    return ", ".join(repr(n) for n in names)


def _validate_object(value: Any, schema: dict, path: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected an object, got {_json_type(value)}")
    for key in value:
        if key not in schema:
            raise InputError(f"{path}: unknown field {key!r} (valid fields: {', '.join(schema)})")
    out = {}
    for name, (kind, required, default) in schema.items():
        if name in value:
            out[name] = _check(value[name], kind, f"{path}.{name}")
        elif required:
            raise InputError(f"{path}.{name}: missing required field")
        elif isinstance(kind, dict):
            out[name] = _validate_object({}, kind, f"{path}.{name}")
        else:
            out[name] = default
    return out


def _method_of(sheet: Any, path: str) -> str:
    if not isinstance(sheet, dict):
        raise InputError(f"{path}: expected a worksheet object, got {_json_type(sheet)}")
    valid = ", ".join(SCHEMAS)
    if "method" not in sheet:
        raise InputError(f"{path}.method: missing required field (one of {valid})")
    method = sheet["method"]
    if not isinstance(method, str):
        raise InputError(f"{path}.method: expected one of {valid}, got {_json_type(method)}")
    if method not in SCHEMAS:
        raise InputError(f"{path}.method: unknown method {method!r}; expected one of {valid}")
    return method


def _engine_arrays(sheets: list[dict], fields: dict) -> dict[str, np.ndarray]:
    """Columns of engine inputs, one element per validated worksheet."""
    columns = {}
    for name, (path, convert) in fields.items():
        values = []
        for sheet in sheets:
            value = sheet
            for key in path:
                value = value[key]
            values.append(convert(value) if convert else value)
        columns[name] = np.asarray(values)
    return columns


def _score_reba(sheets: list[dict]) -> list[dict]:
    scores = reba_scores(RebaInput(**_engine_arrays(sheets, _REBA_FIELDS)))
    levels, risks = reba_risk(scores["total"])
    columns = {k: scores[k].tolist() for k in _REBA_OUTPUT}
    return [
        {
            "method": "reba",
            "scores": {k: columns[k][i] for k in _REBA_OUTPUT},
            "risk": str(risks[i]),
            "action_level": int(levels[i]),
        }
        for i in range(len(sheets))
    ]


def _score_rula(sheets: list[dict]) -> list[dict]:
    scores = rula_scores(RulaInput(**_engine_arrays(sheets, _RULA_FIELDS)))
    columns = {k: scores[k].tolist() for k in (*_RULA_OUTPUT, "action_level")}
    return [
        {
            "method": "rula",
            "scores": {k: columns[k][i] for k in _RULA_OUTPUT},
            "action_level": columns["action_level"][i],
        }
        for i in range(len(sheets))
    ]


def _score_niosh(sheets: list[dict]) -> list[dict]:
    # Imported here so REBA/RULA assessment does not depend on the NIOSH module.
    from edge.ergonomics.niosh import LiftTask, assess_lift

    return [assess_lift(LiftTask(**{k: v for k, v in sheet.items() if k != "method"})) for sheet in sheets]


_SCORERS = {"reba": _score_reba, "rula": _score_rula, "niosh": _score_niosh}


def assess(doc: Any) -> dict | list[dict]:
    """Score one worksheet (a dict) or a list of worksheets; returns a JSON-serialisable dict or list of dicts.

    Every worksheet is validated before anything is scored, so an error never leaves partial results behind.
    """
    if isinstance(doc, dict):
        sheets, paths = [doc], ["worksheet"]
    elif isinstance(doc, list):
        if not doc:
            raise InputError("worksheet: empty list, expected at least one worksheet object")
        sheets, paths = doc, [f"worksheet[{i}]" for i in range(len(doc))]
    else:
        raise InputError(f"worksheet: expected an object or a list of objects, got {_json_type(doc)}")

    by_method: dict[str, list[int]] = {m: [] for m in SCHEMAS}
    validated = []
    for i, (sheet, path) in enumerate(zip(sheets, paths)):
        method = _method_of(sheet, path)
        validated.append(_validate_object(sheet, SCHEMAS[method], path))
        by_method[method].append(i)

    results: list[dict | None] = [None] * len(sheets)
    for method, indices in by_method.items():
        if indices:
            for i, result in zip(indices, _SCORERS[method]([validated[i] for i in indices])):
                results[i] = result
    return results[0] if isinstance(doc, dict) else results
