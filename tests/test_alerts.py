"""Alert engine and exposure totals on explicit synthetic time series (30 fps frame times, fake wall clock)."""

import dataclasses
import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from edge.config import from_mapping
from edge.errors import InputError
from runtime.alerts.event import AlertEvent
from runtime.alerts.engine import DEFAULT_RULES, AlertEngine, AlertRule
from runtime.alerts.exposure import ExposureTracker

FPS = 30
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
NAN = float("nan")


class FakeClock:
    """Wall clock that the test moves by hand."""

    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def rule(**kw):
    base = {"name": "r", "metric": "m", "threshold": 10.0}
    return AlertRule(**{**base, **kw})


def engine(*rules, camera="cam0", clock=None):
    return AlertEngine(rules, camera=camera, clock=clock or FakeClock())


def run(eng, values, person=0, start=0, metric="m"):
    """Feed values[k] at frame start+k (time (start+k)/30 s); return [(frame, event)]."""
    out = []
    for i, v in enumerate(values, start):
        metrics = {} if v is None else {metric: v}
        out += [(i, e) for e in eng.update(i / FPS, person, metrics)]
    return out


# ---------------------------------------------------------------------------------------------- raising


@pytest.mark.parametrize("onset", [0, 7, 10, 31])
def test_raises_exactly_at_onset_plus_min_duration_not_before(onset):
    eng = engine(rule(min_duration_s=3.0))
    events = run(eng, [0.0] * onset + [12.0] * 200)
    assert [(f, e.kind) for f, e in events] == [(onset + 3 * FPS, "raised")]
    frame, ev = events[0]
    assert ev.time_s == pytest.approx(frame / FPS)
    assert ev.duration_s == pytest.approx(3.0)
    # One frame earlier it was still pending.
    eng2 = engine(rule(min_duration_s=3.0))
    assert run(eng2, [0.0] * onset + [12.0] * (3 * FPS)) == []
    assert eng2.state(0, "r") == "pending"


def test_zero_min_duration_raises_on_the_first_frame():
    events = run(engine(rule()), [5.0, 11.0])
    assert [(f, e.kind) for f, e in events] == [(1, "raised")]
    assert events[0][1].duration_s == 0.0


def test_raised_event_carries_the_peak_while_pending_and_its_fields():
    clock = FakeClock(T0 + timedelta(hours=1))
    eng = engine(rule(min_duration_s=0.1, severity="critical", message="P{person} {value:.0f}/{threshold:.0f} "
                      "{duration:.1f}s"), clock=clock)
    events = run(eng, [11.0, 15.0, 13.0, 12.0], person=4)
    (frame, ev), = events
    assert frame == 3
    assert ev == AlertEvent(kind="raised", rule="r", person=4, severity="critical", time_s=3 / FPS,
                            wall_time="2024-05-01T11:00:00.000000+00:00", value=15.0, threshold=10.0,
                            duration_s=pytest.approx(0.1), camera="cam0", message="P4 15/10 0.1s",
                            event_id=ev.event_id)


def test_a_dip_below_threshold_resets_the_pending_timer():
    eng = engine(rule(min_duration_s=1.0))
    # 25 frames above (0.83 s), one frame below, then above again from frame 26.
    events = run(eng, [12.0] * 25 + [9.0] + [12.0] * 60)
    assert [f for f, _ in events] == [26 + FPS]


def test_value_equal_to_threshold_is_not_above():
    eng = engine(rule(min_duration_s=0.0))
    assert run(eng, [10.0] * 10) == []


# ---------------------------------------------------------------------------------------------- clearing


def test_hysteresis_values_between_release_and_threshold_keep_it_active():
    r = rule(hysteresis=2.0)
    assert r.release_level == 8.0
    eng = engine(r)
    events = run(eng, [11.0] + [9.0] * 100 + [8.5] * 10 + [8.0])
    assert [(f, e.kind) for f, e in events] == [(0, "raised"), (111, "cleared")]
    cleared = events[1][1]
    assert cleared.value == 8.0
    assert cleared.duration_s == pytest.approx(111 / FPS)


def test_explicit_release_level():
    eng = engine(rule(release=7.0))
    events = run(eng, [11.0, 8.0, 7.5, 7.0])
    assert [(f, e.kind) for f, e in events] == [(0, "raised"), (3, "cleared")]


