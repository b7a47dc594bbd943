"""The shift report as one self-contained HTML page (`runtime.shift_report`), and its trend charts.

Everything is inline: the style sheet, the charts (PNG) and the episode thumbnails (JPEG) as data URIs, so the page
opens offline and can be mailed or filed as one file. Every value from the store is escaped."""

from __future__ import annotations

import base64
import html
import math

from runtime.shift_report.data import (LI_ACTIONS, LI_BANDS, METHOD_PARTS, REBA_ACTIONS, REBA_LEVELS, RULA_ACTIONS,
                                  RULA_LEVELS, actions, drivers, worst_level_text)

esc = html.escape
REBA_COLOURS = {"negligible": "#4caf50", "low": "#8bc34a", "medium": "#ffc107", "high": "#ff7043",
                "very high": "#c62828", "unknown": "#bdbdbd"}
RULA_COLOURS = {"1": "#4caf50", "2": "#ffc107", "3": "#ff7043", "4": "#c62828", "unknown": "#bdbdbd"}
CHART_TITLES = {
    "reba_levels": "REBA: share of tracked time in each risk level",
    "rula_levels": "RULA: share of tracked time in each action level",
    "body_parts": "REBA body parts: share of tracked time at their worst levels",
    "lifts": "Lifts per tracked hour",
    "niosh": "NIOSH lifting index: mean and largest",
    "alerts": "Alerts raised per tracked hour",
}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.8em}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.86em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}td.l{white-space:nowrap}.note{color:#555;font-size:.9em}
.ep{display:inline-block;width:250px;vertical-align:top;margin:6px;padding:6px;border:1px solid #ccc;border-radius:6px}
.ep img{display:block;margin:0 auto 4px;background:#282828}
.chart{max-width:100%}
"""


def fmt_s(seconds: float | None) -> str:
    """Seconds as h:mm:ss (or m:ss)."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return "RWL 0" if math.isinf(value) else f"{value:.{digits}f}"


def _uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first `left` columns left-aligned. Cells are already escaped."""
    th = "".join(f'<th class="l">{h}</th>' if i < left else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def exposure_rows(label_cells: list[str], s: dict) -> list[str]:
    """One row of the exposure table: time in each REBA level and RULA action level (share of tracked time)."""
    reba = [f"{fmt_s(s['reba_s'][lvl])} ({pct(s['reba_share'][lvl])})" for lvl in REBA_LEVELS]
    rula = ([f"{fmt_s(s['rula_s'][lvl])} ({pct(s['rula_share'][lvl])})" for lvl in RULA_LEVELS]
            if s["rula_s"] else ["not recorded"] * len(RULA_LEVELS))
    return [*label_cells, fmt_s(s["tracked_s"]), *reba, *rula, str(s["alerts_total"])]


def exposure_head(labels: list[str]) -> list[str]:
    return [*labels, "tracked", *[f"REBA {esc(lvl)}" for lvl in REBA_LEVELS],
            *[f"RULA AL{lvl}" for lvl in RULA_LEVELS], "alerts"]


def _actions_section(groups: dict) -> str:
    rows = []
    for d in groups["days"]:
        for a in actions(d["summary"]):
            rows.append([esc(d["day"]), esc(d["camera"]), a["method"], esc(a["level"]), pct(a["share"]),
                         esc(a["action"])])
    period = actions(groups["period"])
    lead = "".join(f"<li><b>{a['method']}</b>: {esc(a['level'])} for {pct(a['share'])} of "
                   f"{'assessed lifts' if a['method'] == 'NIOSH' else 'tracked time'}: {esc(a['action'])}</li>"
                   for a in period) or "<li>No level held 1% of the tracked time.</li>"
    return (f'<section id="actions"><h2>What to do</h2><p>Over the whole period, the most severe level that held at '
            f"least 1% of the tracked time, and what the published action levels say to do:</p><ul>{lead}</ul>"
            + _table(["day", "camera", "method", "level", "share", "action"], rows, left=6)
            + "</section>")


def _parts_section(groups: dict) -> str:
    out = ['<section id="body-parts"><h2>Body parts driving the scores</h2><p class="note">Share of the tracked '
           "time each partial score is at its worst levels (the worse side for arms and wrists).</p>"]
    for method in ("reba", "rula"):
        head = ["day", "camera", "shift", *[esc(p.replace("_", " ")) for p in METHOD_PARTS[method]], "drivers"]
        rows = []
        for s in groups["shifts"]:
            parts = s["summary"]["parts"]
            cells = ([pct(parts[method][p]) for p in METHOD_PARTS[method]] if parts
                     else ["not recorded"] * len(METHOD_PARTS[method]))
            top = ", ".join(f"{p.replace('_', ' ')} {pct(v)}" for p, v in drivers(parts, method)) or "-"
            rows.append([esc(s["day"]), esc(s["camera"]), esc(s["shift"][11:]), *cells, esc(top)])
        out.append(f"<h3>{method.upper()}</h3>" + _table(head, rows, left=3))
    return "".join(out) + "</section>"


def _lifts_section(data: dict, groups: dict) -> str:
    head = ["day", "camera", "shift", "tracked", "lifts", "lifts / h", "with LI", "LI mean", "LI max",
            "LI <= 1", "1 < LI <= 3", "LI > 3"]
    rows = []
    for s in groups["shifts"]:
        m = s["summary"]
        rows.append([esc(s["day"]), esc(s["camera"]), esc(s["shift"][11:]), fmt_s(m["tracked_s"]),
                     "-" if m["lifts"] is None else str(m["lifts"]), num(m["lifts_per_h"], 1),
                     str(m["niosh_assessed"]), num(m["li_mean"]), num(m["li_max"]),
                     *[str(m[b]) for b in LI_BANDS]])
    top = [[esc(t["wall_time"][:19].replace("T", " ")), esc(t["camera"]), esc(track_person(t)), num(t["li_value"]),
            num(t["rwl_kg"], 1), num(t["load_kg"], 1), num(t["h_cm"], 0), num(t["v_origin_cm"], 0),
            num(t["v_dest_cm"], 0), num(t["asymmetry_deg"], 0), num(t["lifts_per_min"], 1)]
           for t in data["top_lifts"]]
    note = ("NIOSH lifting indices are computed where the load is configured (scoring <code>load_kg</code>); "
            "H, V and asymmetry come from the pose, the duration category is long, the frequency the person's "
            "lifts in the last minute.")
    html_top = (_table(["time (UTC)", "camera", "track", "LI", "RWL kg", "load kg", "H cm", "V origin", "V dest",
                        "asym deg", "lifts/min"], top, left=3) if top else "<p>No lift with a lifting index.</p>")
    return (f'<section id="lifts"><h2>Lifts and NIOSH lifting index</h2><p class="note">{note}</p>'
            + _table(head, rows, left=3) + "<h3>Lifts with the highest lifting index</h3>" + html_top + "</section>")


def track_person(row: dict) -> str:
    return "others" if row["person"] < 0 else f"person {row['person']}"


def _episodes_section(data: dict) -> str:
    if not data["recorded"]["episodes"]:
        return ('<section id="episodes"><h2>Worst episodes</h2><p>Not recorded: this event store was made before '
                "episodes were stored.</p></section>")
    cards = []
    for e in data["episodes"]:
        img = (f'<img alt="skeleton of the episode peak" src="{_uri(e["thumbnail"], "image/jpeg")}">'
               if e["thumbnail"] else "<p class=\"note\">no thumbnail (no frame call)</p>")
        parts = ", ".join(f"{p.replace('_', ' ')} {pct(s)}" for p, s in e["drivers"].get("parts", {}).items()
                          if s > 0) or "-"
        cards.append(f'<div class="ep">{img}<b>REBA {e["peak_reba"]:.0f}</b> for {e["duration_s"]:.1f} s<br>'
                     f'{esc(e["start"][:19].replace("T", " "))} UTC<br>{esc(e["camera"])}, {esc(track_person(e))} '
                     f'(run {esc(e["run_id"])})<br><span class="note">drivers: {esc(parts)}</span></div>')
    body = "".join(cards) or "<p>No episode of high risk in the period.</p>"
    return (f'<section id="episodes"><h2>Worst episodes</h2><p class="note">Stretches of REBA at or above the '
            f"high-risk level, the worst {len(data['episodes'])} of {data['episode_count']} stored; thumbnails show "
            f"the skeleton at the peak only, never the camera image.</p>{body}</section>")


def _trends_section(charts: dict[str, bytes]) -> str:
    imgs = "".join(f'<figure><img class="chart" alt="{esc(CHART_TITLES[k])}" src="{_uri(v, "image/png")}">'
                   f"<figcaption>{esc(CHART_TITLES[k])}</figcaption></figure>" for k, v in charts.items())
    return f'<section id="trends"><h2>Trends across days</h2>{imgs}</section>'


def _legend_section() -> str:
    reba = [[esc(lvl), str(al), esc(published), esc(reading)] for lvl, (al, published, reading)
            in REBA_ACTIONS.items()]
    rula = [[f"AL{k}", esc(v)] for k, v in RULA_ACTIONS.items()]
    li = [[esc(k.replace("li_", "LI ").replace("_", " ")), esc(v)] for k, v in LI_ACTIONS.items()]
    worst = [[esc(k), esc(v)] for k, v in worst_level_text().items()]
    return ('<section id="legend"><h2>Published action levels</h2>'
            "<h3>REBA (Hignett &amp; McAtamney 2000)</h3>"
            + _table(["risk", "action level", "action", "in practice"], reba, left=1)
            + "<h3>RULA (McAtamney &amp; Corlett 1993)</h3>" + _table(["action level", "meaning"], rula, left=2)
            + "<h3>NIOSH lifting index (Applications Manual p. 20)</h3>" + _table(["band", "meaning"], li, left=2)
            + "<h3>Worst levels of the partial scores</h3>" + _table(["partial", "worst levels"], worst, left=2)
            + "</section>")


def render_html(data: dict, charts: dict[str, bytes]) -> str:
    """The report page (module doc)."""
    groups = data["groups"]
    spec = data["spec"]
    day_rows = [exposure_rows([esc(d["day"]), esc(d["camera"])], d["summary"]) for d in groups["days"]]
    shift_rows = [exposure_rows([esc(s["day"]), esc(s["camera"]), esc(s["shift"][11:])], s["summary"])
                  for s in groups["shifts"]]
    track_rows = [exposure_rows([esc(t["shift"]), esc(t["camera"]), esc(t["label"])], t["summary"])
                  for t in groups["tracks"]]
    cameras = sorted({s["camera"] for s in data["shifts"]})
    title = f"Ergonomic exposure report: {', '.join(cameras)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title><style>{_CSS}</style></head><body>
<h1>{esc(title)}</h1>
<p id="period">Shifts beginning {esc(data['since'][:16])} to {esc(data['until'][:16])} UTC: {len(data['shifts'])}
shift(s) on {len(groups['days'])} camera-day(s), {len(groups['tracks'])} person track(s), tracked
{fmt_s(groups['period']['tracked_s'])}. Event store: {esc(str(spec.events_db))}{' (camera ' + esc(spec.camera) + ')'
                                                                                    if spec.camera else ''}.</p>
{_actions_section(groups)}
<section id="days"><h2>Per day</h2>{_table(exposure_head(['day', 'camera']), day_rows, left=2)}</section>
<section id="shifts"><h2>Per shift</h2>{_table(exposure_head(['day', 'camera', 'shift']), shift_rows, left=3)}
</section>
<section id="tracks"><h2>Per person track</h2><p class="note">Track numbers start again in every run; a track is
one person only while the tracker kept them.</p>{_table(exposure_head(['shift', 'camera', 'track']), track_rows,
                                                          left=3)}</section>
{_parts_section(groups)}
{_lifts_section(data, groups)}
{_episodes_section(data)}
{_trends_section(charts)}
{_legend_section()}
</body></html>
"""


def draw_trends(series: dict) -> dict[str, bytes]:
    """One PNG chart per metric over the days of the period (`data.day_series`)."""
    import matplotlib

    matplotlib.use("Agg")
    days, sums = series["days"], series["summaries"]
    charts = {"reba_levels": _stacked(days, sums, "reba_share", REBA_LEVELS, REBA_COLOURS, "REBA ")}
    if any(s and s["rula_share"] for s in sums):
        charts["rula_levels"] = _stacked(days, sums, "rula_share", RULA_LEVELS, RULA_COLOURS, "RULA AL")
    if any(s and s["parts"] for s in sums):
        charts["body_parts"] = _lines(days, {p.replace("_", " "): [
            100 * s["parts"]["reba"][p] if s and s["parts"] else None for s in sums] for p in METHOD_PARTS["reba"]},
            "% of tracked time")
    charts["lifts"] = _lines(days, {"lifts per hour": [s["lifts_per_h"] if s else None for s in sums]}, "lifts / h")
    charts["niosh"] = _lines(days, {"mean LI": [s["li_mean"] if s else None for s in sums],
                                    "largest LI": [_finite(s["li_max"]) if s else None for s in sums]},
                             "lifting index", refs=(1.0, 3.0))
    charts["alerts"] = _lines(days, {"alerts per hour": [
        s["alerts_total"] / (s["tracked_s"] / 3600) if s and s["tracked_s"] else None for s in sums]}, "alerts / h")
    return charts


def _finite(value):
    return None if value is None or math.isinf(value) else value


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _stacked(days, sums, key, levels, colours, prefix) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    bottom = [0.0] * len(days)
    for lvl in (*levels, "unknown"):
        values = [100 * s[key][lvl] if s and s[key] else 0.0 for s in sums]
        label = f"{prefix}{lvl}" if lvl != "unknown" else f"{prefix.split()[0]} unknown"
        ax.bar(days, values, bottom=bottom, color=colours[lvl], label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("% of tracked time")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _png(fig)


def _lines(days, named: dict[str, list], ylabel: str, refs: tuple[float, ...] = ()) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    x = list(range(len(days)))
    for name, values in named.items():
        ax.plot(x, [float("nan") if v is None else v for v in values], marker="o", label=name)
    for ref in refs:
        ax.axhline(ref, color="#999", linestyle="--", linewidth=1)
    ax.set_xticks(x, days, rotation=45, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)
