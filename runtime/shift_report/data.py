"""What the shift report shows, read from the event store alone: the period's shifts, exposure per shift, day and
person track, episodes and lifts (`load_period`), the trends across days (`day_series`) and the CSV tables
(`csv_tables`); the published action levels it quotes. No drawing here (`html`, `pdf`)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.errors import InputError
from edge.ergonomics.reba import risk_bands
from runtime.alerts.episodes import METHOD_PARTS, WORST_LEVELS
from runtime.alerts.event import parse_utc, utc_iso

REBA_LEVELS = tuple(b.name for b in risk_bands())
RULA_LEVELS = ("1", "2", "3", "4")
LI_BANDS = ("li_le_1", "li_1_to_3", "li_over_3")
# What the published action levels say: REBA (Hignett & McAtamney 2000) with the usual worksheet reading of it;
# RULA (McAtamney & Corlett 1993); NIOSH (Applications Manual, p. 20).
REBA_ACTIONS = {
    "negligible": (0, "None necessary", "no action"),
    "low": (1, "May be necessary", "change may be needed"),
    "medium": (2, "Necessary", "further investigation, change soon"),
    "high": (3, "Necessary soon", "investigate and implement change"),
    "very high": (4, "Necessary NOW", "implement change"),
}
RULA_ACTIONS = {
    "1": "Acceptable if not maintained or repeated for long periods",
    "2": "Further investigation needed; changes may be required",
    "3": "Investigation and changes required soon",
    "4": "Investigation and changes required immediately",
}
LI_ACTIONS = {
    "li_le_1": "LI <= 1: the design goal; nearly all healthy workers can lift so",
    "li_1_to_3": "1 < LI <= 3: increased risk of lifting-related low-back pain for some workers; redesign the lift",
    "li_over_3": "LI > 3 (or RWL 0): nearly all workers at increased risk; redesign the lift",
}
# A level counts for "what to do" once it holds this share of the tracked time (a single noisy frame does not).
ACTION_SHARE = 0.01
TOP_EPISODES = 12
TOP_LIFTS = 10


@dataclass(frozen=True)
class ReportSpec:
    events_db: Path
    since: str
    until: str
    camera: str | None = None
    top_episodes: int = TOP_EPISODES


# ---------------------------------------------------------------------------------------------- reading
def _period(spec: ReportSpec) -> tuple[datetime, datetime]:
    since, until = parse_utc(spec.since), parse_utc(spec.until)
    if since >= until:
        raise InputError(f"--since {utc_iso(since)} is not before --until {utc_iso(until)}")
    return since, until


def _fallback_bounds(camera: str, shift: str) -> dict:
    """Bounds of a shift saved before the shifts table existed: its name as this machine's local time."""
    try:
        start = datetime.fromisoformat(shift).astimezone()
    except ValueError:
        raise InputError(f"exposure row with an unreadable shift name {shift!r}") from None
    return {"camera": camera, "shift": shift, "start_utc": utc_iso(start), "end_utc": "", "tz": "assumed local"}


