"""MQTT alert sink with a durable SQLite outbox: an alert is never lost because the broker is down.

    sink = MqttSink(MqttConfig(outbox_path="/var/lib/ergo-edge/outbox-{camera}.sqlite"), camera="line1")
    sink.emit(event)          # writes the event to the outbox (fsync), then publishes it when it can; never blocks
    ...
    sink.close()              # brief flush, disconnect; whatever is still un-acked stays in the outbox

How delivery works
------------------
1. `emit()` writes the event as JSON into the outbox (`runtime/alerts/outbox.py`: SQLite, WAL, synchronous=FULL)
   and commits before anything touches the network, so an event that `emit()` returned for is on disk even if the
   process is killed next.
2. A publisher thread owned by the sink publishes un-acked rows in `seq` order with QoS 1 (or 2), at most
   `max_inflight` at a time. A row is marked acked only when the broker's PUBACK (PUBCOMP for QoS 2) for its
   message id arrives.
3. paho's network thread (`loop_start`) keeps reconnecting while the broker is unreachable, with exponential back-off
   between `reconnect_min_s` and `reconnect_max_s`. On every (re)connect the sink drops paho's own in-memory copies
   of unfinished messages and re-publishes every un-acked row of the outbox from the lowest `seq`: alerts raised
   during an outage, rows that were in flight when the connection broke, and rows left by a process that was
   killed are all delivered once the broker is back. A new `MqttSink` on the same outbox file publishes the backlog.

Delivery is AT-LEAST-ONCE. A row whose PUBACK was lost (connection dropped, process killed between PUBACK and
the commit) is published again, so a receiver can see the same alert twice. Every payload is the event's
`to_dict()` JSON and carries its unique `event_id`: receivers must de-duplicate on it
(`AlertEvent.from_dict(json.loads(payload))` rebuilds the event).

The sink's guarantee ends at the broker's PUBACK. A message the broker acknowledged reaches a subscriber that is
connected, or that has a persistent session (clean_session=False, QoS >= 1) on a broker that keeps it; a broker
restarted without persistence forgets the sessions of subscribers that were offline. For end-to-end delivery on
the device, run the local broker with `persistence true` and subscribe with persistent sessions.

Threads: `emit()`, `flush()`, `pending()`, `stats()` and `close()` may be called from any thread. paho's callbacks
run on its network thread and only put small records on a queue; the sink's publisher thread owns the message id
-> row map and is the only caller of `publish()`, so no lock (the outbox's included) is held across a paho call
(paho holds its own locks while it runs callbacks) and a PUBACK can never be matched against a map of another
connection.

paho-mqtt is imported when a sink is created, not when this module is imported. It must be >= 2.2
(`PAHO_MQTT_MINIMUM`): the reconnect path calls `drop_out_messages()`, which 2.0 and 2.1 lack, and there the
failure would be inside paho's network thread, where nothing is published and nothing is said. An older paho is
refused when the sink is created, in one line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.paths import user_dir
from edge.versions import require_version
from runtime.alerts.event import AlertEvent
from runtime.alerts.mqtt_config import MqttConfig
from runtime.alerts.outbox import Outbox

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0
_IDLE_TICK_S = 1.0
_DEFAULT_CONFIG = MqttConfig()   # the local broker, 127.0.0.1:1883
# drop_out_messages() (called on every connect) came with paho-mqtt 2.2; pyproject.toml declares the same floor.
PAHO_MQTT_MINIMUM = "2.2"


class MqttSink:
    """Alert sink: publishes each AlertEvent as JSON to an MQTT broker through a durable SQLite outbox.

    Sink protocol: `name`, `emit(event)`, `close()`. Also `flush(timeout_s)`, `pending()`, `stats()`.
    See the module docstring for the delivery guarantees (at-least-once; de-duplicate on `event_id`).
    """

    name = "mqtt"

    def __init__(self, config: MqttConfig = _DEFAULT_CONFIG, camera: str = "") -> None:
        if not isinstance(config, MqttConfig):
            raise InputError(f"MqttSink takes an MqttConfig, got {type(config).__name__}")
        if not isinstance(camera, str):
            raise InputError(f"mqtt camera must be a string, got {camera!r}")
        self.config = config
        self.camera = camera
        cam = _topic_level(camera) if camera else "default"
        self.outbox_path = outbox_path(config, camera)
        self.client_id = config.client_id or _default_client_id(self.outbox_path)

        mqtt = _import_paho()
        self._mqtt = mqtt

        # State shared across threads. The outbox serialises its own SQLite use; _emit_lock keeps the emit
        # counters exact when several threads emit. Neither is ever held across a paho call.
        self._emit_lock = threading.Lock()
        self._changed = threading.Condition()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = False
        self._closed = False
        # Owned by the publisher thread (read, never written, by stats()).
        self._mid_to_seq: dict[int, int] = {}
        self._sent_upto = 0
        self._connected = False
        self._counts = {"emitted": 0, "emit_duplicates": 0, "published": 0, "republished": 0, "acked": 0,
                        "connects": 0, "disconnects": 0, "connect_failures": 0}
        self._last_error: str | None = None

        self._outbox = Outbox(self.outbox_path)
        try:
            self._outbox.prune(config.retain_acked_days)
            self.backlog_at_start = self.pending()
            self._client = self._make_client(mqtt)
        except BaseException:
            self._release_outbox()
            raise

        self._publisher = threading.Thread(target=self._run, name=f"mqtt-outbox-{cam}", daemon=True)
        self._publisher.start()
        # connect_async: the first connection attempt happens on paho's thread, so neither a down broker nor a slow
        # name lookup blocks the caller; loop_start retries the first connection like any later one.
        self._client.connect_async(config.host, config.port, keepalive=config.keepalive)
        self._client.loop_start()

    # ---------------------------------------------------------------- sink protocol

    def emit(self, event: AlertEvent) -> None:
        """Store the event in the outbox (committed to disk) and schedule its publication; returns at once.

        Never raises because the broker is unreachable; raises sqlite3.Error if the outbox cannot be written.
        Emitting an event whose event_id is already in the outbox does nothing (the first copy is delivered).
        """
        if self._closed or self._closing:
            raise RuntimeError("MqttSink.emit() after close()")
        if not isinstance(event, AlertEvent):
            raise TypeError(f"MqttSink.emit() takes an AlertEvent, got {type(event).__name__}")
        payload = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)
        topic = self._topic_for(event)
        with self._emit_lock:
            if self._closed:
                raise RuntimeError("MqttSink.emit() after close()")
            new = self._outbox.add(event.event_id, topic, payload)
            self._counts["emitted" if new else "emit_duplicates"] += 1
        if new:
            self._events.put(("wake",))

    def close(self, timeout_s: float = 2.0) -> None:
        """Wait up to timeout_s for un-acked rows to be acknowledged, then disconnect, stop the threads and close
        the outbox. Rows still un-acked stay in the outbox for the next sink on the same file. Idempotent."""
        if self._closed:
            return
        try:
            if timeout_s > 0 and not self._closing:
                self.flush(timeout_s)
        finally:
            self._closing = True
            try:
                self._client.disconnect()
                self._client.loop_stop()
            finally:
                # After loop_stop no paho callback can run: the publisher records the last PUBACKs, then stops.
                self._events.put(("close",))
                self._publisher.join(timeout=10.0)
                self._release_outbox()
                self._closed = True
                with self._changed:
                    self._changed.notify_all()

    # ---------------------------------------------------------------- extras

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the outbox has no un-acked row. True if it is empty, False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._closed:
                return False
            if self.pending() == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait(min(remaining, 0.05))

    def pending(self) -> int:
        """Number of un-acked rows in the outbox (this process's and any backlog left by earlier ones)."""
        if self._closed:
            raise RuntimeError("MqttSink.pending() after close()")
        return self._outbox.pending()

    def stats(self) -> dict[str, Any]:
        """Counters since this sink was created, plus the outbox's current state.

        emitted / emit_duplicates: new rows written / emits ignored because the event_id was already stored.
        published: PUBLISH packets sent; republished: those for rows that had been published before (after a
        reconnect or by an earlier process) -- each is a possible duplicate at the receiver. acked: rows marked
        acknowledged. connects / disconnects / connect_failures: connection history. pending: un-acked rows now.
        """
        out: dict[str, Any] = dict(self._counts)
        out.update(
            pending=None if self._closed else self.pending(), inflight=len(self._mid_to_seq), connected=self._connected,
            backlog_at_start=self.backlog_at_start, last_error=self._last_error,
            outbox_path=str(self.outbox_path), client_id=self.client_id,
        )
        return out

    def __enter__(self) -> "MqttSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        cfg = self.config
        return (f"MqttSink({cfg.host}:{cfg.port}, topic={cfg.topic!r}, camera={self.camera!r}, "
                f"outbox={str(self.outbox_path)!r})")

    # ---------------------------------------------------------------- internals: client and callbacks

    def _make_client(self, mqtt):
        cfg = self.config
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None:
            client.tls_set(ca_certs=str(Path(cfg.tls.ca_certs).expanduser()),
                           certfile=None if cfg.tls.certfile is None else str(Path(cfg.tls.certfile).expanduser()),
                           keyfile=None if cfg.tls.keyfile is None else str(Path(cfg.tls.keyfile).expanduser()))
            if cfg.tls.insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        # Flow control is the publisher's (max_inflight rows un-acked); paho must not queue behind our back.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.connect_timeout = 5.0
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # paho callbacks: network thread, paho's locks held. Only put records on the queue.

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._events.put(("refused", str(reason_code)))
            return
        # paho would now resend its own copies of messages left from the previous connection; the outbox resends
        # every un-acked row instead (with fresh message ids the publisher can match), so drop paho's copies.
        client.drop_out_messages()
        self._events.put(("connect", bool(flags.session_present)))

    def _on_connect_fail(self, client, userdata) -> None:
        self._events.put(("connect_failed",))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._events.put(("disconnect", str(reason_code)))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._events.put(("ack", mid))

    # ---------------------------------------------------------------- internals: publisher thread

    def _run(self) -> None:
        next_prune = time.monotonic() + _PRUNE_EVERY_S
        stop = False
        while not stop:
            acked: list[int] = []
            for record in self._next_batch():   # in arrival order: an ack is matched against its own connection's map
                if record[0] == "close":
                    stop = True
                elif record[0] == "ack":
                    seq = self._mid_to_seq.pop(record[1], None)
                    if seq is not None:
                        acked.append(seq)
                else:
                    self._note_connection_event(record)
            try:
                self._counts["acked"] += self._outbox.mark_acked(acked)
                if not stop and not self._closing and self._connected:
                    self._pump()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + _PRUNE_EVERY_S
                    self._outbox.prune(self.config.retain_acked_days)
            except sqlite3.Error as err:   # a full disk, say: keep the thread alive, rows stay un-acked
                self._last_error = f"outbox {self.outbox_path}: {err}"
                log.error("mqtt: %s", self._last_error)
                time.sleep(0.5)
            except Exception as err:   # never let the publisher die silently: the outbox keeps the rows
                self._last_error = f"publisher: {type(err).__name__}: {err}"
                log.exception("mqtt: publisher error")
                time.sleep(0.5)
            if acked:
                with self._changed:
                    self._changed.notify_all()

    def _next_batch(self) -> list[tuple]:
        """Every record queued now, waiting up to _IDLE_TICK_S for the first (an empty batch is an idle tick)."""
        try:
            batch = [self._events.get(timeout=_IDLE_TICK_S)]
        except queue.Empty:
            batch = []
        while True:
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                return batch

    def _note_connection_event(self, record: tuple) -> None:
        """Connection state and counters after a connect / disconnect / refused / connect_failed record ("wake",
        sent by emit() only to end the wait for the next batch, changes nothing)."""
        kind, where = record[0], (self.config.host, self.config.port)
        if kind == "connect":
            self._reset_connection(connected=True)
            self._counts["connects"] += 1
            log.info("mqtt: connected to %s:%d (session present: %s)", *where, record[1])
        elif kind == "disconnect":
            if self._connected:
                self._counts["disconnects"] += 1
            if self._connected and not self._closing:
                log.warning("mqtt: disconnected from %s:%d (%s); alerts are kept in the outbox", *where, record[1])
            self._reset_connection(connected=False)
        elif kind == "refused":
            self._last_error = f"connection refused by broker: {record[1]}"
            self._counts["connect_failures"] += 1
            log.warning("mqtt: %s", self._last_error)
        elif kind == "connect_failed":
            self._last_error = f"cannot connect to {where[0]}:{where[1]}"
            self._counts["connect_failures"] += 1

    def _reset_connection(self, connected: bool) -> None:
        # In-flight rows of the old connection will not be acked now: forget their ids and start again from the
        # lowest un-acked seq once connected.
        self._mid_to_seq.clear()
        self._sent_upto = 0
        self._connected = connected

    def _pump(self) -> None:
        room = self.config.max_inflight - len(self._mid_to_seq)
        if room <= 0:
            return
        for seq, topic, payload, published_at in self._outbox.unacked(after_seq=self._sent_upto, limit=room):
            info = self._client.publish(topic, payload, qos=self.config.qos)
            # Whatever rc says, record the mid: if the connection just broke, the "disconnect" record that follows
            # clears the map and the row is sent again after the reconnect.
            self._mid_to_seq[info.mid] = seq
            self._sent_upto = seq
            self._counts["published"] += 1
            if published_at is not None:
                self._counts["republished"] += 1
            self._outbox.note_published(seq, time.time())
            if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
                break

    def _topic_for(self, event: AlertEvent) -> str:
        camera = self.camera or event.camera
        return self.config.topic.replace("{camera}", _topic_level(camera) if camera else "default")

    def _release_outbox(self) -> None:
        with self._emit_lock:
            self._outbox.close()
            self._closed = True


# -------------------------------------------------------------------- helpers


def outbox_path(config: MqttConfig, camera: str) -> Path:
    """The outbox file of `camera` under `config` (absolute, "{camera}" filled in)."""
    cam = _topic_level(camera) if camera else "default"
    template = os.fspath(config.outbox_path or user_dir("state") / "mqtt-outbox-{camera}.sqlite")
    return Path(template.replace("{camera}", cam)).expanduser().resolve()


def _import_paho():
    install = f"pip install -U 'paho-mqtt>={PAHO_MQTT_MINIMUM}'"
    try:
        import paho.mqtt.client as mqtt
    except ImportError as err:
        raise InputError(f"the MQTT sink needs paho-mqtt >= {PAHO_MQTT_MINIMUM}: {install} ({err})") from err
    require_version("paho-mqtt", PAHO_MQTT_MINIMUM, f"the MQTT sink needs it (drop_out_messages); {install}")
    return mqtt


def _default_client_id(outbox_path: Path) -> str:
    digest = hashlib.sha256(f"{socket.gethostname()}:{outbox_path}".encode()).hexdigest()
    return "ergo-edge-" + digest[:12]   # 22 characters: within MQTT 3.1.1's guaranteed 23


def _topic_level(camera: str) -> str:
    """A camera name as one topic level: '/', '+', '#' and NUL become '_'."""
    return "".join("_" if ch in "/+#\0" else ch for ch in camera)
