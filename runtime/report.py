"""The end-of-run report a supervisor can read: `report.json`, `report.png` (risk over time per person) and
`report.html` (the picture, time in each risk level per person, and the alerts).

While a run goes, `report.json` alone is rewritten every minute (atomically, "final": false), so a crash leaves a
recent one; the picture and the page are drawn at the end. A run that starts where an earlier run left its report
first renames that report's files to `report-<its run id>.*` (`keep_previous_reports`), so a restart never
overwrites the report of the run before it."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from pathlib import Path

import numpy as np

from edge.ergonomics.l5s1 import COMPRESSION_LIMIT_N
from edge.paths import atomic_path, atomic_write
from edge.ergonomics.reba import risk_bands
from edge.scoring.outputs import RISK_COLOURS

# Reports of earlier runs kept beside the current one (a crash loop must not fill the disk with them).
KEEP_PREVIOUS = 30
REPORT_FILES = ("json", "png", "html")


def _plot(rows: dict, bin_s: float, path: Path) -> None:
    """One panel per person in `rows` (keys sort with people first: a "left" key is everyone who left)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    people = sorted(rows, key=lambda p: (isinstance(p, str), p)) or [None]
    fig = Figure(figsize=(11, 1.2 + 2.2 * len(people)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(people), 1, squeeze=False)[:, 0]
    for ax, person in zip(axes, people):
        for band, colour in zip(risk_bands(), RISK_COLOURS):
            ax.axhspan(band.low - 0.5, band.high + 0.5, color=colour, alpha=0.18, lw=0)
        ax.set_ylim(0.5, 15.5)
        ax.set_ylabel("REBA")
        if person is None:
            ax.set_title("nobody was seen", loc="left", fontsize=10)
            continue
        starts = np.array(sorted(rows[person]), dtype=float)
        values = np.array([rows[person][s] for s in starts])
        # Each bin holds its worst value until the bin ends.
        ax.step(np.append(starts, starts[-1] + bin_s), np.append(values[:, 0], values[-1, 0]), where="post",
                color="black", lw=1.2)
        seconds = starts
        over = values[:, 2] > COMPRESSION_LIMIT_N
        if over.any():
            ax.scatter(seconds[over], np.full(over.sum(), 15.0), marker="v", color="#c62828", s=12,
                       label="L5/S1 over 3400 N")
            ax.legend(loc="upper right", fontsize=8)
        who = "everyone who left the view" if person == "left" else f"person {person}"
        ax.set_title(f"{who}: worst REBA per {bin_s:g} s", loc="left", fontsize=10)
    axes[-1].set_xlabel("time [s]")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=80)