def load_period(spec: ReportSpec) -> dict:
    """Everything the report shows, read from the store read-only: {"spec", "since", "until", "shifts", "tracks",
    "episodes", "episode_count", "lift_stats", "top_lifts", "recorded", "groups" (`grouped`)}; an `InputError`
    when the period holds no exposure."""
    from runtime.alerts.store import EventReader

    since, until = _period(spec)
    db = Path(spec.events_db).expanduser()
    if not db.exists():
        raise InputError(f"no event store at {db} (it is created by `ergoedge run`)")
    with EventReader(db) as reader:
        tables = reader.tables()
        exposure = reader.records("exposure", spec.camera)
        if spec.camera is not None and not exposure:
            cameras = sorted({r["camera"] for r in reader.records("exposure")})
            raise InputError(f"no exposure recorded for camera {spec.camera!r} (the store has: "
                             f"{', '.join(cameras) or 'none'})")
        bounds = {(r["camera"], r["shift"]): r for r in reader.records("shifts", spec.camera)}
        pairs = sorted({(r["camera"], r["shift"]) for r in exposure})
        shifts = [bounds.get(p) or _fallback_bounds(*p) for p in pairs]
        shifts = sorted((s for s in shifts if since <= parse_utc(s["start_utc"]) < until),
                        key=lambda s: (s["start_utc"], s["camera"]))
        if not shifts:
            raise InputError(_no_data(spec, since, until, sorted(s["start_utc"] for s in
                                                                 (bounds.get(p) or _fallback_bounds(*p)
                                                                  for p in pairs))))
        chosen = [(s["camera"], s["shift"]) for s in shifts]
        episodes = reader.records("episodes", shifts=chosen)
        lift_stats, top_lifts = _lift_stats(reader, chosen)
    wanted = set(chosen)
    for s in shifts:
        s["day"] = s["shift"][:10]
    tracks = [r for r in exposure if (r["camera"], r["shift"]) in wanted]
    tracks.sort(key=lambda r: (r["camera"], r["shift"], r["run_id"], r["person"]))
    episodes.sort(key=lambda e: (-e["peak_reba"], -e["duration_s"], e["start"]))
    data = {"spec": spec, "since": utc_iso(since), "until": utc_iso(until), "shifts": shifts, "tracks": tracks,
            "episodes": episodes[:spec.top_episodes], "episode_count": len(episodes), "lift_stats": lift_stats,
            "top_lifts": top_lifts, "recorded": {"episodes": "episodes" in tables, "lifts": "lifts" in tables,
                                                 "shifts": "shifts" in tables}}
    data["groups"] = grouped(data)
    return data


def _no_data(spec: ReportSpec, since: datetime, until: datetime, starts: list[str]) -> str:
    where = f" for camera {spec.camera!r}" if spec.camera else ""
    stored = f"; stored shifts begin {starts[0][:16]} .. {starts[-1][:16]} UTC" if starts else "; it holds none"
    return f"no exposure recorded{where} in shifts beginning {utc_iso(since)[:16]} .. {utc_iso(until)[:16]} UTC{stored}"


def _lift_stats(reader, chosen: list[tuple[str, str]]) -> tuple[dict, list[dict]]:
    """Per (camera, shift, run_id, person): the largest lifting index (inf where RWL was 0) and the lifts with an
    index; and the TOP_LIFTS lifts of highest index over the period. One shift at a time: memory stays small."""
    stats: dict = {}
    top: list[dict] = []
    for pair in chosen:
        for lift in reader.records("lifts", shifts=[pair]):
            if lift["rwl_kg"] is None:
                continue
            li = float("inf") if lift["li"] is None else float(lift["li"])
            key = (lift["camera"], lift["shift"], lift["run_id"], lift["person"])
            stats[key] = max(stats.get(key, 0.0), li)
            top.append({**lift, "li_value": li})
        top = sorted(top, key=lambda r: -r["li_value"])[:TOP_LIFTS]
    return stats, top


# ---------------------------------------------------------------------------------------------- numbers
def add_totals(buckets) -> dict:
    """The sum of exposure buckets (nested dicts of numbers); keys missing from older rows count as absent."""
    total: dict = {}

    def add(into: dict, part: dict) -> None:
        for key, value in part.items():
            if isinstance(value, dict):
                add(into.setdefault(key, {}), value)
            else:
                into[key] = into.get(key, 0) + value

    for bucket in buckets:
        add(total, bucket)
    return total


