"""`make_report`: the shift report's files (`runtime.shift_report`): what `data` reads, drawn by `html` and `pdf`."""

from __future__ import annotations

from pathlib import Path

from edge.errors import InputError
from edge.paths import atomic_write, output_dir
from runtime.shift_report.data import ReportSpec, csv_tables, day_series, load_period
from runtime.shift_report.html import draw_trends, render_html
from runtime.shift_report.pdf import render_pdf


def make_report(spec: ReportSpec, out_dir: str | Path) -> dict[str, Path]:
    """Write the report files (module doc) to `out_dir`; returns their paths by kind."""
    out = output_dir(out_dir)
    if (out / "report.json").exists():  # a run's folder: its report.html would be replaced
        raise InputError(f"{out} holds a run's report (report.json); give the shift report a folder of its own")
    data = load_period(spec)
    charts = trend_charts(data)
    out.mkdir(parents=True, exist_ok=True)
    files = {"html": atomic_write(out / "report.html", render_html(data, charts))}
    files["pdf"] = out / "report.pdf"
    atomic_write(files["pdf"], render_pdf(data, charts))
    for name, text in csv_tables(data).items():
        files[name] = atomic_write(out / f"{name}.csv", text)
    return files


def trend_charts(data: dict) -> dict[str, bytes]:
    """PNG charts of the trends across the days (`html.draw_trends`)."""
    return draw_trends(day_series(data, data["groups"]))
