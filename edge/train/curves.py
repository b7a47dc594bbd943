"""The training-curve figure of a run (`RUN/curves.png`): losses on top, the validation metrics below."""

from __future__ import annotations

import math
from pathlib import Path

from edge.paths import atomic_path

# Validation metrics worth a line when the task has them: percentages on the left axis, errors on the right.
_PERCENT = ("f1@10", "edit", "accuracy")
_ERRORS = ("reba_mse", "partials_mse", "mad", "rmse", "mpjpe")


def _finite(values) -> list:
    return [v if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]


def plot_curves(history: list[dict], path: Path, monitor: str) -> None:
    """Train and validation loss per epoch, the shown validation metrics, and the best epoch marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 6.5))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(epochs, _finite(h["train"]["loss"] for h in history), "o-", ms=3, label="train loss")
    if any(h.get("val") for h in history):
        top.plot(epochs, _finite(h["val"].get("loss") for h in history), "o-", ms=3, label="validation loss")
    best = [h["epoch"] for h in history if h.get("best")]
    for ax in (top, bottom):
        if best:
            ax.axvline(best[-1], color="#888888", ls="--", lw=1)
    top.set_ylabel("loss")
    top.set_title(f"best epoch {best[-1] if best else '-'} (by validation {monitor})", loc="left", fontsize=10)
    top.legend(loc="upper right", fontsize=8)
    def present(names):
        return [m for m in names if any(m in (h.get("val") or {}) for h in history)]

    percent, errors = present(_PERCENT), present(_ERRORS)
    right = bottom.twinx() if percent and errors else bottom
    for ax, names, style in ((bottom, percent, "o-"), (right, errors, "s--")):
        for name in names:
            ax.plot(epochs, _finite((h.get("val") or {}).get(name) for h in history), style, ms=3, label=name)
        if names:
            ax.legend(loc="upper left" if ax is bottom and right is not bottom else "upper right", fontsize=8)
    bottom.set_ylabel("validation, %" if percent else "validation error")
    if right is not bottom:
        right.set_ylabel("validation error")
    bottom.set_xlabel("epoch")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=80)