def summarise(totals: dict, li_max: float | None = None) -> dict:
    """The report's numbers for one bucket of totals: seconds and shares per REBA level and RULA action level,
    share of time each body part is at its worst levels, lifts per hour, NIOSH, alerts."""
    tracked = float(totals.get("tracked_s", 0.0))
    hours = tracked / 3600.0

    def share(seconds: float) -> float:
        return seconds / tracked if tracked > 0 else 0.0

    reba = {lvl: float(totals.get("reba_s", {}).get(lvl, 0.0)) for lvl in (*REBA_LEVELS, "unknown")}
    rula_raw = totals.get("rula_s")
    rula = {lvl: float(rula_raw.get(lvl, 0.0)) for lvl in (*RULA_LEVELS, "unknown")} if rula_raw else None
    worst = totals.get("worst_s")
    parts = ({m: {p: share(float(worst.get(m, {}).get(p, 0.0))) for p in METHOD_PARTS[m]} for m in METHOD_PARTS}
             if worst else None)
    niosh = totals.get("niosh") or {}
    lifts = totals.get("lifts")
    alerts = totals.get("alerts_raised", {})
    return {
        "tracked_s": tracked, "reba_s": reba, "reba_share": {k: share(v) for k, v in reba.items()},
        "rula_s": rula, "rula_share": {k: share(v) for k, v in rula.items()} if rula else None,
        "parts": parts, "lifts": lifts, "lifts_per_h": lifts / hours if lifts is not None and hours > 0 else None,
        "niosh_assessed": niosh.get("assessed", 0), **{band: niosh.get(band, 0) for band in LI_BANDS},
        "li_mean": niosh["li_sum"] / niosh["li_n"] if niosh.get("li_n") else None, "li_max": li_max,
        "alerts": dict(alerts), "alerts_total": int(sum(alerts.values())),
        "over_threshold_s": dict(totals.get("over_threshold_s", {})),
    }


def _max(values) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


def grouped(data: dict) -> dict:
    """The summaries the report shows: per track, per shift, per day (per camera) and for the whole period."""
    stats = data["lift_stats"]
    tracks, shifts, days = [], defaultdict(list), defaultdict(list)
    for row in data["tracks"]:
        li = stats.get((row["camera"], row["shift"], row["run_id"], row["person"]))
        summary = summarise(row["totals"], li)
        tracks.append({**row, "label": track_label(row["run_id"], row["person"]), "summary": summary})
        shifts[(row["camera"], row["shift"])].append((row["totals"], li))
    by_shift = []
    for s in data["shifts"]:
        parts = shifts[(s["camera"], s["shift"])]
        total = add_totals(t for t, _ in parts)
        by_shift.append({**s, "totals": total, "summary": summarise(total, _max(li for _, li in parts))})
        days[(s["camera"], s["day"])].extend(parts)
    by_day = [{"camera": c, "day": d, "totals": (t := add_totals(x for x, _ in parts)),
               "summary": summarise(t, _max(li for _, li in parts))} for (c, d), parts in sorted(days.items())]
    everything = [p for parts in days.values() for p in parts]
    period = summarise(add_totals(t for t, _ in everything), _max(li for _, li in everything))
    return {"tracks": tracks, "shifts": by_shift, "days": by_day, "period": period}


def track_label(run_id: str, person: int) -> str:
    return f"others (run {run_id})" if person < 0 else f"person {person} (run {run_id})"


def actions(summary: dict) -> list[dict]:
    """What the published action levels say for one summary: the most severe REBA level and RULA action level
    holding at least ACTION_SHARE of the tracked time, and the worst NIOSH band with lifts in it."""
    out = []
    reba = [lvl for lvl in REBA_LEVELS if summary["reba_share"][lvl] >= ACTION_SHARE]
    if reba:
        lvl = reba[-1]
        al, published, reading = REBA_ACTIONS[lvl]
        out.append({"method": "REBA", "level": f"{lvl} (action level {al})", "share": summary["reba_share"][lvl],
                    "action": f"{published}: {reading}"})
    if summary["rula_share"]:
        rula = [lvl for lvl in RULA_LEVELS if summary["rula_share"][lvl] >= ACTION_SHARE]
        if rula:
            out.append({"method": "RULA", "level": f"action level {rula[-1]}", "share": summary["rula_share"][rula[-1]],
                        "action": RULA_ACTIONS[rula[-1]]})
    bands = [b for b in LI_BANDS if summary[b]]
    if bands:
        n = summary["niosh_assessed"]
        out.append({"method": "NIOSH", "level": bands[-1].replace("li_", "LI ").replace("_", " "),
                    "share": summary[bands[-1]] / n if n else 0.0, "action": LI_ACTIONS[bands[-1]]})
    return out


def drivers(parts: dict | None, method: str, top: int = 3) -> list[tuple[str, float]]:
    """The body parts most often at their worst levels, with their share of the tracked time (> 0 only)."""
    if not parts:
        return []
    ranked = sorted(parts[method].items(), key=lambda kv: -kv[1])
    return [(p, s) for p, s in ranked[:top] if s > 0]


