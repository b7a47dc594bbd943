"""MQTT alert sink with a durable SQLite outbox: an alert is never lost because the broker is down.

    sink = MqttSink(host="127.0.0.1", port=1883, camera="line1", outbox_path="/var/lib/ergo-edge/outbox-line1.sqlite")
    sink.emit(event)          # writes the event to the outbox (fsync), then publishes it when it can; never blocks
    ...
    sink.close()              # brief flush, disconnect; whatever is still un-acked stays in the outbox

How delivery works
------------------
1. `emit()` writes the event as JSON into the outbox table and commits (WAL, synchronous=FULL) before anything
   touches the network, so an event that `emit()` returned for is on disk even if the process is killed next.
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
-> row map and is the only caller of `publish()`, so no lock is held across a paho call (paho holds its own locks
while it runs callbacks) and a PUBACK can never be matched against a map of another connection.

paho-mqtt (>= 2.0) is imported when a sink is created, not when this module is imported.
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
from dataclasses import fields
from pathlib import Path
from typing import Any

from edge.errors import InputError

from edge.paths import user_dir
from runtime.alerts.event import AlertEvent
from runtime.alerts.mqtt_config import MqttConfig, MqttTls

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_PRUNE_EVERY_S = 3600.0
_IDLE_TICK_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL UNIQUE,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created      REAL    NOT NULL,
    published_at REAL    NULL,
    acked_at     REAL    NULL
);
CREATE INDEX IF NOT EXISTS outbox_unacked ON outbox (seq) WHERE acked_at IS NULL;
"""


class MqttSink:
    """Alert sink: publishes each AlertEvent as JSON to an MQTT broker through a durable SQLite outbox.

    Sink protocol: `name`, `emit(event)`, `close()`. Also `flush(timeout_s)`, `pending()`, `stats()`.
    See the module docstring for the delivery guarantees (at-least-once; de-duplicate on `event_id`).
    """

    name = "mqtt"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        topic: str = "ergo-edge/{camera}/alerts",
        camera: str = "",
        qos: int = 1,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: MqttTls | None = None,
        outbox_path: str | os.PathLike | None = None,
        keepalive: int = 30,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 5.0,
        max_inflight: int = 20,
        retain_acked_days: float = 7.0,
    ) -> None:
        if not isinstance(camera, str):
            raise InputError(f"mqtt camera must be a string, got {camera!r}")
        self.config = MqttConfig(
            host=host, port=port, topic=topic, qos=qos, client_id=client_id, username=username, password=password,
            tls=tls, outbox_path=None if outbox_path is None else str(outbox_path), keepalive=keepalive,
            reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s, max_inflight=max_inflight,
            retain_acked_days=retain_acked_days,
        )
        self.camera = camera
        cam = _topic_level(camera) if camera else "default"
        template = self.config.outbox_path or str(user_dir("state") / "mqtt-outbox-{camera}.sqlite")
        self.outbox_path = Path(template.replace("{camera}", cam)).expanduser().resolve()
        self.client_id = self.config.client_id or _default_client_id(self.outbox_path)

        mqtt = _import_paho()
        self._mqtt = mqtt

        # State shared across threads. _lock guards the SQLite connection; it is never held across a paho call.
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = False
        self._closed = False
        # Owned by the publisher thread (read, never written, by stats()).
        self._mid_to_seq: dict[int, int] = {}
        self._sent_upto = 0
        self._connected = False
        self._published_unsaved: list[tuple[float, int]] = []
        self._counts = {"emitted": 0, "emit_duplicates": 0, "published": 0, "republished": 0, "acked": 0,
                        "connects": 0, "disconnects": 0, "connect_failures": 0}
        self._last_error: str | None = None

        self._lock_file = _lock_outbox(self.outbox_path)
        try:
            self._db = _open_outbox(self.outbox_path)
            self._prune()
            self.backlog_at_start = self.pending()
            self._client = self._make_client(mqtt)
        except BaseException:
            self._release_outbox()
            raise

        self._publisher = threading.Thread(target=self._run, name=f"mqtt-outbox-{cam}", daemon=True)
        self._publisher.start()
        # connect_async: the first connection attempt happens on paho's thread, so neither a down broker nor a slow
        # name lookup blocks the caller; loop_start retries the first connection like any later one.
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        self._client.loop_start()

    @classmethod
    def from_config(cls, cfg: MqttConfig, camera: str = "") -> "MqttSink":
        return cls(camera=camera, **{f.name: getattr(cfg, f.name) for f in fields(MqttConfig)})

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
        with self._lock:
            if self._closed:
                raise RuntimeError("MqttSink.emit() after close()")
            with self._db:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                    (event.event_id, topic, payload, time.time()))
            new = cur.rowcount == 1
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
        with self._lock:
            if self._closed:
                raise RuntimeError("MqttSink.pending() after close()")
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]

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
        return f"MqttSink({cfg.host}:{cfg.port}, topic={cfg.topic!r}, camera={self.camera!r}, outbox={str(self.outbox_path)!r})"

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
            try:
                batch = [self._events.get(timeout=_IDLE_TICK_S)]
            except queue.Empty:
                batch = []
            while True:
                try:
                    batch.append(self._events.get_nowait())
                except queue.Empty:
                    break
            acked: list[int] = []
            for record in batch:   # strictly in arrival order: an ack is matched against its own connection's map
                kind = record[0]
                if kind == "ack":
                    seq = self._mid_to_seq.pop(record[1], None)
                    if seq is not None:
                        acked.append(seq)
                elif kind == "connect":
                    self._reset_connection(connected=True)
                    self._counts["connects"] += 1
                    log.info("mqtt: connected to %s:%d (session present: %s)", self.config.host, self.config.port,
                             record[1])
                elif kind == "disconnect":
                    if self._connected:
                        self._counts["disconnects"] += 1
                    if self._connected and not self._closing:
                        log.warning("mqtt: disconnected from %s:%d (%s); alerts are kept in the outbox",
                                    self.config.host, self.config.port, record[1])
                    self._reset_connection(connected=False)
                elif kind == "refused":
                    self._last_error = f"connection refused by broker: {record[1]}"
                    self._counts["connect_failures"] += 1
                    log.warning("mqtt: %s", self._last_error)
                elif kind == "connect_failed":
                    self._last_error = f"cannot connect to {self.config.host}:{self.config.port}"
                    self._counts["connect_failures"] += 1
                elif kind == "close":
                    stop = True
            try:
                self._write_back(acked)
                if not stop and not self._closing and self._connected:
                    self._pump()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + _PRUNE_EVERY_S
                    self._prune()
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

    def _reset_connection(self, connected: bool) -> None:
        # In-flight rows of the old connection will not be acked now: forget their ids and start again from the
        # lowest un-acked seq once connected.
        self._mid_to_seq.clear()
        self._sent_upto = 0
        self._connected = connected

    def _write_back(self, acked: list[int]) -> None:
        if not acked and not self._published_unsaved:
            return
        now = time.time()
        with self._lock:
            with self._db:
                if acked:
                    cur = self._db.executemany("UPDATE outbox SET acked_at = ? WHERE seq = ? AND acked_at IS NULL",
                                               [(now, seq) for seq in acked])
                    self._counts["acked"] += max(cur.rowcount, 0)
                if self._published_unsaved:
                    # published_at is informational: written with the next commit, not one fsync per publish.
                    self._db.executemany("UPDATE outbox SET published_at = ? WHERE seq = ?", self._published_unsaved)
        self._published_unsaved = []

    def _pump(self) -> None:
        room = self.config.max_inflight - len(self._mid_to_seq)
        if room <= 0:
            return
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, published_at FROM outbox WHERE acked_at IS NULL AND seq > ? "
                "ORDER BY seq LIMIT ?", (self._sent_upto, room)).fetchall()
        for seq, topic, payload, published_at in rows:
            info = self._client.publish(topic, payload, qos=self.config.qos)
            # Whatever rc says, record the mid: if the connection just broke, the "disconnect" record that follows
            # clears the map and the row is sent again after the reconnect.
            self._mid_to_seq[info.mid] = seq
            self._sent_upto = seq
            self._counts["published"] += 1
            if published_at is not None:
                self._counts["republished"] += 1
            self._published_unsaved.append((time.time(), seq))
            if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
                break

    def _prune(self) -> None:
        cutoff = time.time() - self.config.retain_acked_days * 86400.0
        with self._lock:
            with self._db:
                self._db.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?", (cutoff,))

    def _topic_for(self, event: AlertEvent) -> str:
        camera = self.camera or event.camera
        return self.config.topic.replace("{camera}", _topic_level(camera) if camera else "default")

    def _release_outbox(self) -> None:
        db = getattr(self, "_db", None)
        with self._lock:
            if db is not None:
                db.close()
            self._closed = True
        if self._lock_file is not None:
            self._lock_file.close()   # releases the flock
            self._lock_file = None


