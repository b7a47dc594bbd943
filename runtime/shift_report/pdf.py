"""The shift report as a PDF (`runtime.shift_report`), with fpdf2: pure Python, no system library, so it installs
from PyPI on x86_64 and on a Jetson (aarch64) alike. A4 landscape; the same sections as the HTML page, tables
showing shares of the tracked time. The built-in PDF fonts hold Latin-1 only, so other characters (a camera name
in another script) are replaced, never an error."""

from __future__ import annotations

import io

from runtime.shift_report.data import (LI_ACTIONS, LI_BANDS, METHOD_PARTS, REBA_ACTIONS, REBA_LEVELS, RULA_ACTIONS,
                                  RULA_LEVELS, actions, drivers, worst_level_text)
from runtime.shift_report.html import CHART_TITLES, fmt_s, num, pct, track_person


def _t(text: object) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


class _Doc:
    """A thin layer over fpdf2's FPDF: headings, paragraphs and tables in the report's style."""

    def __init__(self, title: str):
        from fpdf import FPDF

        self.pdf = FPDF(orientation="L", unit="mm", format="A4")
        self.pdf.set_auto_page_break(True, margin=12)
        self.pdf.set_title(_t(title))
        self.pdf.add_page()
        self.pdf.set_font("helvetica", "B", 16)
        self.text(title, 8)
        self.pdf.set_font("helvetica", "", 9)

    def heading(self, text: str, size: int = 12) -> None:
        if self.pdf.get_y() > self.pdf.h - 40:
            self.pdf.add_page()
        self.pdf.set_font("helvetica", "B", size)
        self.pdf.ln(2)
        self.text(text, 7)
        self.pdf.set_font("helvetica", "", 8)

    def text(self, text: str, height: float = 5) -> None:
        self.pdf.multi_cell(0, height, _t(text), new_x="LMARGIN", new_y="NEXT")

    def table(self, head: list[str], rows: list[list[str]], widths: tuple[float, ...] | None = None,
              left: int = 1) -> None:
        if not rows:
            self.text("(none)")
            return
        self.pdf.set_font("helvetica", "", 7)
        align = tuple("LEFT" if i < left else "RIGHT" for i in range(len(head)))
        from fpdf.fonts import FontFace

        with self.pdf.table(col_widths=widths, text_align=align, line_height=4.2, first_row_as_headings=True,
                            headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235))) as table:
            for cells in [head, *rows]:
                row = table.row()
                for cell in cells:
                    row.cell(_t(cell))
        self.pdf.set_font("helvetica", "", 8)
        self.pdf.ln(2)

    def image(self, data: bytes, width: float, x: float | None = None, y: float | None = None) -> None:
        self.pdf.image(io.BytesIO(data), x=x, y=y, w=width)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _share_row(labels: list[str], s: dict) -> list[str]:
    rula = [pct(s["rula_share"][lvl]) for lvl in RULA_LEVELS] if s["rula_s"] else ["-"] * len(RULA_LEVELS)
    return [*labels, fmt_s(s["tracked_s"]), *[pct(s["reba_share"][lvl]) for lvl in REBA_LEVELS], *rula,
            str(s["alerts_total"])]


def _share_head(labels: list[str]) -> list[str]:
    return [*labels, "tracked", *[f"REBA {lvl}" for lvl in REBA_LEVELS], *[f"RULA AL{k}" for k in RULA_LEVELS],
            "alerts"]


def _actions(doc: _Doc, groups: dict) -> None:
    doc.heading("What to do")
    for a in actions(groups["period"]):
        what = "assessed lifts" if a["method"] == "NIOSH" else "tracked time"
        doc.text(f"{a['method']}: {a['level']} for {pct(a['share'])} of {what}: {a['action']}")
    rows = [[d["day"], d["camera"], a["method"], a["level"], pct(a["share"]), a["action"]]
            for d in groups["days"] for a in actions(d["summary"])]
    doc.table(["day", "camera", "method", "level", "share", "action"], rows, (24, 30, 16, 40, 16, 140), left=6)


def _exposure(doc: _Doc, groups: dict) -> None:
    doc.heading("Per day (share of tracked time)")
    doc.table(_share_head(["day", "camera"]), [_share_row([d["day"], d["camera"]], d["summary"])
                                               for d in groups["days"]], left=2)
    doc.heading("Per shift")
    doc.table(_share_head(["day", "camera", "shift"]), [_share_row([s["day"], s["camera"], s["shift"][11:]],
                                                                   s["summary"]) for s in groups["shifts"]], left=3)
    doc.heading("Per person track")
    doc.table(_share_head(["shift", "camera", "track"]), [_share_row([t["shift"], t["camera"], t["label"]],
                                                                     t["summary"]) for t in groups["tracks"]],
              (28, 18, 50, *[13.5] * 12), left=3)


def _parts(doc: _Doc, groups: dict) -> None:
    for method in ("reba", "rula"):
        doc.heading(f"Body parts driving {method.upper()} (share of tracked time at their worst levels)")
        rows = []
        for s in groups["shifts"]:
            parts = s["summary"]["parts"]
            cells = [pct(parts[method][p]) for p in METHOD_PARTS[method]] if parts else ["-"] * len(
                METHOD_PARTS[method])
            top = ", ".join(p.replace("_", " ") for p, _ in drivers(parts, method)) or "-"
            rows.append([s["day"], s["camera"], s["shift"][11:], *cells, top])
        doc.table(["day", "camera", "shift", *[p.replace("_", " ") for p in METHOD_PARTS[method]], "drivers"],
                  rows, left=3)


