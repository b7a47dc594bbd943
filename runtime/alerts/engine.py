"""The alert engine: per-frame metrics -> `AlertEvent`s, a pure state machine driven by explicit stream time.

Each (person, rule) pair moves through

    idle --condition true--> pending --held min_duration_s (and cooldown over)--> active  => "raised"
    active --release condition true--> releasing --held clear_after_s--> idle            => "cleared"
    releasing --back in the hold zone--> active;  pending --condition false--> idle

Conventions:
- Directions: "above" (value > threshold), "at_least" (>=), "below" (<), "at_most" (<=). Integer scores such as
  REBA use "at_least" so a rule reads like the published band ("REBA >= 8").
- Hysteresis: an active alert clears only once the value is past `release` (strictly below it for "at_least",
  at or below it for "above", mirrored for "below"/"at_most"); values between release and threshold keep it active.
- Unknown values (metric missing, None, NaN or inf, e.g. the person was occluded): an unknown frame neither starts
  nor continues a pending condition (the timer restarts from the next known frame that meets it), and it never
  clears an active alert; it also interrupts a running release timer (clear_after_s restarts).
- Reported value: "raised" carries the worst value seen while pending (the peak for above/at_least, the minimum
  for below/at_most); "cleared" carries the value on the frame that cleared it (the last known value on forget()).
- duration_s: at "raised", how long the condition had held; at "cleared", how long the alert was active.
- Cooldown blocks raising, not observing: a condition may become pending during the cooldown, and raises on the
  first frame at which it has held min_duration_s *and* the cooldown is over.
- Comparisons of elapsed time use a 1 microsecond tolerance so that frame timestamps such as n/30 are frame-exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.config import check_number
from edge.errors import InputError
from runtime.alerts.event import AlertEvent, utc_iso, utc_now

DIRECTIONS = ("above", "at_least", "below", "at_most")
SEVERITIES = ("info", "warning", "critical")
# The longest a rule's durations may be (a day): a longer min_duration_s would never raise within a shift.
MAX_DURATION_S = 86400.0
# Elapsed-time slack: timestamps like 97/30 - 7/30 land a few ulps short of 3.0.
_EPS = 1e-6
_MESSAGE_KEYS = {"person": 0, "value": 1.0, "threshold": 1.0, "duration": 1.0, "rule": "r", "metric": "m",
                 "severity": "info"}


@dataclass(frozen=True)
class AlertRule:
    """One alert rule on one per-frame metric.

    release: the level at which a raised alert clears; None means threshold -/+ hysteresis (minus for
    above/at_least, plus for below/at_most). Give release or hysteresis, not both. The effective level is
    `release_level` (kept derived, so `dataclasses.replace(rule, threshold=...)` moves it along).
    message: format string; fields {person}, {value}, {threshold}, {duration}, {rule}, {metric}, {severity}.
    Ranges: threshold and release any finite number (a run config also keeps them within the metric's range,
    `check_range`), hysteresis >= 0, min_duration_s, clear_after_s and cooldown_s 0..MAX_DURATION_S.
    activity: instead of a metric and threshold, a class of the activity model, e.g. "bend": the rule holds while
    that is the person's current activity (its metric is `activity_metric(activity)`, 1 while it is, 0 while
    another is, unknown before the model has an answer). The run checks the name against the model's classes.
    """

    name: str
    metric: str = ""
    threshold: float | None = None
    direction: str = "above"
    hysteresis: float = 0.0
    release: float | None = None
    min_duration_s: float = 0.0
    clear_after_s: float = 0.0
    cooldown_s: float = 0.0
    severity: str = "warning"
    message: str = "{rule}: {metric} {value:.4g} past {threshold:g} for {duration:.1f} s (person {person})"
    activity: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"AlertRule: name must be a non-empty string, got {self.name!r}")
        who = f"AlertRule {self.name!r}"
        if self.activity is not None:
            self._as_activity_rule(who)
        elif self.threshold is None:
            raise InputError(f"{who}: missing key 'threshold' (or name an activity)")
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise InputError(f"{who}: metric must be a non-empty string, got {self.metric!r}")
        if self.direction not in DIRECTIONS:
            raise InputError(f"{who}: direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        if self.severity not in SEVERITIES:
            raise InputError(f"{who}: severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        # Normalise numbers (ints, numpy scalars) to float so equality and JSON are predictable.
        for field in ("threshold", "hysteresis", "min_duration_s", "clear_after_s", "cooldown_s"):
            minimum = None if field == "threshold" else 0.0
            maximum = MAX_DURATION_S if field.endswith("_s") else None
            object.__setattr__(self, field, check_number(getattr(self, field), f"{who}: {field}", minimum=minimum,
                                                         maximum=maximum))
        if self.release is not None:
            if self.hysteresis:
                raise InputError(f"{who}: give release or hysteresis, not both")
            object.__setattr__(self, "release", check_number(self.release, f"{who}: release"))
            if self._upward and self.release > self.threshold:
                raise InputError(f"{who}: release {self.release:g} must be <= threshold {self.threshold:g} "
                                 f"for direction {self.direction!r}")
            if not self._upward and self.release < self.threshold:
                raise InputError(f"{who}: release {self.release:g} must be >= threshold {self.threshold:g} "
                                 f"for direction {self.direction!r}")
        if not math.isfinite(self.release_level):
            raise InputError(f"{who}: threshold {self.threshold:g} and hysteresis {self.hysteresis:g} give no finite "
                             "release level")
        if not isinstance(self.message, str):
            raise InputError(f"{who}: message must be a string, got {self.message!r}")
        try:
            self.message.format(**_MESSAGE_KEYS)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise InputError(f"{who}: message {self.message!r} is not a valid template "
                             f"(fields: {', '.join('{' + k + '}' for k in _MESSAGE_KEYS)}): {exc}") from None

    def _as_activity_rule(self, who: str) -> None:
        """An activity rule: its metric, threshold and direction follow from the activity (none may be given)."""
        if not isinstance(self.activity, str) or not self.activity.strip():
            raise InputError(f"{who}: activity must be a non-empty string, got {self.activity!r}")
        metric = activity_metric(self.activity)
        if self.metric not in ("", metric) or self.threshold not in (None, 1.0):
            raise InputError(f"{who}: a rule on an activity takes no metric or threshold")
        if self.direction not in ("above", "at_least") or self.hysteresis or self.release is not None:
            raise InputError(f"{who}: a rule on an activity takes no direction, hysteresis or release")
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "threshold", 1.0)
        object.__setattr__(self, "direction", "at_least")
        if self.message == AlertRule.message:
            name = self.activity.replace("{", "{{").replace("}", "}}")
            object.__setattr__(self, "message", f"Person {{person}}: {name} for {{duration:.1f}} s ({{rule}})")

    @property
    def _upward(self) -> bool:
        return self.direction in ("above", "at_least")

    @property
    def release_level(self) -> float:
        if self.release is not None:
            return self.release
        return self.threshold - self.hysteresis if self._upward else self.threshold + self.hysteresis

    def triggers(self, value: float) -> bool:
        """The raise condition on one known value."""
        t = self.threshold
        return {"above": value > t, "at_least": value >= t, "below": value < t, "at_most": value <= t}[self.direction]

    def releases(self, value: float) -> bool:
        """The clear condition: the value is past the release level (the negation of the rule at that level)."""
        r = self.release_level
        return {"above": value <= r, "at_least": value < r, "below": value >= r, "at_most": value > r}[self.direction]

    def worse(self, a: float, b: float) -> float:
        return max(a, b) if self._upward else min(a, b)

    def check_range(self, low: float, high: float, shown: str) -> None:
        """An `InputError` unless the rule suits a metric whose values lie in low..high (`shown`, for people): the
        threshold within it, some value in it that raises the alert, and some that clears it again."""
        who = f"rule {self.name!r}"
        if not low <= self.threshold <= high:
            raise InputError(f"{who}: threshold {self.threshold:g} is outside what {self.metric} can be ({shown})")
        if not self.triggers(high if self._upward else low):
            raise InputError(f"{who}: {self.direction} {self.threshold:g} is never reached: {self.metric} is {shown}")
        if not self.releases(low if self._upward else high):
            raise InputError(f"{who}: its alert would never clear: release level {self.release_level:g} is out of "
                             f"reach, {self.metric} is {shown} (lower the hysteresis or move release)")


# Defaults (all thresholds are configurable per site):
DEFAULT_RULES: tuple[AlertRule, ...] = (
    # REBA 8..10 is the "high risk, investigate and implement change soon" band. REBA is an integer, hence
    # "at_least"; it clears as soon as the score is back in the medium band, debounced by 2 s.
    AlertRule("reba_high", "reba_total", 8, direction="at_least", min_duration_s=3.0, clear_after_s=2.0,
              cooldown_s=30.0, severity="warning",
              message="Person {person}: REBA {value:.0f} (high risk, >= {threshold:.0f}) for {duration:.1f} s"),
    # Trunk flexion beyond 60 deg is REBA's worst trunk band; sustained for 10 s it is a static posture.
    # 5 deg hysteresis absorbs pose jitter around the line.
    AlertRule("trunk_flexion", "trunk_flexion_deg", 60, direction="above", hysteresis=5.0, min_duration_s=10.0,
              clear_after_s=1.0, cooldown_s=30.0, severity="warning",
              message="Person {person}: trunk flexed {value:.0f} deg (> {threshold:.0f}) for {duration:.0f} s"),
    # More than 4 lifts/min: in the NIOSH frequency table for a full shift the multiplier falls below 0.45 past
    # 4 lifts/min. The metric is already a per-minute rate, so require it for a whole minute. "info": the risk
    # also depends on load and duration, this is a prompt to rotate tasks.
    AlertRule("lift_rate", "lifts_per_min", 4, direction="above", hysteresis=1.0, min_duration_s=60.0,
              cooldown_s=300.0, severity="info",
              message="Person {person}: {value:.1f} lifts/min (> {threshold:.0f}) for {duration:.0f} s"),
    # 3400 N is the NIOSH action limit for L5/S1 compression; a lift's peak is short, so 0.5 s suffices.
    AlertRule("l5s1_compression", "l5s1_compression_n", 3400, direction="above", hysteresis=200.0,
              min_duration_s=0.5, cooldown_s=10.0, severity="critical",
              message="Person {person}: L5/S1 compression {value:.0f} N (> {threshold:.0f} N action limit)"),
)


# The metric of an activity rule: 1 while the person's current activity is that class, 0 while it is another.
ACTIVITY_METRIC_PREFIX = "activity:"


def activity_metric(activity: str) -> str:
    return ACTIVITY_METRIC_PREFIX + activity


def check_rules(rules: Iterable[AlertRule]) -> tuple[AlertRule, ...]:
    out = tuple(rules)
    seen: set[str] = set()
    for rule in out:
        if not isinstance(rule, AlertRule):
            raise InputError(f"alert rules: expected AlertRule, got {type(rule).__name__}")
        if rule.name in seen:
            raise InputError(f"alert rules: duplicate rule name {rule.name!r}")
        seen.add(rule.name)
    return out


def check_time(time_s: Any) -> float:
    return check_number(time_s, "alert update: time_s")


def check_person(person: Any) -> int:
    if isinstance(person, bool) or not hasattr(person, "__index__"):
        raise InputError(f"alert update: person must be an integer track id, got {person!r}")
    return int(person)


def metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """A known finite value, or None for unknown (missing, None, NaN, inf)."""
    raw = metrics.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not hasattr(raw, "__float__"):
        raise InputError(f"metric {name!r}: expected a number, got {raw!r}")
    value = float(raw)
    return value if math.isfinite(value) else None


@dataclass
class _RuleState:
    phase: str = "idle"  # idle | pending | active | releasing
    since: float = 0.0  # pending: when the condition started to hold
    peak: float = math.nan
    raised_at: float = 0.0
    release_since: float = 0.0
    last_value: float = math.nan
    cooldown_until: float = -math.inf


class AlertEngine:
    """Alert state per (person, rule); `update` once per frame per person with that frame's stream time."""

    def __init__(self, rules: Iterable[AlertRule] = DEFAULT_RULES, camera: str = "",
                 clock: Callable[[], datetime] = utc_now):
        self.rules = check_rules(rules)
        self.camera = str(camera)
        self._clock = clock
        self._states: dict[int, dict[str, _RuleState]] = {}
        self._last_time: dict[int, float] = {}

    def update(self, time_s: float, person: int, metrics: Mapping[str, Any]) -> list[AlertEvent]:
        """Feed one frame's metrics for one person; returns the events this frame caused (usually none)."""
        t = check_time(time_s)
        person = check_person(person)
        self._check_order(person, t)
        # Read every value before touching state, so bad input leaves the engine as it was.
        values = [metric_value(metrics, rule.metric) for rule in self.rules]
        self._last_time[person] = t
        states = self._states.setdefault(person, {r.name: _RuleState() for r in self.rules})
        events = []
        for rule, value in zip(self.rules, values):
            event = self._step(rule, states[rule.name], t, person, value)
            if event is not None:
                events.append(event)
        return events

    def forget(self, person: int, time_s: float) -> list[AlertEvent]:
        """The person left (track ended): clear their active alerts and drop all their state, cooldowns included."""
        t = check_time(time_s)
        person = check_person(person)
        self._check_order(person, t)
        states = self._states.pop(person, {})
        self._last_time.pop(person, None)
        events = []
        for rule in self.rules:
            s = states.get(rule.name)
            if s is not None and s.phase in ("active", "releasing"):
                duration = t - s.raised_at
                events.append(self._event(
                    "cleared", rule, person, t, s.last_value, duration,
                    f"{rule.name} cleared: person {person} left the view after {duration:.1f} s active"))
        return events

    def state(self, person: int, rule: str) -> str:
        """"idle", "pending", "active" or "releasing" (idle for a person never seen)."""
        s = self._states.get(person, {}).get(rule)
        return s.phase if s is not None else "idle"

    def active(self) -> list[tuple[int, str]]:
        """(person, rule) pairs whose alert is raised and not yet cleared."""
        return sorted((p, name) for p, rules in self._states.items()
                      for name, s in rules.items() if s.phase in ("active", "releasing"))

    def _check_order(self, person: int, t: float) -> None:
        last = self._last_time.get(person)
        if last is not None and t < last:
            raise InputError(f"alert update: time went backwards for person {person}: {t:g} s after {last:g} s")

    def _step(self, rule: AlertRule, s: _RuleState, t: float, person: int,
              value: float | None) -> AlertEvent | None:
        if value is None:
            # Unknown breaks a running timer (pending or releasing) but never changes what is raised.
            if s.phase == "pending":
                s.phase = "idle"
            elif s.phase == "releasing":
                s.phase = "active"
            return None

        if s.phase in ("idle", "pending"):
            if not rule.triggers(value):
                s.phase = "idle"
                return None
            if s.phase == "idle":
                s.phase, s.since, s.peak = "pending", t, value
            else:
                s.peak = rule.worse(s.peak, value)
            held = t - s.since
            if held + _EPS >= rule.min_duration_s and t + _EPS >= s.cooldown_until:
                s.phase, s.raised_at, s.last_value = "active", t, value
                text = rule.message.format(person=person, value=s.peak, threshold=rule.threshold, duration=held,
                                           rule=rule.name, metric=rule.metric, severity=rule.severity)
                return self._event("raised", rule, person, t, s.peak, held, text)
            return None

        s.last_value = value
        if not rule.releases(value):
            s.phase = "active"
            return None
        if s.phase == "active":
            s.phase, s.release_since = "releasing", t
        if t - s.release_since + _EPS >= rule.clear_after_s:
            s.phase, s.cooldown_until = "idle", t + rule.cooldown_s
            duration = t - s.raised_at
            return self._event(
                "cleared", rule, person, t, value, duration,
                f"{rule.name} cleared for person {person}: {rule.metric} {value:.4g} after {duration:.1f} s active")
        return None

    def _event(self, kind: str, rule: AlertRule, person: int, t: float, value: float, duration: float,
               message: str) -> AlertEvent:
        return AlertEvent(kind=kind, rule=rule.name, person=person, severity=rule.severity, time_s=t,
                          wall_time=utc_iso(self._clock()), value=float(value), threshold=rule.threshold,
                          duration_s=float(duration), camera=self.camera, message=message)


__all__ = ["ACTIVITY_METRIC_PREFIX", "DEFAULT_RULES", "DIRECTIONS", "SEVERITIES", "AlertEngine", "AlertRule",
           "activity_metric"]
