"""Writing a scored sequence: `scores.csv` (a row per frame), `summary.json` and `timeline.png`.

`write_outputs` writes a recording scored whole; `write_scored_blocks` one scored a block of frames at a time
(`edge.scoring.chunked`): scores.csv grows as the blocks come, the summary is built as they go, and the timeline
is drawn from the largest values in each of at most `TIMELINE_BINS` runs of frames.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from edge.paths import atomic_path, atomic_paths, atomic_write, output_dir
from edge.ergonomics.l5s1 import COMPRESSION_LIMIT_N
from edge.ergonomics.reba import risk_bands
from edge.scoring.offline import ScoreResult
from edge.scoring.summary import SummaryBuilder

_INTEGER_PREFIXES = ("reba_", "rula_")


def write_outputs(result: ScoreResult, out_dir: str | os.PathLike, run_info: dict | None = None) -> dict[str, Path]:
    """Write the three files into `out_dir` (created if needed); returns their paths."""
    paths = _output_paths(out_dir)
    with atomic_paths(paths) as staged:  # the three change together: an interrupt leaves the earlier three
        write_scores_csv(result.columns, staged["scores"])
        _write_summary(result.summary, run_info, staged["summary"])
        plot_timeline(result, staged["timeline"])
    return paths


def write_scored_blocks(blocks: Iterable[dict[str, np.ndarray]], summary: SummaryBuilder, num_frames: int,
                        out_dir: str | os.PathLike, run_info: dict | None = None) -> tuple[dict, dict[str, Path]]:
    """Write the three files of a recording of `num_frames` frames whose columns come as `blocks` of consecutive
    frames: each block is written to scores.csv and added to `summary` as it comes. Returns the summary and the
    paths."""
    paths = _output_paths(out_dir)
    timeline = TimelineBins(num_frames)
    with atomic_paths(paths) as staged:  # as in write_outputs
        with _csv_writer(staged["scores"]) as write:
            for columns in blocks:
                write(columns)
                summary.add(columns)
                timeline.add(columns)
        result = ScoreResult(columns=timeline.columns(), summary=summary.result())
        _write_summary(result.summary, run_info, staged["summary"])
        plot_timeline(result, staged["timeline"])
    return result.summary, paths


def _output_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    out = output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {"scores": out / "scores.csv", "summary": out / "summary.json", "timeline": out / "timeline.png"}


def _write_summary(summary: dict, run_info: dict | None, path: Path) -> None:
    summary = dict(summary)
    if run_info:
        summary["run"] = run_info
    atomic_write(path, json.dumps(summary, indent=2, default=_json_default) + "\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_scores_csv(columns: dict[str, np.ndarray], path: Path) -> None:
    """One row per frame. Integers for scores, 3 decimals for measures, 0/1 for flags, empty cells for unknown."""
    with _csv_writer(path) as write:
        write(columns)


# Rows formatted at a time: every cell becomes a Python object first (90 columns, ~3 KB a row), so a CSV of any length
# is written in bounded memory.
_CSV_BLOCK_ROWS = 4096


@contextlib.contextmanager
def _csv_writer(path: Path) -> Iterator[Callable[[dict[str, np.ndarray]], None]]:
    """A function that appends the rows of a block of frames' columns to scores.csv (the header before the first
    block); the file is written beside `path` and renamed into place when the block ends without an exception."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        started = []

        def write(columns: dict[str, np.ndarray]) -> None:
            if not started:
                f.write(",".join(columns) + "\n")
                started.append(True)
            formats = ",".join(_cell_format(name, np.asarray(column)) for name, column in columns.items())
            frames = len(columns["time_s"])
            for first in range(0, max(frames, 1), _CSV_BLOCK_ROWS):
                values = [np.asarray(column)[first:first + _CSV_BLOCK_ROWS].tolist() for column in columns.values()]
                # One %-format per row is the fast path in pure Python; NaN prints as "nan", which becomes an empty
                # cell (no column name or label contains "nan").
                f.write("\n".join(formats % row for row in zip(*values)).replace("nan", "") + "\n")

        yield write


def _cell_format(name: str, column: np.ndarray) -> str:
    if column.dtype == object:
        return "%s"
    if column.dtype == bool:
        return "%d"
    return "%.0f" if name.startswith(_INTEGER_PREFIXES) else "%.3f"


# Points per curve in the timeline of a recording written in blocks: the plot is 990 pixels wide.
TIMELINE_BINS = 2000
_TIMELINE_COLUMNS = ("reba_total", "rula_grand", "l5s1_compression_n")


class TimelineBins:
    """The largest REBA, RULA and compression in each of at most TIMELINE_BINS equal runs of frames (NaN where a
    run has no known value), gathered a block of frames at a time: what timeline.png shows of a long recording."""

    def __init__(self, num_frames: int):
        bins = max(min(TIMELINE_BINS, num_frames), 1)
        self.starts = np.arange(bins + 1) * num_frames // bins  # first frame of each run, and the end
        self.values = {name: np.full(bins, np.nan) for name in _TIMELINE_COLUMNS}
        self.time_s = np.full(bins, np.nan)
        self.frames = 0

    def add(self, c: dict[str, np.ndarray]) -> None:
        lo, hi = self.frames, self.frames + len(c["time_s"])
        first = int(np.searchsorted(self.starts, lo, side="right")) - 1
        last = int(np.searchsorted(self.starts, hi - 1, side="right")) - 1
        offsets = np.maximum(self.starts[first:last + 1], lo) - lo
        for name, values in self.values.items():
            values[first:last + 1] = np.fmax(values[first:last + 1], np.fmax.reduceat(c[name], offsets))
        begins = self.starts[first:last + 1]
        inside = begins >= lo
        self.time_s[first:last + 1][inside] = c["time_s"][begins[inside] - lo]
        self.frames = hi

    def columns(self) -> dict[str, np.ndarray]:
        return {"time_s": self.time_s, **self.values}


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
        ax.text(1.005, (band.low + band.high) / 2, band.name, transform=ax.get_yaxis_transform(), va="center",
                fontsize=8)
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