def worst_level_text() -> dict[str, str]:
    """'reba trunk' -> 'score >= 3', for the legend."""
    return {f"{m} {p}": f"score >= {lowest}" for (m, p), (_, lowest) in WORST_LEVELS.items()}


# ---------------------------------------------------------------------------------------------- trends
def day_series(data: dict, groups: dict) -> dict:
    """Per day of the period (every day from the first to the last with data; all cameras together): the
    trend metrics, None where a day has no tracked time."""
    from datetime import date, timedelta

    per_day = defaultdict(list)
    for d in groups["days"]:
        per_day[d["day"]].append(d)
    first, last = date.fromisoformat(min(per_day)), date.fromisoformat(max(per_day))
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    series: dict = {"days": days}
    for day in days:
        rows = per_day.get(day, [])
        s = summarise(add_totals(r["totals"] for r in rows), _max(r["summary"]["li_max"] for r in rows))
        s = s if s["tracked_s"] > 0 else None
        series.setdefault("summaries", []).append(s)
    return series


# ---------------------------------------------------------------------------------------------- CSV
def _csv_row(summary: dict, rules: list[str]) -> dict:
    row = {"tracked_s": round(summary["tracked_s"], 3)}
    row.update({f"reba_{lvl.replace(' ', '_')}_s": round(v, 3) for lvl, v in summary["reba_s"].items()})
    for lvl in (*RULA_LEVELS, "unknown"):
        row[f"rula_al{lvl}_s" if lvl != "unknown" else "rula_unknown_s"] = (
            round(summary["rula_s"][lvl], 3) if summary["rula_s"] else "")
    for method, parts in METHOD_PARTS.items():
        for part in parts:
            row[f"{method}_{part}_worst_share"] = (round(summary["parts"][method][part], 4)
                                                   if summary["parts"] else "")
    row["lifts"] = "" if summary["lifts"] is None else summary["lifts"]
    row["lifts_per_h"] = "" if summary["lifts_per_h"] is None else round(summary["lifts_per_h"], 3)
    row["niosh_lifts"] = summary["niosh_assessed"]
    row["li_mean"] = "" if summary["li_mean"] is None else round(summary["li_mean"], 4)
    row["li_max"] = "" if summary["li_max"] is None else round(summary["li_max"], 4)
    row.update({band: summary[band] for band in LI_BANDS})
    row.update({f"alerts_{r}": summary["alerts"].get(r, 0) for r in rules})
    return row


def _write_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def csv_tables(data: dict) -> dict[str, str]:
    """exposure_tracks, exposure_shifts, exposure_days and episodes as CSV text."""
    g = data["groups"]
    rules = sorted({r for t in g["tracks"] for r in t["summary"]["alerts"]})
    tracks = [{"camera": t["camera"], "day": t["shift"][:10], "shift": t["shift"], "run_id": t["run_id"],
               "person": t["person"], **_csv_row(t["summary"], rules)} for t in g["tracks"]]
    shifts = [{"camera": s["camera"], "day": s["day"], "shift": s["shift"], "start_utc": s["start_utc"],
               **_csv_row(s["summary"], rules)} for s in g["shifts"]]
    days = [{"camera": d["camera"], "day": d["day"], **_csv_row(d["summary"], rules)} for d in g["days"]]
    out = {"exposure_tracks": _write_csv(tracks), "exposure_shifts": _write_csv(shifts),
           "exposure_days": _write_csv(days)}
    episodes = [{"camera": e["camera"], "shift": e["shift"], "run_id": e["run_id"], "person": e["person"],
                 "start": e["start"], "end": e["end"], "duration_s": e["duration_s"], "peak_reba": e["peak_reba"],
                 "drivers": " ".join(f"{p}:{s:.2f}" for p, s in e["drivers"].get("parts", {}).items()),
                 "thumbnail": "yes" if e["thumbnail"] else "no"} for e in data["episodes"]]
    if episodes:
        out["episodes"] = _write_csv(episodes)
    return out
