"""The models by name: a plain dict from name to its config class and builder (no registration at import, no
dotted-path strings). `ergoedge train --model NAME`, checkpoints and the exporter all go through `MODELS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.errors import InputError


@dataclass(frozen=True)
class ModelEntry:
    """How to make one model: its frozen config dataclass (with a `data: DataSpec` field) and the function that
    builds the torch module from such a config. `task` says which targets it learns (for data and metrics):
    "segmentation", "reba", "segmentation+reba", "quality" or "lifting"."""

    config: type
    build: Callable[[Any], Any]
    task: str


MODELS: dict[str, ModelEntry] = {
}


def model_entry(name: str) -> ModelEntry:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}") from None
