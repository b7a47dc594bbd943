"""Published ergonomic tables (REBA, RULA, NIOSH) and de Leva body-segment parameters, loaded from package data."""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np


@functools.lru_cache(maxsize=1)
def tables() -> dict:
    """The parsed `edge/data/ergonomics.json` (read once)."""
    with resources.files("edge").joinpath("data/ergonomics.json").open("r", encoding="utf-8") as fh:
        return json.load(fh)


@functools.lru_cache(maxsize=None)
def table_array(method: str, name: str) -> np.ndarray:
    """A REBA/RULA lookup table as an integer array, e.g. `table_array("reba", "table_a")` -> shape (3, 5, 4)."""
    arr = np.asarray(tables()[method][name]["values"], dtype=np.int64)
    arr.setflags(write=False)
    return arr