def test_without_hysteresis_it_clears_at_the_threshold():
    events = run(engine(rule()), [11.0, 10.0])
    assert [(f, e.kind) for f, e in events] == [(0, "raised"), (1, "cleared")]


def test_clear_after_requires_the_release_to_hold():
    eng = engine(rule(clear_after_s=1.0))
    # raise at 0; release from frame 1; back above at frame 20 (timer reset); release again from frame 21.
    events = run(eng, [11.0] + [5.0] * 19 + [11.0] + [5.0] * 40)
    assert [(f, e.kind) for f, e in events] == [(0, "raised"), (21 + FPS, "cleared")]
    assert events[1][1].duration_s == pytest.approx((21 + FPS) / FPS)


def test_cooldown_blocks_a_new_raise_then_allows_it():
    eng = engine(rule(min_duration_s=0.5, cooldown_s=2.0))
    # raise at 15 (0.5 s), clear at 30, condition again from 31 on without a break.
    events = run(eng, [11.0] * 30 + [5.0] + [11.0] * 200)
    kinds = [(f, e.kind) for f, e in events]
    assert kinds[:2] == [(15, "raised"), (30, "cleared")]
    # Held 0.5 s by frame 46, but the cooldown ends at frame 30 + 60 = 90: raised exactly then.
    assert kinds[2:] == [(90, "raised")]
    assert events[2][1].duration_s == pytest.approx((90 - 31) / FPS)


def test_after_cooldown_the_min_duration_still_applies():
    eng = engine(rule(min_duration_s=1.0, cooldown_s=0.5))
    events = run(eng, [11.0] * 31 + [5.0] * 40 + [11.0] * 60)
    assert [(f, e.kind) for f, e in events] == [(30, "raised"), (31, "cleared"), (71 + FPS, "raised")]


# ---------------------------------------------------------------------------------------------- persons, time


def test_persons_are_independent_and_keep_their_own_time():
    eng = engine(rule(min_duration_s=1.0))
    events = []
    for i in range(100):
        events += eng.update(i / FPS, 1, {"m": 12.0})
        # person 2 runs 10 s behind on its own clock (its own track) and stays low
        events += eng.update(i / FPS - 10.0, 2, {"m": 3.0})
    assert [(e.person, e.kind, e.time_s) for e in events] == [(1, "raised", pytest.approx(1.0))]
    assert eng.state(2, "r") == "idle"
    assert eng.active() == [(1, "r")]


def test_time_going_backwards_raises_and_leaves_state_alone():
    eng = engine(rule(min_duration_s=1.0))
    run(eng, [12.0] * 20)
    with pytest.raises(InputError, match="backwards.*person 0"):
        eng.update(0.1, 0, {"m": 12.0})
    # The same time again is fine (not backwards), and the pending timer survived.
    events = run(eng, [12.0] * 20, start=19)
    assert [f for f, _ in events] == [FPS]


@pytest.mark.parametrize("bad", [NAN, float("inf"), "1.0", True])
def test_bad_time_is_refused(bad):
    with pytest.raises(InputError, match="time_s"):
        engine(rule()).update(bad, 0, {"m": 1.0})


def test_non_numeric_metric_is_refused_without_touching_state():
    eng = engine(rule(min_duration_s=0.5))
    run(eng, [12.0] * 5)
    with pytest.raises(InputError, match="'m'"):
        eng.update(1.0, 0, {"m": "high"})
    assert eng.state(0, "r") == "pending"


# ---------------------------------------------------------------------------------------------- unknown values


@pytest.mark.parametrize("unknown", [NAN, None, float("inf")])
def test_unknown_interrupts_a_pending_condition(unknown):
    eng = engine(rule(min_duration_s=1.0))
    events = run(eng, [12.0] * 20 + [unknown] + [12.0] * 60)
    assert [f for f, _ in events] == [21 + FPS]


def test_unknown_never_clears_an_active_alert():
    eng = engine(rule(hysteresis=2.0))
    events = run(eng, [12.0] + [NAN] * 300 + [None] * 300 + [7.0])
    assert [(f, e.kind) for f, e in events] == [(0, "raised"), (601, "cleared")]


def test_unknown_restarts_the_release_timer():
    eng = engine(rule(clear_after_s=0.5))
    events = run(eng, [12.0] + [5.0] * 10 + [NAN] + [5.0] * 30)
    assert [(f, e.kind) for f, e in events] == [(0, "raised"), (12 + 15, "cleared")]


