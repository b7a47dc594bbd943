"""Exposure totals per shift and person: seconds in each REBA risk level and RULA action level, seconds past each
rule's threshold, alerts raised per rule, seconds each body part's partial score is at its worst levels, lifts and
their NIOSH lifting indices; kept in bounded memory and, given an event store, saved every few seconds so that a
restarted run continues its shift, and so that `ergoedge report` can describe any past period. With a store the
worst episodes of high risk (with a skeleton-only thumbnail) and every lift are saved too."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from edge.config import check_number
from edge.errors import InputError
from edge.ergonomics.reba import risk_band, risk_bands
from runtime.alerts.engine import DEFAULT_RULES, AlertRule, check_person, check_rules, check_time, metric_value
from runtime.alerts.episodes import METHOD_PARTS, EpisodeTracker, skeleton_thumbnail, worst_parts
from runtime.alerts.event import AlertEvent, parse_utc, utc_iso, utc_now
from runtime.alerts.lifts import SETTLE_S, LiftCounter, LiftGeometry, hand_geometry, li_band, lift_index


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


# Memory bounds (a week-long run must stay flat). Shifts: the current one and the two before it stay in memory and
# in the report; older ones are only in the event store. People: per shift, the tracks updated most recently; the
# rest are folded into one "others" bucket (a flickering tracker can make a new track id every second).
KEEP_SHIFTS = 3
MAX_PERSONS = 64
# Seconds of wall time between saves to the event store: what a crash can lose at most.
SAVE_EVERY_S = 5.0
OTHERS = -1  # the person id of the folded tracks in the event store
RULA_LEVELS = ("1", "2", "3", "4")  # RULA action levels, as bucket keys
# Lift and episode records waiting for the next save, at most (a store failing for hours must not fill memory).
MAX_PENDING_RECORDS = 10_000


@dataclass
class _Shift:
    """One shift in memory: this run's people (least recently updated first), the tracks it folded together, the
    totals earlier runs saved for the shift, and what changed since the last save."""

    persons: dict[int, dict] = field(default_factory=dict)
    others: dict | None = None
    earlier: dict | None = None
    dirty: set[int] = field(default_factory=set)
    dropped: set[int] = field(default_factory=set)  # folded since the last save: their own rows go


class ExposureTracker:
    """Accumulated exposure per shift and person: seconds per REBA risk level, seconds past each rule's
    threshold, alerts raised per rule.

    Shift starts are local "HH:MM" times in `tz` (IANA name or tzinfo; None = the device's local zone); a shift
    runs to the next start, so ("06:00", "14:00", "22:00") puts 02:00 on 2 May in shift "2024-05-01T22:00".
    Frames whose REBA is unknown count as "unknown", so the level seconds always add up to `tracked_s`.
    It is also a sink (`emit` = `record`) so it can sit in a SinkSet to count the engine's raised alerts.

    Memory holds `keep_shifts` shifts and, per shift, `max_persons` people (see KEEP_SHIFTS, MAX_PERSONS); call
    `forget(person)` when a track ends. `scoring` (the run's `edge.scoring.methods.ScoreConfig`) gives the REBA
    at which an episode of high risk begins (`high_risk_reba`) and the load and coupling for NIOSH (no lifting
    index while `load_kg` is 0). Per frame the run calls `update` for each person and then, once, `observe_frame`
    with the frame's image and people: the thumbnails of the episodes and the hands' positions for NIOSH.
    With a `store` (`runtime.alerts.store.EventStore`) this run's totals are
    saved as `run_id`'s rows every `save_every_s` seconds of wall time, at each shift change and on `close`, and a
    shift's rows saved by other runs (a run before a restart) are loaded when the shift is first met and counted
    in its "all" (as "earlier_runs"). A failing save is logged once through `log` and retried at the next one.
    """

    name = "exposure"

    def __init__(self, rules: Iterable[AlertRule] = DEFAULT_RULES,
                 shift_starts: Iterable[str] = ("06:00", "14:00", "22:00"), tz: tzinfo | str | None = None,
                 clock: Callable[[], datetime] = utc_now, reba_metric: str = "reba_total", *, store=None,
                 camera: str = "", run_id: str = "", save_every_s: float = SAVE_EVERY_S,
                 keep_shifts: int = KEEP_SHIFTS, max_persons: int = MAX_PERSONS,
                 log: Callable[[str], None] | None = None, scoring=None):
        from edge.scoring.methods import ScoreConfig

        self.rules = check_rules(rules)
        self.shift_starts = tuple(str(s).strip() for s in shift_starts)
        self._starts = _parse_shift_starts(self.shift_starts)
        self._tz = _resolve_tz(tz)
        self._clock = clock
        self.reba_metric = reba_metric
        self.keep_shifts = check_number(keep_shifts, "exposure: keep_shifts", integer=True, minimum=1)
        self.max_persons = check_number(max_persons, "exposure: max_persons", integer=True, minimum=1)
        self.save_every_s = check_number(save_every_s, "exposure: save_every_s", positive=True)
        if store is not None and not run_id:
            raise InputError("exposure: a run_id is needed to save to an event store")
        self._store, self.camera, self.run_id = store, str(camera), str(run_id)
        self._log = log
        self.save_failures = 0
        self._shifts: dict[str, _Shift] = {}
        self._last_time: dict[int, float] = {}
        self._next_save: datetime | None = None
        scoring = scoring if scoring is not None else ScoreConfig()
        self.load_kg, self.coupling = float(scoring.load_kg), scoring.coupling
        self._episodes = EpisodeTracker(scoring.high_risk_reba)
        self._lift_counters: dict[int, LiftCounter] = {}
        self._hands: dict[int, LiftGeometry] = {}
        self._unsettled: dict[int, list[dict]] = {}  # lifts counted this frame, waiting for the hands' positions
        self._records: dict[str, list] = {"episodes": [], "lifts": []}  # waiting for the next save
        self._bounds_saved: set[str] = set()
        self._frame_failures = 0
        self._frame_calls = False  # observe_frame seen: lifts wait for the hands' positions
        if store is not None:  # a restarted run shows and continues its shift's totals from the start
            self._shift(self.shift_key(self._clock()))

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
        reba = metric_value(metrics, self.reba_metric)
        level = self._reba_level(reba)
        rula = metric_value(metrics, "rula_action_level")
        rula_level = str(int(round(rula))) if rula is not None and str(int(round(rula))) in RULA_LEVELS else "unknown"
        over = [rule.name for rule in self.rules
                if (v := metric_value(metrics, rule.metric)) is not None and rule.triggers(v)]
        self._last_time[person] = t
        when = wall_time or self._clock()
        key = self.shift_key(when)
        bucket = self._bucket(key, person)
        bucket["tracked_s"] += dt
        bucket["reba_s"][level] += dt
        bucket["rula_s"][rula_level] += dt
        for name in over:
            bucket["over_threshold_s"][name] += dt
        worst = worst_parts(metrics)
        for method, part in worst:
            bucket["worst_s"][method][part] += dt
        self._settle(person, t)  # lifts no frame call placed in time (none come: at once, without an index)
        self._count_lifts(t, when, key, person, metric_value(metrics, "lifts_per_min"), bucket)
        self._keep(self._episodes.update(t, utc_iso(when), person, key, reba, metrics, dt, worst), "episodes")
        self._save_when_due(when)

    def observe_frame(self, time_s: float, image, people, up=None) -> None:
        """Once a frame, after `update`: `image` (only its size is read, never its pixels) and its people
        (`edge.pose.types.Person` with track ids) give each new peak of an episode its skeleton thumbnail and, with
        the scene's `up` vector and a load configured, place this frame's lifts for NIOSH. A failure here is
        logged once and never stops the monitor."""
        self._frame_calls = True
        try:
            wanted = set(self._episodes.wanting_thumbnails())
            for person in people:
                pid = person.track_id
                if pid in wanted:
                    self._episodes.set_thumbnail(pid, skeleton_thumbnail(image.shape, person))
                if self.load_kg > 0 and up is not None:
                    self._place_lifts(time_s, person, up)
        except Exception as exc:  # noqa: BLE001 - the report's extras must never stop the alerts
            self._frame_failures += 1
            if self._frame_failures == 1 and self._log is not None:
                self._log(f"recording episodes and lifts failed: {type(exc).__name__}: {exc}")

    def _place_lifts(self, t: float, person, up) -> None:
        from edge.pose.lifting import scoring_joints
        from edge.skeletons import get_layout

        hands = self._hands.setdefault(person.track_id, LiftGeometry())
        if t >= hands.next_t:
            joints, joints_up = scoring_joints(person, up)
            hands.add(t, hand_geometry(joints, get_layout(person.layout).joints, joints_up, person.world is None))
        waiting = self._unsettled.get(person.track_id)
        while waiting and waiting[0]["_t"] + SETTLE_S <= t:
            self._assess(waiting.pop(0), hands)

    def _assess(self, lift: dict, hands: LiftGeometry | None) -> None:
        """The lift's NIOSH index from the hands' positions around it (none if unseen), into its shift's totals;
        then kept for the next save."""
        geometry = hands.lift(lift["_t"]) if hands is not None and self.load_kg > 0 else None
        if geometry is not None:
            lift.update(lift_index(self.load_kg, geometry, lift["lifts_per_min"] or 0.0, self.coupling))
            niosh = self._bucket(lift["shift"], lift["person"])["niosh"]
            niosh["assessed"] += 1
            niosh[li_band(lift["li"])] += 1
            if lift["li"] is not None:
                niosh["li_n"] += 1
                niosh["li_sum"] += lift["li"]
        self._keep([lift], "lifts")

    def _count_lifts(self, t: float, when: datetime, key: str, person: int, per_min: float | None,
                     bucket: dict) -> None:
        new = self._lift_counters.setdefault(person, LiftCounter()).update(t, per_min)
        if not new:
            return
        bucket["lifts"] += new
        lift = {"shift": key, "person": person, "wall_time": utc_iso(when), "lifts_per_min": per_min,
                "load_kg": self.load_kg if self.load_kg > 0 else None, "_t": t}
        # Several lifts in one frame (a count catching up) share a time; the store keeps one row per time.
        self._unsettled.setdefault(person, []).append(lift)

    def _settle(self, person: int | None = None, now: float | None = None) -> None:
        """Place the person's (everyone's) waiting lifts with the hands' positions seen so far (none without frame
        calls); given `now`, only those a frame call should have placed a second ago (all, without frame calls)."""
        for pid in list(self._unsettled) if person is None else [person]:
            waiting = self._unsettled.get(pid, [])
            while waiting and (now is None or not self._frame_calls or waiting[0]["_t"] + SETTLE_S + 1.0 < now):
                self._assess(waiting.pop(0), self._hands.get(pid))
            if not waiting:
                self._unsettled.pop(pid, None)

    def _keep(self, records: list[dict], kind: str) -> None:
        if self._store is not None and records:
            pending = self._records[kind]
            pending.extend(records)
            del pending[:-MAX_PENDING_RECORDS]

    def record(self, event: AlertEvent) -> None:
        """Count a raised alert in the shift of its wall time (cleared events are ignored)."""
        if event.kind != "raised":
            return
        bucket = self._bucket(self.shift_key(parse_utc(event.wall_time)), event.person)
        alerts = bucket["alerts_raised"]
        alerts[event.rule] = alerts.get(event.rule, 0) + 1

    emit = record

    def forget(self, person: int) -> None:
        """The track ended: its time check, lift counting and episode go (its totals stay in their shifts)."""
        self._last_time.pop(person, None)
        self._settle(person)
        self._keep(self._episodes.close(person), "episodes")
        self._lift_counters.pop(person, None)
        self._hands.pop(person, None)

    def save(self) -> bool:
        """Write what changed since the last save to the store (nothing without one); False if that failed."""
        if self._store is None:
            return True
        rows, drop = [], []
        for key, shift in self._shifts.items():
            drop += [(key, p) for p in shift.dropped]
            rows += [(key, p, shift.others if p == OTHERS else shift.persons[p]) for p in shift.dirty]
        bounds = [(key, *self.shift_bounds(key)) for key in self._shifts if key not in self._bounds_saved]
        episodes = self._records["episodes"] + self._episodes.open_records()
        lifts = self._records["lifts"]
        if rows or drop or bounds or episodes or lifts:
            try:
                self._store.save_exposure(self.camera, self.run_id, rows, updated=self._clock(), drop=drop,
                                          shifts=bounds, episodes=episodes, lifts=lifts)
            except Exception as exc:  # noqa: BLE001 - a full disk must not stop the monitor; the next save retries
                self.save_failures += 1
                if self.save_failures == 1 and self._log is not None:
                    self._log(f"saving exposure failed: {type(exc).__name__}: {exc} (retried at every save)")
                return False
            for shift in self._shifts.values():
                shift.dirty.clear()
                shift.dropped.clear()
            self._bounds_saved.update(b[0] for b in bounds)
            self._records = {"episodes": [], "lifts": []}
        return True

    def close(self) -> None:
        """End every open episode and place every lift, then save."""
        self._settle()
        self._keep(self._episodes.close(), "episodes")
        self.save()

    def shift_bounds(self, key: str) -> tuple[str, str, str]:
        """(start, end as ISO UTC, time zone) of the shift named `key`: it ends at the next shift start."""
        day, start = datetime.fromisoformat(key[:10]), int(key[11:13]) * 60 + int(key[14:16])
        later = [m for m in self._starts if m > start]
        end_day, end = (day, later[0]) if later else (day + timedelta(days=1), self._starts[0])

        def utc(d: datetime, minute: int) -> str:
            local = d.replace(hour=minute // 60, minute=minute % 60)
            # The device's zone (None) through astimezone, which applies that day's offset (summer time).
            return utc_iso(local.replace(tzinfo=self._tz) if self._tz is not None else local.astimezone())

        return utc(day, start), utc(end_day, end), str(self._tz) if self._tz is not None else "local"

    def totals(self) -> dict:
        """JSON-ready: {"timezone", "shift_starts", "shifts": {key: {"persons": {"<id>": totals}, "all": totals}}};
        a shift also has "others" (tracks folded together) and "earlier_runs" (saved by other runs) when it has
        them, and "all" counts them too."""
        shifts = {}
        for key in sorted(self._shifts):
            shift = self._shifts[key]
            entry: dict = {"persons": {str(p): _copy(b) for p, b in sorted(shift.persons.items())}}
            for name, part in (("others", shift.others), ("earlier_runs", shift.earlier)):
                if part is not None:
                    entry[name] = _copy(part)
            entry["all"] = self.sum_totals([*shift.persons.values(), shift.others, shift.earlier])
            shifts[key] = entry
        return {"timezone": str(self._tz) if self._tz is not None else "local", "shift_starts": list(self.shift_starts),
                "shifts": shifts}

    def sum_totals(self, buckets: Iterable[dict | None]) -> dict:
        """The sum of exposure buckets (None ones skipped), starting from this tracker's empty bucket."""
        total = self._empty()
        for bucket in buckets:
            if bucket is not None:
                _add_into(total, bucket)
        return total

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
                "rula_s": {**dict.fromkeys(RULA_LEVELS, 0.0), "unknown": 0.0},
                "over_threshold_s": {rule.name: 0.0 for rule in self.rules},
                "alerts_raised": {rule.name: 0 for rule in self.rules},
                "worst_s": {method: dict.fromkeys(parts, 0.0) for method, parts in METHOD_PARTS.items()},
                "lifts": 0,
                "niosh": {"assessed": 0, "li_n": 0, "li_sum": 0.0, "li_le_1": 0, "li_1_to_3": 0, "li_over_3": 0}}

    def _bucket(self, key: str, person: int) -> dict:
        """The person's bucket in the shift, now the most recently updated; the least recent folds into "others"
        once the shift has more than max_persons people."""
        shift = self._shifts.get(key) or self._shift(key)
        bucket = shift.persons.pop(person, None) or self._empty()
        shift.persons[person] = bucket
        shift.dirty.add(person)
        if len(shift.persons) > self.max_persons:
            folded = next(iter(shift.persons))
            shift.others = self.sum_totals([shift.others, shift.persons.pop(folded)])
            shift.dirty.discard(folded)
            shift.dirty.add(OTHERS)
            shift.dropped.add(folded)
        return bucket

    def _shift(self, key: str) -> _Shift:
        """Open a shift in memory: save first (a shift change), load what the store has for it, and let the oldest
        other shift go once more than keep_shifts are held."""
        self.save()
        shift = self._shifts[key] = _Shift()
        if self._store is not None:
            for row in self._store.load_exposure(self.camera, key):
                if row["totals"] is None:
                    if self._log is not None:
                        self._log(f"skipped damaged exposure totals in the event store (camera {self.camera}, "
                                  f"shift {key}, run {row['run_id']}, person {row['person']})")
                    continue
                totals = self.sum_totals([row["totals"]])  # rows saved by an older version gain the new keys
                if row["run_id"] != self.run_id:
                    shift.earlier = self.sum_totals([shift.earlier, totals])
                elif row["person"] == OTHERS:
                    shift.others = totals
                else:
                    shift.persons[row["person"]] = totals
        while len(self._shifts) > self.keep_shifts:
            del self._shifts[min(k for k in self._shifts if k != key)]
        return shift

    def _save_when_due(self, now: datetime) -> None:
        if self._store is None:
            return
        if self._next_save is None or now >= self._next_save:
            if self._next_save is not None:
                self.save()
            self._next_save = now + timedelta(seconds=self.save_every_s)


def stored_totals(store, camera: str, shift: str) -> dict:
    """A shift's exposure for everyone, summed over every run's rows in `store` (an EventStore); {} if none."""
    total: dict = {}
    for row in store.load_exposure(camera, shift):
        if row["totals"] is not None:  # a damaged row counts for nothing
            _add_into(total, row["totals"])
    return total


def _add_into(total: dict, part: dict) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            _add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def _copy(bucket: dict) -> dict:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in bucket.items()}

