"""Alert sinks and the SQLite event store, on real files in tmp_path (the only fake is the GPIO hardware)."""

import io
import json
import sqlite3
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from edge.errors import InputError
from runtime.alerts.event import AlertEvent
from runtime.alerts.event import utc_iso
from runtime.alerts.store import EventStore, format_events
from runtime.alerts.sinks import GpioSink, JsonlSink, SinkSet, SqliteSink, StdoutSink

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=timezone.utc)


def event(kind="raised", rule="reba_high", person=1, severity="warning", at=NOW, camera="cam0", value=9.0,
          **kw):
    return AlertEvent(kind=kind, rule=rule, person=person, severity=severity, time_s=12.5, wall_time=utc_iso(at),
                      value=value, threshold=8.0, duration_s=3.0, camera=camera, message=f"{rule} {kind}", **kw)


@pytest.fixture
def store(tmp_path):
    with EventStore(tmp_path / "db" / "events.sqlite", retention_days=None) as s:
        yield s


# ---------------------------------------------------------------------------------------------- event store


def test_store_is_a_wal_sqlite_file_with_indexes(tmp_path):
    path = tmp_path / "deep" / "dir" / "events.sqlite"
    EventStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    assert {"events_wall_time", "events_rule"} <= indexes


def test_add_is_idempotent_on_event_id(store):
    ev = event()
    assert store.add(ev) is True
    assert store.add(ev) is False
    assert store.count() == 1
    assert store.add(event()) is True  # same content, new id: a distinct event
    assert store.count() == 2


def test_rows_round_trip_to_identical_events(store):
    events = [event(person=p, value=8.0 + p) for p in range(3)]
    for ev in events:
        store.add(ev)
    assert [AlertEvent.from_dict(row) for row in store.query()] == events


def test_wall_time_is_normalised_to_utc(store):
    ev = AlertEvent(kind="raised", rule="r", person=0, severity="info", time_s=0.0,
                    wall_time="2024-05-10T14:00:00+02:00", value=1.0, threshold=0.5, duration_s=0.0)
    store.add(ev)
    assert store.query()[0]["wall_time"] == "2024-05-10T12:00:00.000000+00:00"


def test_query_filters(store):
    rows = [
        event(at=NOW - timedelta(days=2), rule="reba_high", person=1, camera="a", kind="raised"),
        event(at=NOW - timedelta(days=1), rule="reba_high", person=1, camera="a", kind="cleared"),
        event(at=NOW - timedelta(hours=1), rule="l5s1_compression", person=2, camera="b", severity="critical"),
        event(at=NOW, rule="trunk_flexion", person=2, camera="a"),
    ]
    for ev in reversed(rows):  # insertion order must not matter: results are in wall-time order
        store.add(ev)

    def ids(**kw):
        return [rows.index(next(e for e in rows if e.event_id == r["event_id"])) for r in store.query(**kw)]

    assert ids() == [0, 1, 2, 3]
    assert ids(rule="reba_high") == [0, 1]
    assert ids(person=2) == [2, 3]
    assert ids(camera="b") == [2]
    assert ids(kind="cleared") == [1]
    assert ids(since=NOW - timedelta(days=1)) == [1, 2, 3]  # since is inclusive
    assert ids(until=NOW - timedelta(hours=1)) == [0, 1]  # until is exclusive
    assert ids(since="2024-05-10T12:30:00+02:00") == [2, 3]  # = 10:30 UTC
    assert ids(since=NOW - timedelta(days=3), until=NOW, person=1, camera="a") == [0, 1]
    assert ids(limit=2) == [2, 3]  # the newest two, oldest first
    assert ids(rule="nope") == []
    with pytest.raises(InputError, match="limit"):
        store.query(limit=0)
    with pytest.raises(InputError, match="ISO-8601"):
        store.query(since="yesterday")


def test_prune_by_retention_with_explicit_now(tmp_path):
    with EventStore(tmp_path / "e.sqlite", retention_days=1.0) as s:
        old, recent = event(at=NOW - timedelta(days=1, seconds=1)), event(at=NOW - timedelta(hours=23))
        s.add(old)
        s.add(recent)
        assert s.prune(now=NOW) == 1
        assert [r["event_id"] for r in s.query()] == [recent.event_id]
        assert s.prune(now=NOW.isoformat()) == 0


def test_prune_runs_on_open_and_every_n_adds(tmp_path):
    path = tmp_path / "e.sqlite"
    long_ago = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with EventStore(path, retention_days=None) as s:
        s.add(event(at=long_ago))
    with EventStore(path, retention_days=90.0, prune_every=3) as s:
        assert s.count() == 0  # pruned on open
        s.add(event(at=long_ago))
        s.add(event(at=long_ago))
        assert s.count() == 2
        s.add(event(at=datetime.now(timezone.utc)))  # the third add prunes
        assert s.count() == 1