def test_numpy_scalars_are_accepted():
    import numpy as np

    eng = engine(rule())
    assert eng.update(np.float64(0.5), np.int64(3), {"m": np.float32("nan")}) == []
    (ev,) = eng.update(1.0, np.int64(3), {"m": np.int32(11)})
    assert (ev.person, ev.value) == (3, 11.0) and type(ev.person) is int


def test_missing_metric_for_one_rule_does_not_affect_another():
    eng = engine(rule(name="a", metric="a"), rule(name="b", metric="b"))
    events = eng.update(0.0, 0, {"b": 20.0})
    assert [e.rule for e in events] == ["b"]


# ---------------------------------------------------------------------------------------------- forget


def test_forget_clears_active_alerts_with_a_left_message_and_drops_state():
    eng = engine(rule(name="a", cooldown_s=100.0), rule(name="b", metric="other", threshold=1e9))
    run(eng, [12.0] * 30, person=7)
    events = eng.forget(7, 2.0)
    assert [(e.kind, e.rule, e.person) for e in events] == [("cleared", "a", 7)]
    assert "left" in events[0].message
    assert events[0].value == 12.0
    assert events[0].duration_s == pytest.approx(2.0)
    # A new track with the same id starts fresh: no cooldown, times may restart.
    assert [e.kind for e in eng.update(0.0, 7, {"m": 12.0})] == ["raised"]


def test_forget_of_an_unknown_or_idle_person_emits_nothing():
    eng = engine(rule(min_duration_s=5.0))
    run(eng, [12.0] * 10, person=1)
    assert eng.forget(1, 1.0) == []
    assert eng.forget(99, 0.0) == []
    assert eng.state(1, "r") == "idle"


def test_forget_refuses_an_earlier_time():
    eng = engine(rule())
    eng.update(5.0, 0, {"m": 12.0})
    with pytest.raises(InputError, match="backwards"):
        eng.forget(0, 4.0)


# ---------------------------------------------------------------------------------------------- directions


def test_below_direction_with_hysteresis():
    r = rule(direction="below", threshold=20.0, hysteresis=5.0, min_duration_s=0.1)
    assert r.release_level == 25.0
    events = run(engine(r), [30.0, 19.0, 15.0, 18.0, 19.5, 22.0, 24.9, 25.0])
    assert [(f, e.kind) for f, e in events] == [(4, "raised"), (7, "cleared")]
    assert events[0][1].value == 15.0  # the lowest value while pending is the worst one


def test_at_least_includes_the_threshold():
    r = rule(direction="at_least", threshold=8.0)
    events = run(engine(r), [7.0, 8.0, 8.0, 7.0])
    assert [(f, e.kind) for f, e in events] == [(1, "raised"), (3, "cleared")]


def test_at_most_includes_the_threshold():
    r = rule(direction="at_most", threshold=2.0, release=3.0)
    events = run(engine(r), [3.0, 2.0, 3.0, 3.5])
    assert [(f, e.kind) for f, e in events] == [(1, "raised"), (3, "cleared")]


# ---------------------------------------------------------------------------------------------- default rules


def test_default_reba_rule_raises_after_3_s_at_8_and_never_at_7():
    eng = AlertEngine(DEFAULT_RULES, clock=FakeClock())
    assert run(eng, [7] * 600, metric="reba_total") == []
    events = run(eng, [8] * 100, metric="reba_total", start=600)
    assert [(f, e.rule, e.severity) for f, e in events] == [(690, "reba_high", "warning")]
    assert events[0][1].message == "Person 0: REBA 8 (high risk, >= 8) for 3.0 s"


def test_default_l5s1_rule_is_critical_after_half_a_second():
    eng = AlertEngine(DEFAULT_RULES, clock=FakeClock())
    events = run(eng, [3500.0] * 20, metric="l5s1_compression_n")
    assert [(f, e.rule, e.severity) for f, e in events] == [(15, "l5s1_compression", "critical")]