def _lifts(doc: _Doc, data: dict, groups: dict) -> None:
    doc.heading("Lifts and NIOSH lifting index")
    rows = [[s["day"], s["camera"], s["shift"][11:], fmt_s(m["tracked_s"]), "-" if m["lifts"] is None
             else str(m["lifts"]), num(m["lifts_per_h"], 1), str(m["niosh_assessed"]), num(m["li_mean"]),
             num(m["li_max"]), *[str(m[b]) for b in LI_BANDS]] for s in groups["shifts"] for m in [s["summary"]]]
    doc.table(["day", "camera", "shift", "tracked", "lifts", "lifts/h", "with LI", "LI mean", "LI max", "LI<=1",
               "1<LI<=3", "LI>3"], rows, left=3)
    top = [[t["wall_time"][:19].replace("T", " "), t["camera"], track_person(t), num(t["li_value"]),
            num(t["rwl_kg"], 1), num(t["load_kg"], 1), num(t["h_cm"], 0), num(t["v_origin_cm"], 0),
            num(t["v_dest_cm"], 0), num(t["asymmetry_deg"], 0)] for t in data["top_lifts"]]
    if top:
        doc.text("Lifts with the highest lifting index:")
        doc.table(["time (UTC)", "camera", "track", "LI", "RWL kg", "load kg", "H cm", "V origin", "V dest",
                   "asym deg"], top, left=3)


def _episodes(doc: _Doc, data: dict) -> None:
    doc.heading("Worst episodes of high risk (skeleton at the peak; no camera image)")
    if not data["recorded"]["episodes"]:
        doc.text("Not recorded: this event store was made before episodes were stored.")
        return
    if not data["episodes"]:
        doc.text("No episode of high risk in the period.")
        return
    pdf, col_w, row_h = doc.pdf, 66.0, 62.0
    for i, e in enumerate(data["episodes"]):
        if i % 4 == 0:
            if pdf.get_y() + row_h > pdf.h - 12:
                pdf.add_page()
            top = pdf.get_y()
        x = pdf.l_margin + (i % 4) * col_w
        if e["thumbnail"]:
            doc.image(e["thumbnail"], 28, x=x, y=top)
        pdf.set_xy(x, top + 40)
        parts = ", ".join(p.replace("_", " ") for p, s in e["drivers"].get("parts", {}).items() if s >= 0.5)
        pdf.multi_cell(col_w - 4, 3.6, _t(f"REBA {e['peak_reba']:.0f} for {e['duration_s']:.1f} s\n"
                                          f"{e['start'][:19].replace('T', ' ')} UTC\n{e['camera']}, "
                                          f"{track_person(e)}\ndrivers: {parts or '-'}"))
        if i % 4 == 3 or i == len(data["episodes"]) - 1:
            pdf.set_xy(pdf.l_margin, top + row_h)


def _trends(doc: _Doc, charts: dict[str, bytes]) -> None:
    doc.pdf.add_page()
    doc.heading("Trends across days")
    for name, png in charts.items():
        if doc.pdf.get_y() > doc.pdf.h - 75:
            doc.pdf.add_page()
        doc.text(CHART_TITLES[name])
        doc.image(png, 150)
        doc.pdf.ln(2)


def _legend(doc: _Doc) -> None:
    doc.heading("Published action levels")
    doc.table(["REBA risk", "action level", "action (Hignett & McAtamney 2000)", "in practice"],
              [[lvl, str(al), published, reading] for lvl, (al, published, reading) in REBA_ACTIONS.items()],
              (30, 25, 70, 80), left=4)
    doc.table(["RULA action level", "meaning (McAtamney & Corlett 1993)"], [[f"AL{k}", v] for k, v in
                                                                           RULA_ACTIONS.items()], (40, 160), left=2)
    doc.table(["NIOSH band", "meaning (Applications Manual p. 20)"],
              [[k.replace("li_", "LI ").replace("_", " "), v] for k, v in LI_ACTIONS.items()], (40, 200), left=2)
    doc.table(["partial", "worst levels"], [[k, v] for k, v in worst_level_text().items()], (50, 40), left=2)


def render_pdf(data: dict, charts: dict[str, bytes]) -> bytes:
    """The report as PDF bytes."""
    groups = data["groups"]
    cameras = sorted({s["camera"] for s in data["shifts"]})
    doc = _Doc(f"Ergonomic exposure report: {', '.join(cameras)}")
    doc.text(f"Shifts beginning {data['since'][:16]} to {data['until'][:16]} UTC: {len(data['shifts'])} shift(s), "
             f"{len(groups['tracks'])} person track(s), tracked {fmt_s(groups['period']['tracked_s'])}. "
             f"Event store: {data['spec'].events_db}.")
    _actions(doc, groups)
    _exposure(doc, groups)
    _parts(doc, groups)
    _lifts(doc, data, groups)
    _episodes(doc, data)
    _trends(doc, charts)
    _legend(doc)
    return doc.output()