def test_concurrent_adds_from_two_threads(store):
    errors = []

    def writer(person):
        try:
            for i in range(100):
                store.add(event(person=person, value=float(i)))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 200
    assert len(store.query(person=2, limit=None)) == 100


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(InputError, match="notes.sqlite"):
        EventStore(bad)
    with pytest.raises(InputError, match="directory"):
        EventStore(tmp_path)


def test_a_foreign_events_table_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER, what TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(InputError, match="other.sqlite.*columns"):
        EventStore(path)


@pytest.mark.parametrize(("kw", "match"), [({"retention_days": 0}, "retention_days"),
                                           ({"prune_every": 0}, "prune_every")])
def test_store_argument_errors(tmp_path, kw, match):
    with pytest.raises(InputError, match=match):
        EventStore(tmp_path / "e.sqlite", **kw)


def test_format_events_table_and_json(store):
    store.add(event(rule="l5s1_compression", person=12, severity="critical", value=3521.25))
    store.add(event(at=NOW + timedelta(seconds=5), kind="cleared", camera=""))
    rows = store.query()
    table = format_events(rows).splitlines()
    assert table[0].split() == ["wall", "time", "(UTC)", "camera", "person", "rule", "kind", "severity", "value"]
    assert table[1].split() == ["2024-05-10", "12:00:00", "cam0", "12", "l5s1_compression", "raised", "critical",
                                "3521.25"]
    assert table[2].split() == ["2024-05-10", "12:00:05", "-", "1", "reba_high", "cleared", "warning", "9"]
    assert table[1].index("l5s1") == table[0].index("rule")  # columns line up
    lines = format_events(rows, as_json=True).splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert format_events([]) == "no events"


# ---------------------------------------------------------------------------------------------- sinks