def test_default_rules_are_distinct_and_documented():
    names = [r.name for r in DEFAULT_RULES]
    assert names == ["reba_high", "trunk_flexion", "lift_rate", "l5s1_compression"]
    by = {r.name: r for r in DEFAULT_RULES}
    assert (by["trunk_flexion"].threshold, by["trunk_flexion"].min_duration_s) == (60.0, 10.0)
    assert (by["lift_rate"].metric, by["lift_rate"].threshold) == ("lifts_per_min", 4.0)
    assert by["l5s1_compression"].threshold == 3400.0


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("kw", "field"), [
    ({"name": ""}, "name"),
    ({"metric": ""}, "metric"),
    ({"threshold": NAN}, "threshold"),
    ({"threshold": "8"}, "threshold"),
    ({"direction": "over"}, "direction"),
    ({"hysteresis": -1.0}, "hysteresis"),
    ({"min_duration_s": -0.1}, "min_duration_s"),
    ({"clear_after_s": float("inf")}, "clear_after_s"),
    ({"cooldown_s": -5}, "cooldown_s"),
    ({"severity": "fatal"}, "severity"),
    ({"message": "{who}"}, "message"),
    ({"message": "{value:d}"}, "message"),
    ({"release": 12.0}, "release"),
    ({"direction": "below", "release": 8.0}, "release"),
    ({"release": 8.0, "hysteresis": 1.0}, "release or hysteresis"),
])
def test_rule_validation_names_the_field(kw, field):
    with pytest.raises(InputError, match=field):
        rule(**kw)


def test_rule_from_a_table_refuses_unknown_and_missing_keys():
    assert from_mapping(AlertRule, {"name": "x", "metric": "m", "threshold": 3}).threshold == 3.0
    with pytest.raises(InputError, match="unknown key 'treshold'"):
        from_mapping(AlertRule, {"name": "x", "metric": "m", "treshold": 3})
    with pytest.raises(InputError, match="missing key 'threshold'"):
        from_mapping(AlertRule, {"name": "x", "metric": "m"})


def test_release_follows_a_replaced_threshold():
    r = dataclasses.replace(rule(hysteresis=1.0), threshold=20.0)
    assert r.release_level == 19.0


def test_engine_refuses_duplicate_rule_names():
    with pytest.raises(InputError, match="duplicate rule name 'r'"):
        AlertEngine([rule(), rule(threshold=3.0)])


# ---------------------------------------------------------------------------------------------- exposure


def tracker(**kw):
    kw.setdefault("rules", (rule(name="high", metric="reba_total", threshold=8, direction="at_least"),))
    kw.setdefault("tz", "UTC")
    kw.setdefault("clock", FakeClock())
    return ExposureTracker(**kw)


def test_exposure_level_seconds_add_up_to_elapsed_time():
    tr = tracker()
    scores = [1] * 30 + [3] * 60 + [5] * 90 + [9] * 120 + [12] * 30 + [NAN] * 30
    for i, s in enumerate(scores):
        tr.update(i / FPS, 0, {"reba_total": s}, dt=1 / FPS)
    b = tr.totals()["shifts"]["2024-05-01T06:00"]["persons"]["0"]
    assert b["reba_s"] == pytest.approx({"negligible": 1.0, "low": 2.0, "medium": 3.0, "high": 4.0,
                                         "very high": 1.0, "unknown": 1.0})
    assert sum(b["reba_s"].values()) == pytest.approx(b["tracked_s"]) == pytest.approx(len(scores) / FPS)
    assert b["over_threshold_s"] == {"high": pytest.approx(5.0)}


def test_exposure_counts_raised_alerts_per_rule_and_is_json_ready():
    clock = FakeClock()
    rules = (rule(name="high", metric="reba_total", threshold=8, direction="at_least", min_duration_s=1.0),)
    eng = AlertEngine(rules, clock=clock)
    tr = tracker(rules=rules, clock=clock)
    for i, s in enumerate([9] * 40 + [4] * 10 + [9] * 40):
        for ev in eng.update(i / FPS, 3, {"reba_total": s}):
            tr.record(ev)
        tr.update(i / FPS, 3, {"reba_total": s}, dt=1 / FPS)
    totals = tr.totals()
    assert totals["shifts"]["2024-05-01T06:00"]["persons"]["3"]["alerts_raised"] == {"high": 2}
    assert totals["shifts"]["2024-05-01T06:00"]["all"]["alerts_raised"] == {"high": 2}
    assert json.loads(json.dumps(totals)) == totals


