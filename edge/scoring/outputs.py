"""Writing a scored sequence: `scores.csv` (a row per frame), `summary.json` and `timeline.png`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edge.paths import output_dir, atomic_path, atomic_write
from edge.ergonomics.l5s1 import COMPRESSION_LIMIT_N
from edge.ergonomics.reba import risk_bands
from edge.scoring.offline import ScoreResult

_INTEGER_PREFIXES = ("reba_", "rula_")


def write_outputs(result: ScoreResult, out_dir: str | os.PathLike, run_info: dict | None = None) -> dict[str, Path]:
    """Write the three files into `out_dir` (created if needed); returns their paths."""
    out = output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores": out / "scores.csv", "summary": out / "summary.json", "timeline": out / "timeline.png"}
    _write_csv(result.columns, paths["scores"])
    summary = dict(result.summary)
    if run_info:
        summary["run"] = run_info
    atomic_write(paths["summary"], json.dumps(summary, indent=2, default=_json_default) + "\n")
    plot_timeline(result, paths["timeline"])
    return paths


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _write_csv(columns: dict[str, np.ndarray], path: Path) -> None:
    """One row per frame. Integers for scores, 3 decimals for measures, 0/1 for flags, empty cells for unknown."""
    formats, values = [], []
    for name, column in columns.items():
        column = np.asarray(column)
        if column.dtype == object:
            formats.append("%s")
        elif column.dtype == bool:
            formats.append("%d")
        elif name.startswith(_INTEGER_PREFIXES):
            formats.append("%.0f")
        else:
            formats.append("%.3f")
        values.append(column.tolist())
    row_format = ",".join(formats)
    # One %-format per row is the fast path in pure Python; NaN prints as "nan", which becomes an empty cell
    # (no column name or label contains "nan").
    body = "\n".join(row_format % row for row in zip(*values)).replace("nan", "")
    atomic_write(path, ",".join(columns) + "\n" + body + "\n")


# Plot colours of REBA's risk levels, negligible to very high (report figures use them too).
RISK_COLOURS = ("#2e7d32", "#9ccc65", "#fdd835", "#fb8c00", "#c62828")


def plot_timeline(result: ScoreResult, path: Path) -> None:
    """Risk over time in three panels: REBA with its risk bands, RULA action level, L5/S1 compression."""
    # The object API with the Agg canvas: no pyplot, no GUI backend, no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    c = result.columns
    t = c["time_s"]
    fig = Figure(figsize=(11, 7))
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
    ax = axes[0]
    for band, colour in zip(risk_bands(), RISK_COLOURS):
        ax.axhspan(band.low - 0.5, band.high + 0.5, color=colour, alpha=0.18, lw=0)
        ax.text(1.005, (band.low + band.high) / 2, band.name, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.step(t, c["reba_total"], where="post", color="black", lw=1.2, label="REBA (worse side)")
    ax.set_ylim(0.5, 15.5)
    ax.set_ylabel("REBA")
    peak = result.summary["reba"]["peak"]
    title = f"{result.summary['layout']}, {result.summary['duration_s']:.1f} s"
    if peak:
        title += f"; REBA peak {peak['value']:.0f} at {peak['time_s']:.1f} s"
    ax.set_title(title, loc="left", fontsize=10)

    ax = axes[1]
    for level, colour in zip((1, 2, 3, 4), RISK_COLOURS[1:]):
        ax.axhspan(2 * level - 1.5, 2 * level + 0.5, color=colour, alpha=0.18, lw=0)
    ax.step(t, c["rula_grand"], where="post", color="black", lw=1.2)
    ax.set_ylim(0.5, 7.5)
    ax.set_ylabel("RULA")

    ax = axes[2]
    comp = c["l5s1_compression_n"]
    ax.plot(t, comp, color="#1565c0", lw=1.0, label="L5/S1 compression (est.)")
    ax.axhline(COMPRESSION_LIMIT_N, color="#c62828", ls="--", lw=1.0, label="NIOSH action limit 3400 N")
    over = np.nan_to_num(comp) > COMPRESSION_LIMIT_N
    if over.any():
        ax.fill_between(t, COMPRESSION_LIMIT_N, comp, where=over, color="#c62828", alpha=0.3, lw=0)
    ax.set_ylabel("L5/S1 [N]")
    ax.set_xlabel("time [s]")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