def test_jsonl_sink_lines_parse_back_to_identical_events(tmp_path):
    path = tmp_path / "logs" / "today" / "alerts.jsonl"
    events = [event(), event(kind="cleared", value=7.0), event(person=3, severity="critical", value=float("nan"))]
    sink = JsonlSink(path)
    for ev in events[:2]:
        sink.emit(ev)
    sink.close()
    sink = JsonlSink(path)  # appends
    sink.emit(events[2])
    sink.close()
    back = [AlertEvent.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    assert back[:2] == events[:2]
    assert back[2].event_id == events[2].event_id and back[2].value != back[2].value  # NaN survives


def test_stdout_sink_writes_one_line_per_event():
    stream = io.StringIO()
    sink = StdoutSink(stream)
    sink.emit(event(camera="line3"))
    sink.emit(AlertEvent(kind="cleared", rule="r", person=0, severity="info", time_s=1.0, wall_time="w",
                         value=1.0, threshold=2.0, duration_s=0.5, message="two\nlines"))
    sink.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2024-05-10T12:00:00.000000+00:00 [line3] RAISED warning reba_high person 1")
    assert lines[1].endswith("two lines")


class Broken:
    def __init__(self, name="broken", messages=("disk on fire",)):
        self.name = name
        self._messages = list(messages)
        self.closed = False

    def emit(self, ev):
        raise OSError(self._messages[0] if len(self._messages) == 1 else self._messages.pop(0))

    def close(self):
        raise RuntimeError("cannot close")


def test_sinkset_isolates_a_failing_sink(tmp_path):
    logged = []
    store = EventStore(tmp_path / "e.sqlite", retention_days=None)
    jsonl = JsonlSink(tmp_path / "alerts.jsonl")
    sinks = SinkSet([Broken(), jsonl, SqliteSink(store)], log=logged.append)
    events = [event(person=p) for p in range(3)]
    for ev in events:
        sinks.emit(ev)
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 3
    assert store.count() == 3
    assert sinks.failures == {"broken": 3, "jsonl": 0, "sqlite": 0}
    assert sinks.last_error == {"broken": "OSError: disk on fire"}
    assert len(logged) == 1 and "broken" in logged[0]  # identical errors are logged once
    sinks.close()  # Broken.close raises; the others are still closed
    with pytest.raises(ValueError, match="closed file"):
        jsonl.emit(events[0])
    with pytest.raises(sqlite3.ProgrammingError):
        store.count()
    stats = sinks.stats()
    assert stats["failures"]["broken"] == 4
    assert stats["delivered"] == {"broken": 0, "jsonl": 3, "sqlite": 3}
    assert stats["last_error"]["broken"] == "RuntimeError: cannot close"
    assert len(logged) == 2
    sinks.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        sinks.emit(events[0])


def test_sinkset_logs_each_distinct_error_once():
    logged = []
    sinks = SinkSet([Broken(messages=["a", "b", "a", "a"])], log=logged.append)
    for _ in range(4):
        sinks.emit(event())
    assert sinks.failures == {"broken": 4}
    assert len(logged) == 2


def test_sinkset_refuses_duplicate_names():
    with pytest.raises(InputError, match="duplicate sink name 'broken'"):
        SinkSet([Broken(), Broken()])


def test_sqlite_sink_can_leave_a_shared_store_open(store):
    sink = SqliteSink(store, close_store=False)
    sink.emit(event())
    sink.close()
    assert store.count() == 1


# ---------------------------------------------------------------------------------------------- GPIO


class FakeGpio:
    """The slice of the Jetson.GPIO interface GpioSink uses, recording calls (hardware: the one allowed fake)."""

    BOARD, BCM, OUT, HIGH, LOW = "BOARD", "BCM", "OUT", 1, 0

    def __init__(self):
        self.calls = []
        self.level = {}

    def setmode(self, mode):
        self.calls.append(("setmode", mode))

    def setup(self, pin, direction, initial=None):
        self.calls.append(("setup", pin, direction, initial))
        self.level[pin] = initial

    def output(self, pin, value):
        self.calls.append(("output", pin, value))
        self.level[pin] = value

    def cleanup(self, channels=None):
        self.calls.append(("cleanup", channels))


def test_gpio_pin_is_high_while_an_alert_of_its_severity_is_active():
    gpio = FakeGpio()
    sink = GpioSink({"warning": 11, "critical": 13}, mode="BCM", hold_s=0, gpio=gpio)
    assert gpio.calls == [("setmode", "BCM"), ("setup", 11, "OUT", 0), ("setup", 13, "OUT", 0)]
    a, b = event(person=1), event(person=2)
    sink.emit(a)
    sink.emit(b)
    assert gpio.level == {11: 1, 13: 0}
    assert sink.is_high("warning") and not sink.is_high("critical")
    sink.emit(event(kind="cleared", person=1))
    assert gpio.level[11] == 1  # person 2 still has one
    sink.emit(event(severity="info"))  # no pin for info: ignored
    sink.emit(event(kind="cleared", person=2))
    assert gpio.level == {11: 0, 13: 0}
    sink.emit(event(severity="critical", rule="l5s1_compression"))
    assert gpio.level == {11: 0, 13: 1}
    assert [c for c in gpio.calls if c[0] == "output"] == [("output", 11, 1), ("output", 11, 0), ("output", 13, 1)]
    sink.close()
    assert gpio.level == {11: 0, 13: 0}
    assert gpio.calls[-1] == ("cleanup", [11, 13])


def test_gpio_shared_pin_and_per_camera_keys():
    gpio = FakeGpio()
    sink = GpioSink({"warning": 7, "critical": 7}, hold_s=0, gpio=gpio)
    assert gpio.calls[0] == ("setmode", "BOARD")
    sink.emit(event(camera="a"))
    sink.emit(event(camera="b", severity="critical"))
    sink.emit(event(camera="b", kind="cleared"))  # a warning clear from camera b clears nothing
    assert gpio.level[7] == 1
    sink.emit(event(camera="a", kind="cleared"))
    assert gpio.level[7] == 1  # critical still active on camera b
    sink.emit(event(camera="b", kind="cleared", severity="critical"))
    assert gpio.level[7] == 0
    sink.close()


def test_gpio_hold_keeps_a_short_alert_visible():
    gpio = FakeGpio()
    sink = GpioSink({"critical": 13}, hold_s=0.05, gpio=gpio)
    sink.emit(event(severity="critical"))
    sink.emit(event(severity="critical", kind="cleared"))
    assert gpio.level[13] == 1
    deadline = time.monotonic() + 2.0
    while gpio.level[13] != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gpio.level[13] == 0
    sink.close()


def test_missing_jetson_gpio_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "Jetson", None)
    monkeypatch.setitem(sys.modules, "Jetson.GPIO", None)
    with pytest.raises(InputError) as info:
        GpioSink({"critical": 13})
    assert str(info.value) == "Jetson.GPIO is not installed (it comes with JetPack: `pip install Jetson.GPIO`)"


@pytest.mark.parametrize(("pins", "kw", "match"), [
    ({}, {}, "pins is empty"),
    ({"fatal": 3}, {}, "unknown severity 'fatal'"),
    ({"critical": "13"}, {}, "pin number"),
    ({"critical": 13}, {"mode": "WIRING"}, "mode"),
    ({"critical": 13}, {"hold_s": -1}, "hold_s"),
])
def test_gpio_argument_errors(pins, kw, match):
    with pytest.raises(InputError, match=match):
        GpioSink(pins, gpio=FakeGpio(), **kw)