# -------------------------------------------------------------------- helpers


def _import_paho():
    try:
        import paho.mqtt.client as mqtt
    except ImportError as err:
        raise InputError(f"the MQTT sink needs paho-mqtt >= 2.0: pip install 'paho-mqtt>=2.0' ({err})") from err
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise InputError("the MQTT sink needs paho-mqtt >= 2.0 (found 1.x): pip install -U 'paho-mqtt>=2.0'")
    return mqtt


def _open_outbox(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
    except (OSError, sqlite3.Error) as err:
        raise InputError(f"cannot open MQTT outbox {str(path)!r}: {err}") from err
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise InputError(f"MQTT outbox {str(path)!r}: cannot switch to WAL journal mode (got {mode})")
        db.execute("PRAGMA synchronous=FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise InputError(f"MQTT outbox {str(path)!r} has schema version {version}, newer than this ergo-edge "
                             f"understands ({SCHEMA_VERSION})")
        with db:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.Error as err:
        db.close()
        raise InputError(f"MQTT outbox {str(path)!r} is not a usable SQLite database: {err}") from err
    except BaseException:
        db.close()
        raise
    return db


def _lock_outbox(path: Path):
    """One live sink per outbox: two would publish every row twice and fight over one client id."""
    try:
        import fcntl
    except ImportError:   # not on Linux: no lock
        return None
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+b")
    except OSError as err:
        raise InputError(f"cannot create MQTT outbox lock {str(lock_path)!r}: {err}") from err
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError(f"MQTT outbox {str(path)!r} is in use by another sink (lock {str(lock_path)!r}); "
                         "give each camera its own outbox_path") from None
    return handle


def _default_client_id(outbox_path: Path) -> str:
    digest = hashlib.sha256(f"{socket.gethostname()}:{outbox_path}".encode()).hexdigest()
    return "ergo-edge-" + digest[:12]   # 22 characters: within MQTT 3.1.1's guaranteed 23


def _topic_level(camera: str) -> str:
    """A camera name as one topic level: '/', '+', '#' and NUL become '_'."""
    return "".join("_" if ch in "/+#\0" else ch for ch in camera)
