"""What the dashboard shows, as plain JSON-ready data: per person the current scores and the body parts that drive
them, the active alerts, this shift's exposure and the device's health. Built in the frame thread a few times a
second from what the session already holds (nothing here is computed per frame), then handed to the server thread.

Also the temperature reader (`read_temperatures`), called from the server thread: /sys/class/thermal where readable.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

from edge.ergonomics.reba import risk_band, risk_bands

# Body parts of each method's partial scores, as the metrics name them (`ergoedge run --list-metrics`); a part with
# sides is shown with its worse side.
REBA_PARTS = ("neck", "trunk", "legs", "upper_arm", "lower_arm", "wrist")
RULA_PARTS = ("upper_arm", "lower_arm", "wrist", "wrist_twist", "neck", "trunk", "legs")
# A partial at or past this fraction of its range (lowest 0, highest 1) drives the total.
DRIVER_LEVEL = 0.5
# Extra per-person values shown as they are (rounded), where the frame has them.
PERSON_VALUES = {"l5s1_compression_n": 0, "l5s1_moment_nm": 0, "trunk_flexion_deg": 0, "neck_flexion_deg": 0,
                 "lifts_per_min": 1, "reba_action_level": 0, "rula_action_level": 0, "activity_confidence": 2,
                 "learned_reba": 1}


def num(value: Any, digits: int = 1) -> float | None:
    """A finite number rounded for display, else None (JSON has no NaN)."""
    if value is None or isinstance(value, bool) or not hasattr(value, "__float__"):
        return None
    v = float(value)
    return round(v, digits) if math.isfinite(v) else None


@functools.lru_cache(maxsize=1)
def _ranges() -> dict[str, tuple[float, float]]:
    from edge.scoring.stream import metric_ranges

    return metric_ranges()


def body_parts(method: str, metrics: dict) -> list[dict]:
    """Each partial score of `method` ("reba" or "rula") with its range and level (0 lowest, 1 highest), the worse
    side of a part that has two, most severe first; parts with no value this frame are left out."""
    ranges = _ranges()
    parts = []
    for part in REBA_PARTS if method == "reba" else RULA_PARTS:
        sides = [(None, f"{method}_{part}")] if f"{method}_{part}" in ranges else \
            [(side, f"{method}_{part}_{side}") for side in ("left", "right")]
        best = None
        for side, name in sides:
            score = num(metrics.get(name), 0)
            if score is None or name not in ranges:
                continue
            low, high = ranges[name]
            level = (score - low) / (high - low) if high > low else 0.0
            if best is None or level > best["level"]:
                best = {"part": part.replace("_", " "), "side": side, "score": score, "max": high,
                        "level": round(level, 3)}
        if best is not None:
            parts.append(best)
    parts.sort(key=lambda p: -p["level"])
    return parts


def person_view(pid: int, metrics: dict, alerts: list[str]) -> dict:
    reba = num(metrics.get("reba_total"), 0)
    band = risk_band(reba)
    reba_parts, rula_parts = body_parts("reba", metrics), body_parts("rula", metrics)
    view = {"id": int(pid), "reba": reba, "risk": band.name if band else None,
            "rula": num(metrics.get("rula_grand"), 0),
            "reba_parts": reba_parts, "rula_parts": rula_parts,
            "reba_drivers": [_part_name(p) for p in reba_parts if p["level"] >= DRIVER_LEVEL],
            "rula_drivers": [_part_name(p) for p in rula_parts if p["level"] >= DRIVER_LEVEL],
            "activity": metrics.get("activity") if isinstance(metrics.get("activity"), str) else None,
            "alerts": alerts}
    view.update({name: num(metrics.get(name), digits) for name, digits in PERSON_VALUES.items()})
    return view


def _part_name(part: dict) -> str:
    return part["part"] + (f" ({part['side']})" if part["side"] else "")


def active_alerts(active: dict, recent) -> list[dict]:
    """The raised, not yet cleared alerts (`Session.active`: (person, rule) -> message), each with the event that
    raised it (its id is what acknowledging names), newest first."""
    latest: dict[tuple[int, str], dict] = {}
    for event in reversed(recent):
        key = (event["person"], event["rule"])
        if event["kind"] == "raised" and key in active and key not in latest:
            latest[key] = event
            if len(latest) == len(active):
                break
    out = []
    for (person, rule), message in active.items():
        event = latest.get((person, rule))
        if event is None:  # raised longer ago than the session's event memory holds: no id to acknowledge
            continue
        out.append({"event_id": event["event_id"], "person": person, "rule": rule, "severity": event["severity"],
                    "message": message, "raised": event["wall_time"], "time_s": event["time_s"],
                    "value": num(event["value"], 2), "threshold": event["threshold"]})
    out.sort(key=lambda a: a["raised"], reverse=True)
    return out


def exposure_view(exposure, now) -> dict | None:
    """This shift's exposure per person and for everyone (earlier runs of the shift included), through the
    tracker's public `shift_key` and `totals`; None before the run has begun."""
    if exposure is None:
        return None
    key = exposure.shift_key(now)
    shift = exposure.totals()["shifts"].get(key, {})
    levels = [band.name for band in risk_bands()] + ["unknown"]
    persons = [_exposure_row(pid, bucket) for pid, bucket in shift.get("persons", {}).items()]
    return {"shift": key, "levels": levels, "persons": persons,
            "all": _exposure_row("all", shift["all"]) if "all" in shift else None}