def test_exposure_shift_boundaries():
    tr = tracker()
    utc = timezone.utc
    assert tr.shift_key(datetime(2024, 5, 1, 5, 59, 59, tzinfo=utc)) == "2024-04-30T22:00"
    assert tr.shift_key(datetime(2024, 5, 1, 6, 0, tzinfo=utc)) == "2024-05-01T06:00"
    assert tr.shift_key(datetime(2024, 5, 1, 13, 59, tzinfo=utc)) == "2024-05-01T06:00"
    assert tr.shift_key(datetime(2024, 5, 1, 14, 0, tzinfo=utc)) == "2024-05-01T14:00"
    assert tr.shift_key(datetime(2024, 5, 1, 23, 30, tzinfo=utc)) == "2024-05-01T22:00"
    assert tr.shift_key(datetime(2024, 5, 2, 2, 0, tzinfo=utc)) == "2024-05-01T22:00"
    # Shift starts are local times: 05:30 UTC is 07:30 in Berlin (summer time).
    berlin = tracker(tz="Europe/Berlin")
    assert berlin.shift_key(datetime(2024, 5, 1, 5, 30, tzinfo=utc)) == "2024-05-01T06:00"


def test_exposure_splits_a_person_across_a_shift_change():
    clock = FakeClock(datetime(2024, 5, 1, 13, 59, 59, tzinfo=timezone.utc))
    tr = tracker(clock=clock, shift_starts=("14:00", "06:00"))  # order does not matter
    for i in range(60):  # 2 s: the first second before 14:00, the second after
        clock.now = datetime(2024, 5, 1, 13, 59, 59, tzinfo=timezone.utc) + timedelta(seconds=i / FPS)
        tr.update(i / FPS, 0, {"reba_total": 5}, dt=1 / FPS)
    shifts = tr.totals()["shifts"]
    assert list(shifts) == ["2024-05-01T06:00", "2024-05-01T14:00"]
    assert shifts["2024-05-01T06:00"]["all"]["tracked_s"] == pytest.approx(1.0)
    assert shifts["2024-05-01T14:00"]["all"]["reba_s"]["medium"] == pytest.approx(1.0)
    # An explicit wall time beats the clock (replaying a recording).
    tr.update(3.0, 0, {"reba_total": 5}, dt=0.5, wall_time=datetime(2024, 5, 1, 22, 0, tzinfo=timezone.utc))
    assert tr.totals()["shifts"]["2024-05-01T14:00"]["all"]["tracked_s"] == pytest.approx(1.5)


def test_exposure_shifts_sum_persons():
    tr = tracker()
    for i in range(30):
        tr.update(i / FPS, 1, {"reba_total": 2}, dt=1 / FPS)
        tr.update(i / FPS, 2, {"reba_total": 9}, dt=1 / FPS)
    shift = tr.totals()["shifts"]["2024-05-01T06:00"]
    assert set(shift["persons"]) == {"1", "2"}
    assert shift["all"]["tracked_s"] == pytest.approx(2.0)
    assert shift["all"]["reba_s"]["low"] == pytest.approx(1.0)
    assert shift["all"]["reba_s"]["high"] == pytest.approx(1.0)


@pytest.mark.parametrize(("kw", "match"), [
    ({"shift_starts": ("6am",)}, "shift_starts"),
    ({"shift_starts": ("24:00",)}, "shift_starts"),
    ({"shift_starts": ()}, "shift_starts"),
    ({"shift_starts": ("06:00", "6:00")}, "duplicate"),
    ({"tz": "Mars/Olympus"}, "time zone"),
])
def test_exposure_config_errors(kw, match):
    with pytest.raises(InputError, match=match):
        tracker(**kw)


def test_exposure_input_errors():
    tr = tracker()
    with pytest.raises(InputError, match="REBA must be 1..15"):
        tr.update(0.0, 0, {"reba_total": 16}, dt=0.1)
    with pytest.raises(InputError, match="dt"):
        tr.update(0.0, 0, {"reba_total": 3}, dt=-0.1)
    tr.update(1.0, 0, {"reba_total": 3}, dt=0.1)
    with pytest.raises(InputError, match="backwards"):
        tr.update(0.5, 0, {"reba_total": 3}, dt=0.1)
    assert math.isclose(tr.totals()["shifts"]["2024-05-01T06:00"]["all"]["tracked_s"], 0.1)
