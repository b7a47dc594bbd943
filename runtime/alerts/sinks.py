"""Alert sinks: where `AlertEvent`s go (JSONL log, stdout, GPIO stack light, SQLite store).

A `SinkSet` fans every event out to all sinks and isolates them: one sink failing (disk full, broker down, GPIO
permission) is counted and logged, and never stops the others from receiving the event.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from edge.config import check_number
from edge.errors import InputError
from runtime.alerts.event import AlertEvent
from runtime.alerts.engine import SEVERITIES
from runtime.alerts.store import EventStore

_LOG = logging.getLogger("ergoedge.alerts")


class Sink(Protocol):
    name: str

    def emit(self, event: AlertEvent) -> None: ...

    def close(self) -> None: ...


class SinkSet:
    """Every event to every sink; a failure in one sink is caught, counted, logged once per distinct error."""

    def __init__(self, sinks: Iterable[Sink], log: Callable[[str], None] = _LOG.warning):
        self.sinks = tuple(sinks)
        names = [s.name for s in self.sinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(f"alert sinks: duplicate sink name {dupes[0]!r} (give each sink its own name)")
        self._log = log
        self.delivered: dict[str, int] = {n: 0 for n in names}
        self.failures: dict[str, int] = {n: 0 for n in names}
        self.last_error: dict[str, str] = {}
        self._logged: set[tuple[str, str]] = set()
        self._closed = False

    def emit(self, event: AlertEvent) -> None:
        if self._closed:
            raise RuntimeError("SinkSet.emit after close()")
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:  # noqa: BLE001 - isolation: no sink error may reach the others
                self._failed(sink.name, "emit", exc)
            else:
                self.delivered[sink.name] += 1

    def close(self) -> None:
        """Close every sink (each in isolation); a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - same isolation on close
                self._failed(sink.name, "close", exc)

    def stats(self) -> dict:
        return {"sinks": [s.name for s in self.sinks], "delivered": dict(self.delivered),
                "failures": dict(self.failures), "last_error": dict(self.last_error)}

    def _failed(self, name: str, action: str, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.failures[name] += 1
        self.last_error[name] = text
        # A sink that fails every frame would flood the log; the counter carries the repeats.
        if (name, text) not in self._logged:
            self._logged.add((name, text))
            self._log(f"alert sink {name!r} {action} failed: {text} (repeats are counted, not logged)")

    def __enter__(self) -> SinkSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonlSink:
    """One JSON object per line, fsynced per event so the log survives a power cut."""

    def __init__(self, path: str | Path, name: str = "jsonl"):
        self.name = name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open until close()
        if created and hasattr(os, "O_DIRECTORY"):
            # A new file's directory entry is only durable once the directory itself is synced.
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def emit(self, event: AlertEvent) -> None:
        self._fh.write(json.dumps(event.to_dict(), sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


class StdoutSink:
    """One human-readable line per event."""

    def __init__(self, stream: TextIO | None = None, name: str = "stdout"):
        self.name = name
        self._stream = stream if stream is not None else sys.stdout

    def emit(self, event: AlertEvent) -> None:
        where = f" [{event.camera}]" if event.camera else ""
        text = " ".join(event.message.split())  # keep it one line whatever the template did
        self._stream.write(f"{event.wall_time}{where} {event.kind.upper()} {event.severity} {event.rule} "
                           f"person {event.person}: value {event.value:.4g} (threshold {event.threshold:g}), "
                           f"{event.duration_s:.1f} s at t={event.time_s:.2f} s - {text}\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()  # not ours to close


class GpioSink:
    """Drives a stack light / buzzer: the pin for a severity is high while any alert of that severity is raised.

    pins: severity -> pin number in `mode` ("BOARD" header numbering or "BCM"); several severities may share a pin
    (high while any of them is active). Severities without a pin are ignored. hold_s: a pin stays high at least
    this long after it went high, so that a short alert is still seen or heard. `gpio` injects a module with the
    Jetson.GPIO interface (tests); by default Jetson.GPIO is imported here.
    """

    def __init__(self, pins: Mapping[str, int], mode: str = "BOARD", hold_s: float = 1.0, gpio: Any = None,
                 name: str = "gpio"):
        self.name = name
        if not pins:
            raise InputError("GpioSink: pins is empty (map a severity such as 'critical' to a pin)")
        unknown = [severity for severity in pins if severity not in SEVERITIES]
        if unknown:
            raise InputError(f"GpioSink: pins: unknown severity {unknown[0]!r} (one of {', '.join(SEVERITIES)})")
        pin_numbers = {severity: check_number(pin, f"GpioSink: pin number pins[{severity!r}]", integer=True, minimum=0)
                       for severity, pin in pins.items()}
        if mode not in ("BOARD", "BCM"):
            raise InputError(f"GpioSink: mode must be 'BOARD' or 'BCM', got {mode!r}")
        hold_s = check_number(hold_s, "GpioSink: hold_s (seconds)", minimum=0)
        if gpio is None:
            try:
                import Jetson.GPIO as gpio
            except ImportError:
                raise InputError("Jetson.GPIO is not installed (it comes with JetPack: `pip install Jetson.GPIO`)"
                                 ) from None
            except Exception as exc:  # noqa: BLE001 - Jetson.GPIO raises bare Exception on an unknown board
                raise InputError(f"Jetson.GPIO could not start ({exc}); is this a Jetson?") from None
        self._gpio = gpio
        self.pins = pin_numbers
        self.hold_s = hold_s
        self._lock = threading.Lock()
        self._active: dict[str, set[tuple[str, int, str]]] = {s: set() for s in self.pins}
        self._high_since: dict[int, float] = {}
        self._timers: dict[int, threading.Timer] = {}
        self._closed = False
        self._channels = sorted(set(self.pins.values()))
        gpio.setmode(getattr(gpio, mode))
        for pin in self._channels:
            gpio.setup(pin, gpio.OUT, initial=gpio.LOW)

    def emit(self, event: AlertEvent) -> None:
        if event.severity not in self._active:
            return
        key = (event.camera, event.person, event.rule)
        with self._lock:
            if self._closed:
                return
            if event.kind == "raised":
                self._active[event.severity].add(key)
            elif event.kind == "cleared":
                self._active[event.severity].discard(key)
            self._refresh(self.pins[event.severity])

    def is_high(self, severity: str) -> bool:
        """Whether the pin of `severity` is currently driven high."""
        with self._lock:
            return self.pins.get(severity) in self._high_since

    def close(self) -> None:
        """All pins low, then release them."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            for pin in self._channels:
                self._gpio.output(pin, self._gpio.LOW)
            self._high_since.clear()
        self._gpio.cleanup(self._channels)

    def _wanted(self, pin: int) -> bool:
        return any(self._active[s] for s, p in self.pins.items() if p == pin)

    def _refresh(self, pin: int) -> None:
        """Drive `pin` to its wanted level; called with the lock held."""
        timer = self._timers.pop(pin, None)
        if timer is not None:
            timer.cancel()
        if self._wanted(pin):
            if pin not in self._high_since:
                self._gpio.output(pin, self._gpio.HIGH)
                self._high_since[pin] = time.monotonic()
            return
        if pin not in self._high_since:
            return
        remaining = self._high_since[pin] + self.hold_s - time.monotonic()
        if remaining <= 0:
            self._gpio.output(pin, self._gpio.LOW)
            del self._high_since[pin]
        else:
            timer = threading.Timer(remaining, lambda: self._hold_expired(pin, timer))
            timer.daemon = True
            self._timers[pin] = timer
            timer.start()

    def _hold_expired(self, pin: int, timer: threading.Timer) -> None:
        with self._lock:
            # A timer cancelled while it waited for the lock has been replaced or made moot: leave it.
            if not self._closed and self._timers.get(pin) is timer:
                del self._timers[pin]
                self._refresh(pin)


class SqliteSink:
    """Events into an `EventStore`. close_store=False when the store is shared and closed by its owner."""

    def __init__(self, store: EventStore, name: str = "sqlite", close_store: bool = True):
        if not isinstance(store, EventStore):
            raise InputError(f"SqliteSink: expected an EventStore, got {type(store).__name__}")
        self.name = name
        self.store = store
        self._close_store = close_store

    def emit(self, event: AlertEvent) -> None:
        self.store.add(event)

    def close(self) -> None:
        if self._close_store:
            self.store.close()


__all__ = ["GpioSink", "JsonlSink", "Sink", "SinkSet", "SqliteSink", "StdoutSink"]
