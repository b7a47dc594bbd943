"""The one interface every inference backend implements, and the checks they share.

A backend is a loaded model that maps named input arrays to named output arrays (`InferenceBackend.infer`). Inputs
must arrive with the declared dtype and rank; a wrong dtype or a missing input is an `InputError`, never a silent
cast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edge.errors import InputError

Spec = tuple[tuple[int | None, ...], np.dtype]


@runtime_checkable
class InferenceBackend(Protocol):
    """A loaded model that maps named input arrays to named output arrays.

    input_specs: input name -> (shape, dtype); a dimension the model leaves open (dynamic) is None.
    output_specs: output name -> (shape, dtype), as declared by the model.
    output_names: output names in the model's order; `infer` returns exactly these keys.
    """

    input_specs: dict[str, tuple[tuple[int | None, ...], np.dtype]]
    output_specs: dict[str, tuple[tuple[int | None, ...], np.dtype]]
    output_names: list[str]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def existing_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    return path


def check_inputs(specs: dict[str, Spec], inputs: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Inputs as C-contiguous arrays of the declared dtype and rank; InputError names any mismatch."""
    missing = [name for name in specs if name not in inputs]
    extra = [name for name in inputs if name not in specs]
    if missing or extra:
        raise InputError(f"{where}: inputs {sorted(inputs)} do not match the model's {sorted(specs)}")
    out = {}
    for name, (shape, dtype) in specs.items():
        arr = np.asarray(inputs[name])
        if arr.dtype != dtype:
            raise InputError(f"{where}: input {name!r} has dtype {arr.dtype}, the model wants {np.dtype(dtype)}")
        if arr.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
            raise InputError(f"{where}: input {name!r} has shape {list(arr.shape)}, the model wants "
                             f"{[d if d is not None else '?' for d in shape]}")
        out[name] = np.ascontiguousarray(arr)
    return out


def wanted_outputs(backend: Any, names) -> list[str]:
    """The requested output names in the model's order; an unknown name is an InputError."""
    unknown = sorted(set(names) - set(backend.output_specs))
    if unknown:
        raise InputError(f"{backend.path.name}: no output named {unknown[0]!r}")
    return [n for n in backend.output_specs if n in set(names)]