def _plot_in_child(report_json: Path, png: Path) -> None:
    """Draw in a fresh interpreter. In a process that has run GStreamer pipelines (x264enc, the RTSP server's GLib
    loop), importing matplotlib's text modules was seen to abort or segfault on Debian 12; a child process keeps
    the report independent of whatever native libraries the run loaded."""
    import subprocess
    import sys

    code = "import sys; from runtime.report import plot_report_file; plot_report_file(sys.argv[1], sys.argv[2])"
    proc = subprocess.run([sys.executable, "-c", code, str(report_json), str(png)], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        lines = (proc.stderr or "").strip().splitlines()
        raise RuntimeError(f"drawing the report failed: {lines[-1] if lines else proc.returncode}")


def plot_report_file(report_json: str, png: str) -> None:
    """Draw report.png from report.json (the timeline it holds)."""
    report = json.loads(Path(report_json).read_text(encoding="utf-8"))
    timeline = report["timeline"]
    series = {int(p): values for p, values in timeline["people"].items()}
    if timeline.get("left", {}).get("rows"):
        series["left"] = timeline["left"]["rows"]
    rows = {p: {r[0]: [np.nan if v is None else v for v in r[1:]] for r in values} for p, values in series.items()}
    _plot(rows, float(timeline["bin_s"]), Path(png))


def write_report(report: dict, out: Path, final: bool = True) -> dict:
    """Write report.json into `out`, and when `final` report.png and report.html too; returns the report with the
    file paths and the final flag added. `report["timeline"]` is `runtime.telemetry.RiskTimeline.to_json()`."""
    report = {**report, "final": final,
              "files": {name: str(out / f"report.{name}") for name in (REPORT_FILES if final else ("json",))}}
    out.mkdir(parents=True, exist_ok=True)  # a run that saw no frame has not made it yet
    atomic_write(out / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    if final:
        _plot_in_child(out / "report.json", out / "report.png")
        atomic_write(out / "report.html", _html(report, out / "report.png"))
    return report


def keep_previous_reports(out: Path, keep: int = KEEP_PREVIOUS) -> str | None:
    """Before a run writes into `out`: rename the report left there to report-<its run id>.json (.png, .html) and
    delete all but the newest `keep` renamed ones (run ids start with their UTC start time, so names sort by age).
    Returns the run id the report was kept under, None if there was none."""
    current = out / "report.json"
    if not current.exists():
        return None
    try:
        run_id = str(json.loads(current.read_text(encoding="utf-8")).get("run_id") or "")
    except (ValueError, OSError, AttributeError, RecursionError):  # RecursionError: JSON nested too deep to read
        run_id = ""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", run_id):  # a report from before run ids, or a damaged one
        run_id = time.strftime("%Y%m%dT%H%M%SZ-unknown", time.gmtime(current.stat().st_mtime))
    for ext in REPORT_FILES:
        if (out / f"report.{ext}").exists():
            (out / f"report.{ext}").replace(out / f"report-{run_id}.{ext}")
    kept = sorted({p.name[len("report-"):-len(".json")] for p in out.glob("report-*.json")})
    for old in kept[:max(len(kept) - keep, 0)]:
        for ext in REPORT_FILES:
            (out / f"report-{old}.{ext}").unlink(missing_ok=True)
    return run_id


def _html(report: dict, png: Path) -> str:
    from runtime.activity import activity_html

    picture = base64.b64encode(png.read_bytes()).decode()
    esc = html.escape
    rows = []
    for shift, data in sorted(report.get("exposure", {}).get("shifts", {}).items()):
        people = sorted(data.get("persons", {}).items(), key=lambda kv: int(kv[0]))
        extra = [(label, data[key]) for key, label in (("others", "other tracks"), ("earlier_runs", "earlier runs"),
                                                        ("all", "everyone")) if key in data]
        for person, totals in people + extra:
            levels = totals.get("reba_s", {})
            cells = "".join(f"<td>{levels.get(band.name, 0.0):.1f}</td>" for band in risk_bands())
            raised = sum(totals.get("alerts_raised", {}).values())
            rows.append(f"<tr><td>{esc(shift)}</td><td>{esc(person)}</td><td>{totals.get('tracked_s', 0.0):.1f}</td>"
                        f"{cells}<td>{raised}</td></tr>")
    head = "".join(f"<th>{esc(band.name)} [s]</th>" for band in risk_bands())
    counts = report.get("alert_counts", {})
    alerts = "".join(
        f"<tr><td>{esc(a['wall_time'])}</td><td>{a['time_s']:.1f}</td><td>{a['person']}</td><td>{esc(a['rule'])}</td>"
        f"<td>{esc(a['kind'])}</td><td>{esc(a['severity'])}</td><td>{esc(a.get('message', ''))}</td></tr>"
        for a in report.get("alerts", []))
    stats = report.get("source_stats", {})
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ergo-edge report: {esc(report['camera'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px}}</style></head><body>
<h1>Ergonomic risk report: {esc(report['camera'])}</h1>
<p>Source {esc(str(report['source']))}: {report['frames']} frames, {report['stream_seconds']:.0f} s of video,
{report['fps']:.1f} frames/s processed; {stats.get('reconnects', 0)} reconnects,
{stats.get('dropped', 0)} frames dropped.{' Keypoints were 2D only: angles are image-plane approximations.'
if report.get('keypoints_2d_only') else ''}</p>
<img alt="REBA over time per person" src="data:image/png;base64,{picture}">
<h2>Time in each REBA risk level</h2>
<table><tr><th>shift</th><th>person</th><th>seen [s]</th>{head}<th>alerts</th></tr>{''.join(rows)}</table>
{activity_html(report.get('activity'))}
<h2>Alerts: {sum(counts.get('raised', {}).values())} raised (the last {len(report.get('alerts', []))} of
{counts.get('total', 0)} events below; every event is in alerts.jsonl and the event store)</h2>
<table><tr><th>wall time</th><th>stream s</th><th>person</th><th>rule</th><th>event</th><th>severity</th>
<th>message</th></tr>{alerts}</table>
</body></html>
"""
