"""MQTT sink against a real mosquitto on a loopback port: delivery, broker outages, killed publishers, settings.

What matters is asserted directly: every event_id the sink emitted is received by the subscriber (duplicates are
allowed: delivery is at-least-once), the outbox marks rows acked only after the broker acknowledged them, and
emit() neither blocks nor raises while the broker is down. The broker runs with persistence on so that the
subscriber's session survives a restart (see mqtt_helpers.Broker); the sink's own redelivery is what brings the
events emitted during an outage, or left by a killed process, to the broker.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from edge.config import from_mapping
from edge.errors import InputError
from runtime.alerts.event import AlertEvent

pytest.importorskip("paho.mqtt.client")
from mqtt_helpers import (  # noqa: E402  (tests/ is on sys.path under pytest)
    MOSQUITTO, Broker, BrokerTls, PublisherProcess, Subscriber, free_port, make_event, make_tls_files)
from runtime.alerts.mqtt import MqttSink  # noqa: E402
from runtime.alerts.mqtt_config import MqttConfig, MqttTls  # noqa: E402
from runtime.alerts.outbox import SCHEMA_VERSION, Outbox  # noqa: E402

needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto") is None and not Path(MOSQUITTO).exists(),
                                     reason="mosquitto broker not installed (apt-get install mosquitto)")

FAST = dict(reconnect_min_s=0.1, reconnect_max_s=0.5)


@pytest.fixture
def broker(tmp_path):
    with Broker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def subscriber(broker):
    sub = Subscriber(broker.port)
    assert sub.wait_subscribed(5), "subscriber could not subscribe"
    yield sub
    sub.close()


def _rows(path: Path) -> list[tuple]:
    db = sqlite3.connect(str(path))
    try:
        return db.execute("SELECT seq, event_id, topic, payload, created, published_at, acked_at FROM outbox "
                          "ORDER BY seq").fetchall()
    finally:
        db.close()


def _dead_port() -> int:
    return free_port()   # nothing listens there: connections are refused at once


@needs_mosquitto
def test_delivers_in_order_and_marks_rows_acked(tmp_path, broker, subscriber):
    outbox = tmp_path / "outbox.sqlite"
    n = 40
    sent_at: dict[str, float] = {}
    with MqttSink(MqttConfig(port=broker.port, outbox_path=str(outbox), **FAST), camera="line 1/a") as sink:
        events = []
        for i in range(n):
            event = make_event(i)
            sent_at[event.event_id] = time.perf_counter()
            sink.emit(event)
            events.append(event)
            time.sleep(0.005)
        assert subscriber.wait_for(sent_at, timeout=10), f"missing: {set(sent_at) - set(subscriber.ids())}"
        assert sink.flush(5)
        stats = sink.stats()
    # In order, nothing lost, payload is the event itself.
    received = subscriber.ids()
    assert received == [e.event_id for e in events]
    assert [AlertEvent.from_dict(m[2]) for m in subscriber.messages] == events
    assert {m[1] for m in subscriber.messages} == {"ergo-edge/line 1_a/alerts"}   # '/' in a camera name: one level
    # Every row acked, after it was published.
    rows = _rows(outbox)
    assert [r[1] for r in rows] == [e.event_id for e in events]
    assert all(r[5] is not None and r[6] is not None and r[4] <= r[6] for r in rows)
    assert stats["emitted"] == n and stats["acked"] == n and stats["pending"] == 0 and stats["republished"] == 0
    latency = [subscriber.first_receipt()[eid] - t for eid, t in sent_at.items()]
    print(f"\nMQTT loopback emit->received: median {1000 * statistics.median(latency):.2f} ms, "
          f"max {1000 * max(latency):.2f} ms over {n} events")
    assert statistics.median(latency) < 0.5


@needs_mosquitto
def test_events_emitted_during_outage_are_delivered_after_restart(tmp_path, broker, subscriber):
    outbox = tmp_path / "outbox.sqlite"
    with MqttSink(MqttConfig(port=broker.port, outbox_path=str(outbox), **FAST), camera="cam0") as sink:
        before = [make_event(i) for i in range(5)]
        for e in before:
            sink.emit(e)
        assert sink.flush(5)

        broker.stop()
        during = [make_event(100 + i) for i in range(30)]
        slowest = 0.0
        t_outage = time.monotonic()
        for e in during:
            t0 = time.perf_counter()
            sink.emit(e)   # must neither raise nor block while the broker is down
            slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(0.08)
        while time.monotonic() - t_outage < 3.0:
            time.sleep(0.05)
        assert sink.pending() == len(during)
        assert not sink.stats()["connected"]
        assert not sink.flush(0.2)

        broker.start()
        assert sink.flush(10), sink.stats()
        ids = [e.event_id for e in before + during]
        assert subscriber.wait_for(ids, timeout=10), f"missing: {set(ids) - set(subscriber.ids())}"
        stats = sink.stats()
    assert slowest < 0.2, f"emit took {slowest:.3f} s during the outage"
    assert stats["connects"] >= 2 and stats["disconnects"] >= 1
    # After the restart the backlog arrives in emit order.
    first_seen = list(dict.fromkeys(subscriber.ids()))
    assert first_seen == ids
    assert all(r[6] is not None for r in _rows(outbox))


@needs_mosquitto
def test_inflight_rows_are_resent_when_the_connection_dies(tmp_path, broker, subscriber):
    """Rows published but never acknowledged (broker frozen, then crashed) are sent again after the restart."""
    outbox = tmp_path / "outbox.sqlite"
    settings = MqttConfig(port=broker.port, outbox_path=str(outbox), max_inflight=8, **FAST)
    with MqttSink(settings, camera="cam0") as sink:
        sink.emit(make_event(0))
        assert sink.flush(5)
        broker.pause()   # SIGSTOP: PUBLISH packets go out, no PUBACK comes back
        events = [make_event(1 + i) for i in range(12)]
        for e in events:
            sink.emit(e)
        deadline = time.monotonic() + 5
        while sink.stats()["inflight"] < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = sink.stats()
        assert stats["inflight"] == 8, stats   # the window is full, the rest waits in the outbox
        assert sink.pending() == 12
        broker.kill()    # the frozen broker dies without ever reading them
        broker.start()
        assert sink.flush(10), sink.stats()
        stats = sink.stats()
    assert subscriber.wait_for([e.event_id for e in events], timeout=10)
    assert stats["republished"] >= 8   # the 8 in-flight rows went out a second time


@needs_mosquitto
def test_killed_publisher_process_backlog_is_delivered_by_the_next_process(tmp_path, broker, subscriber):
    outbox = tmp_path / "outbox.sqlite"
    first = PublisherProcess(outbox, broker.port)
    try:
        early = first.emit(3)
        assert first.flush(5)
        broker.stop()
        during = first.emit(25)
        time.sleep(0.5)
        assert first.stats()["pending"] == 25
    finally:
        first.kill()   # SIGKILL mid-outage: no close(), no flush
    assert first.proc.returncode == -9

    broker.start()
    time.sleep(0.3)
    # Nothing of the backlog arrives without a publisher. (The broker may deliver an early event to the subscriber
    # a second time after its restart, if the subscriber's PUBACK was still unprocessed at the stop: QoS 1.)
    assert list(dict.fromkeys(subscriber.ids())) == early
    second = PublisherProcess(outbox, broker.port)
    try:
        assert second.flush(10)
        stats = second.stats()
        assert second.close() == 0
    finally:
        second.kill()
    assert stats["backlog_at_start"] == 25 and stats["acked"] == 25
    assert subscriber.wait_for(early + during, timeout=10), f"missing: {set(during) - set(subscriber.ids())}"
    assert list(dict.fromkeys(subscriber.ids())) == early + during


@needs_mosquitto
def test_outbox_holds_events_of_a_process_killed_right_after_emit(tmp_path):
    outbox = tmp_path / "outbox.sqlite"
    port = free_port()   # the broker is not there yet
    pub = PublisherProcess(outbox, port)
    try:
        pub.send("emit-kill 10")
        ids = pub.expect("ids ").split(",")
        pub.proc.wait(10)
    finally:
        pub.kill()
    assert pub.proc.returncode == -9
    rows = _rows(outbox)
    assert [r[1] for r in rows] == ids
    assert all(r[6] is None for r in rows)
    assert [AlertEvent.from_dict(json.loads(r[3])).event_id for r in rows] == ids

    with Broker(tmp_path / "broker", port=port):
        sub = Subscriber(port)
        try:
            assert sub.wait_subscribed(5)
            with MqttSink(MqttConfig(port=port, outbox_path=str(outbox), **FAST), camera="cam0") as sink:
                assert sink.backlog_at_start == 10
                assert sink.flush(10)
            assert sub.wait_for(ids, timeout=10)
        finally:
            sub.close()


def test_bad_settings_raise_input_error(tmp_path):
    out = tmp_path / "o.sqlite"
    bad = [
        dict(port=0), dict(port=70000), dict(port="1883"), dict(port=True), dict(qos=0), dict(qos=3),
        dict(host=""), dict(topic="ergo-edge/#"), dict(topic="a/{site}/b"), dict(keepalive=0),
        dict(reconnect_min_s=5, reconnect_max_s=1), dict(reconnect_min_s=0), dict(max_inflight=0),
        dict(password="x"), dict(retain_acked_days=-1),
    ]
    for kwargs in bad:
        with pytest.raises(InputError):
            MqttSink(MqttConfig(outbox_path=str(out), **kwargs))
    with pytest.raises(InputError, match="MqttConfig"):
        MqttSink({"port": 1883, "outbox_path": str(out)})   # settings come as an MqttConfig, not loose
    with pytest.raises(InputError, match="camera"):
        MqttSink(MqttConfig(outbox_path=str(out)), camera=3)
    with pytest.raises(InputError, match="nope"):
        from_mapping(MqttConfig, {"port": 1883, "nope": 1})
    with pytest.raises(InputError, match="no such file"):
        MqttTls(ca_certs=str(tmp_path / "missing.pem"))
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(InputError, match="together"):
        MqttTls(ca_certs=str(ca), certfile=str(ca))
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match="not a usable SQLite"):
        MqttSink(MqttConfig(port=_dead_port(), outbox_path=str(garbage)))
    assert from_mapping(MqttConfig, {"port": 8883, "tls": {"ca_certs": str(ca)}}).tls == MqttTls(ca_certs=str(ca))


def test_unreachable_broker_never_raises_from_emit(tmp_path):
    outbox = tmp_path / "o.sqlite"
    sink = MqttSink(MqttConfig(port=_dead_port(), outbox_path=str(outbox), **FAST), camera="cam0")
    try:
        with pytest.raises(InputError, match="in use"):   # one live sink per outbox
            MqttSink(MqttConfig(port=_dead_port(), outbox_path=str(outbox)), camera="cam0")
        t0 = time.perf_counter()
        events = [make_event(i) for i in range(20)]
        for e in events:
            sink.emit(e)
        sink.emit(events[0])   # same event_id again: stored once
        elapsed = time.perf_counter() - t0
        assert sink.pending() == 20
        assert not sink.flush(0.3)
        time.sleep(0.3)
        stats = sink.stats()
        assert stats["emitted"] == 20 and stats["emit_duplicates"] == 1 and stats["connect_failures"] >= 1
        assert not stats["connected"]
    finally:
        t_close = time.perf_counter()
        sink.close(timeout_s=0.2)
        close_s = time.perf_counter() - t_close
    assert elapsed < 2.0   # fsync per emit, no network wait
    assert close_s < 3.0
    assert len(_rows(outbox)) == 20
    with pytest.raises(RuntimeError):
        sink.emit(make_event(99))


def test_config_camera_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("ERGOEDGE_STATE_DIR", str(tmp_path / "state"))
    cfg = MqttConfig(port=_dead_port(), topic="site/{camera}/alerts")
    sink = MqttSink(cfg, camera="dock")
    try:
        assert sink.outbox_path == (tmp_path / "state" / "mqtt-outbox-dock.sqlite").resolve()
        assert sink.client_id.startswith("ergo-edge-") and len(sink.client_id) <= 23
        sink.emit(make_event(0, camera="other"))
        assert _rows(sink.outbox_path)[0][2] == "site/dock/alerts"   # the sink's camera names the topic
    finally:
        sink.close(timeout_s=0)
    assert MqttConfig().qos == 1 and MqttConfig().host == "127.0.0.1" and MqttConfig().max_inflight == 20


def test_acked_rows_older_than_retention_are_pruned(tmp_path):
    outbox = tmp_path / "o.sqlite"
    sink = MqttSink(MqttConfig(port=_dead_port(), outbox_path=str(outbox)))
    sink.emit(make_event(0))
    sink.emit(make_event(1))
    sink.close(timeout_s=0)
    db = sqlite3.connect(str(outbox))
    with db:
        db.execute("UPDATE outbox SET published_at = 1, acked_at = ? WHERE seq = 1", (time.time() - 8 * 86400,))
    db.close()
    sink = MqttSink(MqttConfig(port=_dead_port(), outbox_path=str(outbox), retain_acked_days=7))
    assert sink.pending() == 1
    sink.close(timeout_s=0)
    assert [r[0] for r in _rows(outbox)] == [2]   # the old acked row is gone, the un-acked one stays


def test_outbox_acks_once_writes_publish_times_and_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    try:
        assert outbox.add("a", "t", "{}") and outbox.add("b", "t", "{}") and not outbox.add("a", "t", "{}")
        assert [row[0] for row in outbox.unacked(after_seq=0, limit=10)] == [1, 2]
        assert [row[0] for row in outbox.unacked(after_seq=1, limit=10)] == [2]
        outbox.note_published(1, 123.0)
        assert _rows(path)[0][5] is None   # noted, not yet committed
        assert outbox.mark_acked([1]) == 1 and outbox.mark_acked([1]) == 0   # a row is acked once
        assert _rows(path)[0][5] == 123.0 and _rows(path)[0][6] is not None
        assert outbox.pending() == 1 and outbox.unacked(after_seq=0, limit=10)[0][0] == 2
        with pytest.raises(InputError, match="in use"):
            Outbox(path)
    finally:
        outbox.close()
    outbox.close()   # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        outbox.pending()
    db = sqlite3.connect(str(path))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(InputError, match="newer"):
        Outbox(path)


def test_tls_settings_reach_paho(tmp_path, monkeypatch):
    import paho.mqtt.client as mqtt

    calls = {}
    monkeypatch.setattr(mqtt.Client, "tls_set", lambda self, **kw: calls.setdefault("tls_set", kw))
    monkeypatch.setattr(mqtt.Client, "tls_insecure_set", lambda self, v: calls.setdefault("insecure", v))
    files = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        files[name] = tmp_path / name
        files[name].write_text("x")
    tls = MqttTls(ca_certs=str(files["ca.pem"]), certfile=str(files["client.pem"]), keyfile=str(files["client.key"]),
                  insecure=True)
    settings = MqttConfig(port=_dead_port(), tls=tls, outbox_path=str(tmp_path / "o.sqlite"), username="u",
                          password="p")
    MqttSink(settings).close(0)
    assert calls["tls_set"] == {"ca_certs": str(files["ca.pem"]), "certfile": str(files["client.pem"]),
                                "keyfile": str(files["client.key"])}
    assert calls["insecure"] is True


@needs_mosquitto
def test_tls_handshake_with_a_real_broker(tmp_path):
    try:
        made = make_tls_files(tmp_path / "pki")
    except subprocess.CalledProcessError as err:  # an openssl without EC or -extfile: it says so on stderr
        pytest.skip(f"openssl cannot make the test certificates: {err.stderr.decode(errors='replace').strip()[-200:]}")
    if made is None:
        pytest.skip("openssl not installed")
    ca, cert, key = made
    tls_port = free_port()
    with Broker(tmp_path / "broker", tls=BrokerTls(tls_port, ca, cert, key)) as broker:
        sub = Subscriber(broker.port)   # plain listener
        try:
            assert sub.wait_subscribed(5)
            settings = MqttConfig(port=tls_port, tls=MqttTls(ca_certs=str(ca)), outbox_path=str(tmp_path / "o.sqlite"),
                                  **FAST)
            with MqttSink(settings, camera="cam0") as sink:
                events = [make_event(i) for i in range(5)]
                for e in events:
                    sink.emit(e)
                assert sink.flush(10), sink.stats()
            assert sub.wait_for([e.event_id for e in events], timeout=5)
        finally:
            sub.close()