def _exposure_row(pid, bucket: dict) -> dict:
    tracked = float(bucket.get("tracked_s", 0.0))
    return {"id": pid, "tracked_s": round(tracked, 1),
            "reba_s": {level: round(float(s), 1) for level, s in bucket.get("reba_s", {}).items()},
            "alerts": int(sum(bucket.get("alerts_raised", {}).values())),
            "lifts_per_hour": _lifts_per_hour(bucket, tracked)}


# A rate per hour from less tracked time than this would mostly be noise (one lift in 10 s: "360 an hour").
MIN_RATE_S = 60.0


def _lifts_per_hour(bucket: dict, tracked_s: float) -> float | None:
    """Lifts counted in the shift per hour tracked, where the exposure totals count lifts and at least MIN_RATE_S
    were tracked (else None)."""
    lifts = bucket.get("lifts")
    if isinstance(lifts, dict):
        lifts = lifts.get("count")
    if lifts is None or isinstance(lifts, bool) or not hasattr(lifts, "__float__") or tracked_s < MIN_RATE_S:
        return None
    return round(float(lifts) * 3600.0 / tracked_s, 1)


def health_view(session, fps_recent: float) -> dict:
    stats = session.source.stats()
    stages = session.clock.summary()
    return {"fps": num(fps_recent, 1),
            "fps_run": num(session.frames / max(time.monotonic() - session.started, 1e-6), 1),
            "frames": session.frames, "dropped": stats.get("dropped", 0), "reconnects": stats.get("reconnects", 0),
            "gaps": stats.get("gaps_total", 0), "source_errors": stats.get("errors", 0),
            "in_gap": any(g.get("end") is None for g in stats.get("gaps", [])),
            "stage_ms": {name: s["median_ms"] for name, s in stages.items()},
            "sink_failures": int(sum(session.sinks.stats()["failures"].values())) if session.sinks else 0,
            "uptime_s": round(time.monotonic() - session.started, 1)}


def read_temperatures(root: str | Path = "/sys/class/thermal") -> list[dict]:
    """Each thermal zone's name and temperature (degrees C) where /sys/class/thermal is readable, else []."""
    out = []
    try:
        zones = sorted(Path(root).glob("thermal_zone*"))
    except OSError:
        return out
    for zone in zones:
        try:
            millidegrees = int((zone / "temp").read_text().strip())
            name = (zone / "type").read_text().strip() if (zone / "type").exists() else zone.name
        except (OSError, ValueError):
            continue
        out.append({"zone": name, "celsius": round(millidegrees / 1000.0, 1)})
    return out
