"""Benchmark / acceptance run of the MQTT sink's outbox: a 30 s broker outage, and a publisher killed mid-outage.

Run: `.venv/bin/python benchmarks/bench_mqtt_outage.py [--outage 30] [--rate 5] [--json report.json]`.
Needs mosquitto (/usr/sbin/mosquitto); everything runs on 127.0.0.1 in a temporary directory.

1. Steady state: events at --rate per second for --warmup s with the broker up -> emit->received latency.
2. Outage: the broker is stopped for --outage s while events keep coming; then restarted and events continue for
   --after s. Reports the events emitted during the outage, how many were received after the restart, missing
   ones, duplicates, the time from the restart to the last backlog event, and the slowest emit() call.
3. Kill/restart: a publisher PROCESS emits during a --kill-outage s outage and is SIGKILLed half-way; after the
   broker is back a new process opens the same outbox. Reports the same counts.
The sink uses its default reconnect back-off (MqttConfig in runtime/alerts/mqtt_config.py: 0.5 s doubling to 5 s)
unless --reconnect-max is given, so the restart-to-delivered time includes the wait for the next reconnect attempt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _helpers():
    spec = importlib.util.spec_from_file_location("mqtt_helpers", REPO / "tests" / "mqtt_helpers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mqtt_helpers"] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _delivery(expected: list[str], received: list[str]) -> dict:
    counts = Counter(received)
    return {
        "expected": len(expected),
        "received": sum(1 for e in expected if counts[e] > 0),
        "missing": sum(1 for e in expected if counts[e] == 0),
        "duplicates": sum(counts[e] - 1 for e in expected if counts[e] > 1),
        "in_order": [e for e in dict.fromkeys(received) if e in set(expected)] == expected,
    }


def _ms(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {}
    return {"median_ms": round(1000 * statistics.median(values), 2),
            "p95_ms": round(1000 * values[min(len(values) - 1, int(0.95 * len(values)))], 2),
            "max_ms": round(1000 * values[-1], 2), "n": len(values)}


def run_outage(h, work: Path, args) -> dict:
    from runtime.alerts.mqtt import MqttSink
    from runtime.alerts.mqtt_config import MqttConfig

    period = 1.0 / args.rate
    broker = h.Broker(work / "broker-a").start()
    sub = h.Subscriber(broker.port, client_id="bench-sub-a")
    try:
        assert sub.wait_subscribed(5), "subscriber could not subscribe"
        kwargs = {} if args.reconnect_max is None else {"reconnect_max_s": args.reconnect_max}
        settings = MqttConfig(port=broker.port, outbox_path=str(work / "outbox-a.sqlite"), **kwargs)
        sink = MqttSink(settings, camera="bench")
        sent_at: dict[str, float] = {}
        phases: dict[str, list[str]] = {"before": [], "outage": [], "after": []}
        emit_s: list[float] = []
        outage_emit_s: list[float] = []
        i = 0

        def emit_for(seconds: float, phase: str) -> None:
            nonlocal i
            end = time.monotonic() + seconds
            next_t = time.monotonic()
            while time.monotonic() < end:
                event = h.make_event(i, camera="bench")
                i += 1
                t0 = time.perf_counter()
                sent_at[event.event_id] = t0
                sink.emit(event)
                dt = time.perf_counter() - t0
                (outage_emit_s if phase == "outage" else emit_s).append(dt)
                phases[phase].append(event.event_id)
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))

        emit_for(args.warmup, "before")
        sink.flush(5)
        sub.wait_for(phases["before"], 5)
        first = sub.first_receipt()
        latency = [first[e] - sent_at[e] for e in phases["before"] if e in first]

        broker.stop()
        t_down = time.monotonic()
        emit_for(args.outage, "outage")
        pending_at_restart = sink.pending()
        broker.start()
        t_up = time.perf_counter()
        outage_s = time.monotonic() - t_down
        emit_for(args.after, "after")
        flushed = sink.flush((args.reconnect_max or 30.0) + 10.0)
        all_ids = phases["before"] + phases["outage"] + phases["after"]
        sub.wait_for(all_ids, 10)
        first = sub.first_receipt()
        backlog_times = [first[e] - t_up for e in phases["outage"] if e in first]
        stats = sink.stats()
        sink.close()
    finally:
        sub.close()
        broker.kill()
    received = sub.ids()
    return {
        "outage_s": round(outage_s, 2),
        "rate_per_s": args.rate,
        "emitted": {k: len(v) for k, v in phases.items()},
        "pending_at_restart": pending_at_restart,
        "outage_events": _delivery(phases["outage"], received),
        "all_events": _delivery(all_ids, received),
        "restart_to_backlog_delivered_s": round(max(backlog_times), 3) if backlog_times else None,
        "flushed": flushed,
        "latency_steady": _ms(latency),
        "emit_call_steady": _ms(emit_s),
        "emit_call_during_outage": _ms(outage_emit_s),
        "sink_stats": {k: stats[k] for k in ("published", "republished", "acked", "connects", "disconnects",
                                             "connect_failures")},
    }


def run_kill_restart(h, work: Path, args) -> dict:
    broker = h.Broker(work / "broker-b").start()
    sub = h.Subscriber(broker.port, client_id="bench-sub-b")
    outbox = work / "outbox-b.sqlite"
    try:
        assert sub.wait_subscribed(5), "subscriber could not subscribe"
        first = h.PublisherProcess(outbox, broker.port, camera="bench")
        try:
            early = first.emit(5)
            first.flush(5)
            broker.stop()
            t_down = time.monotonic()
            n = int(args.kill_outage * args.rate)
            first.send(f"emit-every {n} {1.0 / args.rate}")
            during: list[str] = []
            while time.monotonic() - t_down < args.kill_outage / 2:
                during += first.expect("ids ").split(",")
        finally:
            first.kill()
        killed_after_s = time.monotonic() - t_down
        time.sleep(max(0.0, args.kill_outage - (time.monotonic() - t_down)))
        broker.start()
        t_up = time.perf_counter()
        second = h.PublisherProcess(outbox, broker.port, camera="bench")
        try:
            flushed = second.flush(30)
            stats = second.stats()
            second.close()
        finally:
            second.kill()
        sub.wait_for(early + during, 10)
        receipt = sub.first_receipt()
        times = [receipt[e] - t_up for e in during if e in receipt]
    finally:
        sub.close()
        broker.kill()
    received = sub.ids()
    return {
        "outage_s": args.kill_outage,
        "killed_after_s": round(killed_after_s, 2),
        "emitted_before_kill": len(during),
        "backlog_at_start_of_new_process": stats["backlog_at_start"],
        "outage_events": _delivery(during, received),
        "extra_events_received": len(set(received) - set(early) - set(during)),
        "restart_to_backlog_delivered_s": round(max(times), 3) if times else None,
        "flushed": flushed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=30.0, help="broker outage in the main run (s)")
    parser.add_argument("--rate", type=float, default=5.0, help="alerts per second")
    parser.add_argument("--warmup", type=float, default=5.0, help="steady-state seconds before the outage")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of alerts after the restart")
    parser.add_argument("--kill-outage", type=float, default=10.0, help="outage in the kill/restart run (s)")
    parser.add_argument("--reconnect-max", type=float, default=None,
                        help="sink reconnect_max_s (default: MqttConfig's, 5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()

    h = _helpers()
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        report = {"outage_run": run_outage(h, Path(tmp), args),
                  "kill_restart_run": run_kill_restart(h, Path(tmp), args)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = all(report[r]["outage_events"]["missing"] == 0 for r in report)
    print("RESULT:", "no alert lost" if ok else "ALERTS LOST", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
