"""Exposure totals per shift and person: seconds in each REBA risk level, seconds past each rule's threshold, alerts
raised per rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from edge.config import check_number
from edge.errors import InputError
from edge.ergonomics.reba import risk_band, risk_bands
from runtime.alerts.engine import DEFAULT_RULES, AlertRule, check_person, check_rules, check_time, metric_value
from runtime.alerts.event import AlertEvent, parse_utc, utc_now


def _parse_shift_starts(starts: Iterable[str]) -> tuple[int, ...]:
    minutes = []
    for text in starts:
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise InputError(f"shift_starts: expected HH:MM times, got {text!r}")
        minutes.append(int(m.group(1)) * 60 + int(m.group(2)))
    if not minutes:
        raise InputError("shift_starts: give at least one HH:MM shift start")
    if len(set(minutes)) != len(minutes):
        raise InputError(f"shift_starts: duplicate shift start in {list(starts)!r}")
    return tuple(sorted(minutes))


def _resolve_tz(tz: tzinfo | str | None) -> tzinfo | None:
    if tz is None or isinstance(tz, tzinfo):
        return tz
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"tz: unknown time zone {tz!r} (use an IANA name such as 'Europe/Berlin')") from None


class ExposureTracker:
    """Accumulated exposure per shift and person: seconds per REBA risk level, seconds past each rule's
    threshold, alerts raised per rule.

    Shift starts are local "HH:MM" times in `tz` (IANA name or tzinfo; None = the device's local zone); a shift
    runs to the next start, so ("06:00", "14:00", "22:00") puts 02:00 on 2 May in shift "2024-05-01T22:00".
    Frames whose REBA is unknown count as "unknown", so the level seconds always add up to `tracked_s`.
    It is also a sink (`emit` = `record`) so it can sit in a SinkSet to count the engine's raised alerts.
    """

    name = "exposure"

    def __init__(self, rules: Iterable[AlertRule] = DEFAULT_RULES,
                 shift_starts: Iterable[str] = ("06:00", "14:00", "22:00"), tz: tzinfo | str | None = None,
                 clock: Callable[[], datetime] = utc_now, reba_metric: str = "reba_total"):
        self.rules = check_rules(rules)
        self.shift_starts = tuple(str(s).strip() for s in shift_starts)
        self._starts = _parse_shift_starts(self.shift_starts)
        self._tz = _resolve_tz(tz)
        self._clock = clock
        self.reba_metric = reba_metric
        self._shifts: dict[str, dict[int, dict]] = {}
        self._last_time: dict[int, float] = {}

    def shift_key(self, when: datetime) -> str:
        """The shift that `when` falls in, named by its local start, e.g. "2024-05-01T22:00"."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)  # naive wall times are UTC, like everywhere in the runtime
        local = when.astimezone(self._tz) if self._tz is not None else when.astimezone()
        minute = local.hour * 60 + local.minute
        day = local.date()
        earlier = [s for s in self._starts if s <= minute]
        if earlier:
            start = earlier[-1]
        else:  # before the first start: still the previous day's last shift
            start, day = self._starts[-1], day - timedelta(days=1)
        return f"{day.isoformat()}T{start // 60:02d}:{start % 60:02d}"

    def update(self, time_s: float, person: int, metrics: Mapping[str, Any], dt: float,
               wall_time: datetime | None = None) -> None:
        """Credit `dt` seconds of this frame's state to the person in the current shift (wall_time or clock)."""
        t = check_time(time_s)
        person = check_person(person)
        dt = check_number(dt, "exposure update: dt", minimum=0.0)
        last = self._last_time.get(person)
        if last is not None and t < last:
            raise InputError(f"exposure update: time went backwards for person {person}: {t:g} s after {last:g} s")
        level = self._reba_level(metric_value(metrics, self.reba_metric))
        over = [rule.name for rule in self.rules
                if (v := metric_value(metrics, rule.metric)) is not None and rule.triggers(v)]
        self._last_time[person] = t
        bucket = self._bucket(self.shift_key(wall_time or self._clock()), person)
        bucket["tracked_s"] += dt
        bucket["reba_s"][level] += dt
        for name in over:
            bucket["over_threshold_s"][name] += dt

    def record(self, event: AlertEvent) -> None:
        """Count a raised alert in the shift of its wall time (cleared events are ignored)."""
        if event.kind != "raised":
            return
        bucket = self._bucket(self.shift_key(parse_utc(event.wall_time)), event.person)
        alerts = bucket["alerts_raised"]
        alerts[event.rule] = alerts.get(event.rule, 0) + 1

    emit = record

    def close(self) -> None:
        pass

    def totals(self) -> dict:
        """JSON-ready: {"timezone", "shift_starts", "shifts": {key: {"persons": {"<id>": totals}, "all": totals}}}."""
        shifts = {}
        for key in sorted(self._shifts):
            persons = self._shifts[key]
            everyone = self._empty()
            for bucket in persons.values():
                _add_into(everyone, bucket)
            shifts[key] = {"persons": {str(p): _copy(b) for p, b in sorted(persons.items())}, "all": everyone}
        return {"timezone": str(self._tz) if self._tz is not None else "local", "shift_starts": list(self.shift_starts),
                "shifts": shifts}

    def _reba_level(self, value: float | None) -> str:
        if value is None:
            return "unknown"
        band = risk_band(value)  # a smoothed score counts in the band of its nearest integer
        if band is None:
            raise InputError(f"metric {self.reba_metric!r}: REBA must be 1..15, got {value:g}")
        return band.name

    def _empty(self) -> dict:
        return {"tracked_s": 0.0,
                "reba_s": {**{band.name: 0.0 for band in risk_bands()}, "unknown": 0.0},
                "over_threshold_s": {rule.name: 0.0 for rule in self.rules},
                "alerts_raised": {rule.name: 0 for rule in self.rules}}

    def _bucket(self, shift: str, person: int) -> dict:
        persons = self._shifts.setdefault(shift, {})
        if person not in persons:
            persons[person] = self._empty()
        return persons[person]


def _add_into(total: dict, part: dict) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            _add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def _copy(bucket: dict) -> dict:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in bucket.items()}

