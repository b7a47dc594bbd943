"""What REBA and RULA share: how a worksheet's fields are checked and broadcast, and the two arm bands both define.

REBA was derived from RULA and kept its upper- and lower-arm posture bands; both engines (`edge.ergonomics.reba`,
`edge.ergonomics.rula`) read their input dataclasses the same way. Keeping that here, in public names, lets each
engine hold only its own rules.

Field kinds understood by `prepare_fields`: `ANGLE` (finite float, degrees), `KG` (finite float >= 0), `FLAG`
(bool, or numbers that are exactly 0/1) and `integer_kind(lo, hi)` (integer-valued, lo..hi, e.g. an enum index).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from edge.errors import InputError

ArrayLike = Any  # scalar, sequence or np.ndarray

ANGLE, KG, FLAG = "angle", "kg", "flag"


def integer_kind(lo: int, hi: int) -> tuple[str, int, int]:
    """The field kind of an integer-valued field in lo..hi (an index into a tuple of names)."""
    return ("int", lo, hi)


def describe(arr: np.ndarray) -> str:
    """The first value of `arr` for an error message (or says that it is empty)."""
    return f"{arr.flat[0]!r}" if arr.size else f"an empty array of {arr.dtype}"


def _as_flag(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool:
        return arr
    # 0/1 numbers are accepted (masks from other numpy code); anything else is probably a wrong field.
    if arr.dtype.kind in "iuf":
        bad = (arr != 0) & (arr != 1)
        if not bad.any():
            return arr.astype(bool)
        arr = arr[bad]
    raise InputError(f"{name}: expected booleans (or 0/1), got {describe(arr)}")


def _as_array(name: str, value: ArrayLike, kind) -> np.ndarray:
    arr = np.asarray(value)
    if kind == FLAG:
        return _as_flag(name, arr)
    if arr.dtype.kind not in "iuf":  # bool is not a number here: True as an angle is a caller bug
        raise InputError(f"{name}: expected numbers, got {describe(arr)}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: expected finite numbers, got {float(arr[~np.isfinite(arr)].flat[0])}")
    if kind == ANGLE:
        return arr
    if kind == KG:
        if (arr < 0).any():
            raise InputError(f"{name}: must be >= 0, got {arr[arr < 0].flat[0]:g}")
        return arr
    _, lo, hi = kind
    bad = (arr != np.round(arr)) | (arr < lo) | (arr > hi)
    if bad.any():
        raise InputError(f"{name}: expected an integer {lo}..{hi}, got {arr[bad].flat[0]:g}")
    return arr.astype(np.int64)


def prepare_fields(inp, kinds: dict, checked: bool = False) -> dict[str, np.ndarray]:
    """Validate every field of the input dataclass `inp` and broadcast them all to one shape.

    `kinds` maps a field name to its kind; a field not named there is a `FLAG`. `checked`: the caller made every
    field itself of the right kind and dtype (finite float64 angles and kilograms, bool flags, int indices in range:
    `edge.scoring.methods.method_columns`), so only the broadcast is done; the checks cost more than the scoring
    on the one-frame arrays of live scoring."""
    names = _field_names(type(inp))
    if checked:
        arrays = [np.asarray(getattr(inp, n)) for n in names]
    else:
        arrays = [_as_array(n, getattr(inp, n), kinds.get(n, FLAG)) for n in names]
    # Scored one frame at a time live (edge.scoring.stream), fields are mostly 1-element arrays beside scalars from
    # the configuration: only the fields of another shape are broadcast, as read-only views (no engine writes into
    # its input), the same values np.broadcast_arrays gives at a fraction of the cost.
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            listed = ", ".join(f"{n}{a.shape}" for n, a in zip(names, arrays) if a.ndim)
            raise InputError(f"{type(inp).__name__}: field shapes do not broadcast together: {listed}") from None
        arrays = [a if a.shape == shape else np.broadcast_to(a, shape) for a in arrays]
    return dict(zip(names, arrays))


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def upper_arm_band(a):
    """Upper-arm posture band, identical in REBA and RULA, before either method's adjustments."""
    flexion_band = np.where(a <= 20, 1, np.where(a <= 45, 2, np.where(a <= 90, 3, 4)))
    return np.where(a < -20, 2, flexion_band)


def lower_arm_band(a):
    """Lower-arm posture band, identical in REBA and RULA (RULA adds its midline/side adjustment)."""
    return np.where((a >= 60) & (a <= 100), 1, 2)
