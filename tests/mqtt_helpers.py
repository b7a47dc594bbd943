"""Test helpers for the MQTT sink: a real mosquitto broker on a loopback port, a recording subscriber, and a
publisher process driven over stdin (so a test can SIGKILL it at a chosen moment).

Used by tests/test_mqtt.py and benchmarks/bench_mqtt_outage.py. Everything binds to and connects to 127.0.0.1 only.

Publisher process: `python tests/mqtt_helpers.py --outbox FILE --port P` then, one per line on stdin:
    emit N            emit N new events; prints "ids ID1,ID2,..."
    emit-kill N       emit N events, print their ids, then SIGKILL itself at once (nothing runs after emit)
    emit-every N S    emit N events S seconds apart; prints "ids ..." after each
    flush T           prints "flushed True|False" after waiting up to T s for every outbox row to be acked
    stats             prints "stats {json}"
    close             closes the sink, prints "closed", exits 0
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class BrokerTls:
    port: int
    cafile: Path
    certfile: Path
    keyfile: Path


class Broker:
    """mosquitto as a subprocess on a fixed loopback port; stop/kill/pause and start again on the same port.

    Persistence is ON (file in workdir, saved on every subscription change and queued message, and on stop): the
    subscriber's persistent session survives a restart, so a message the broker acknowledged while the subscriber
    was still reconnecting is queued for it instead of dropped. Without it, a test could lose a message to the race
    "sink reconnects and is acked before the subscriber has re-subscribed" -- an MQTT fact, not a sink bug.
    """

    def __init__(self, workdir: Path, port: int | None = None, tls: BrokerTls | None = None,
                 persistence: bool = True, users: dict[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.persistence = persistence
        self.users = dict(users or {})  # user -> password; when given, anonymous clients are refused
        self.proc: subprocess.Popen | None = None
        self.conf = self.workdir / "mosquitto.conf"
        self.logfile = self.workdir / "mosquitto.log"
        self.starts = 0

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'false' if self.users else 'true'}",
            f"persistence {'true' if self.persistence else 'false'}",
        ]
        if self.users:
            passwd = self.workdir / "passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True, capture_output=True)
            lines.append(f"password_file {passwd}")
        if self.persistence:
            lines += [f"persistence_location {self.workdir}/", "persistence_file mosquitto.db",
                      "autosave_interval 1", "autosave_on_changes true"]
        if self.tls is not None:
            lines += [f"listener {self.tls.port} {HOST}", f"cafile {self.tls.cafile}",
                      f"certfile {self.tls.certfile}", f"keyfile {self.tls.keyfile}"]
        # When run as root mosquitto drops to user "mosquitto", which could not write the persistence file here.
        lines += [f"user {getpass.getuser()}", "log_dest stderr", "log_type error", "log_type warning",
                  "log_type notice", "log_type information", "connection_messages true", "log_timestamp true"]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 5.0) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self._write_conf()
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        ports = [self.port] + ([self.tls.port] if self.tls else [])
        while not all(port_open(p) for p in ports):
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not open port {self.port} in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Clean stop (SIGTERM: the broker saves its persistence file)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._wait_port_closed()

    def kill(self) -> None:
        """Crash (SIGKILL): whatever the broker held in memory and had not saved is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._wait_port_closed()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is read or acknowledged."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _wait_port_closed(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.resume()
            except OSError:
                pass
            self.kill()


class Subscriber:
    """A paho subscriber with a fixed client id and a persistent session (clean_session=False, QoS 1) that
    reconnects quickly and re-subscribes on every connect. Records every message, duplicates included."""

    def __init__(self, port: int, topic: str = "ergo-edge/#", client_id: str | None = None, tls_ca: Path | None = None):
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[tuple[float, str, dict]] = []   # (perf_counter at receipt, topic, payload)
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.connects = 0
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-sub-{os.getpid()}-{port}", clean_session=False)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect_async(HOST, port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            self.connects += 1
            client.subscribe(self.topic, qos=1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.subscribed.clear()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        now = time.perf_counter()
        payload = json.loads(msg.payload)
        with self.cond:
            self.messages.append((now, msg.topic, payload))
            self.cond.notify_all()

    def wait_subscribed(self, timeout: float = 5.0) -> bool:
        return self.subscribed.wait(timeout)

    def ids(self) -> list[str]:
        with self.cond:
            return [m[2]["event_id"] for m in self.messages]

    def first_receipt(self) -> dict[str, float]:
        out: dict[str, float] = {}
        with self.cond:
            for t, _, payload in self.messages:
                out.setdefault(payload["event_id"], t)
        return out

    def wait_for(self, ids, timeout: float) -> bool:
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if wanted <= {m[2]["event_id"] for m in self.messages}:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(min(remaining, 0.1))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_event(i: int, camera: str = "cam0"):
    from runtime.alerts.event import AlertEvent

    return AlertEvent(kind="raised", rule="trunk_flexion", person=i % 3, severity="high", time_s=i / 30.0,
                      wall_time=datetime.now(timezone.utc).isoformat(), value=60.0 + i % 7, threshold=60.0,
                      duration_s=2.0, camera=camera, message=f"test event {i}")


def make_tls_files(workdir: Path) -> tuple[Path, Path, Path] | None:
    """A throw-away CA and a server certificate for 127.0.0.1 (EC P-256). None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (workdir / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")

    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=ergo-edge test CA")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "2", "-extfile", str(ext))
    return ca, cert, key


# ------------------------------------------------------------------------ publisher process


def _publisher_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MQTT sink publisher driven over stdin (for tests)")
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--camera", default="cam0")
    parser.add_argument("--reconnect-max", type=float, default=0.5)
    args = parser.parse_args(argv)

    from runtime.alerts.mqtt import MqttSink
    from runtime.alerts.mqtt_config import MqttConfig

    settings = MqttConfig(host=HOST, port=args.port, outbox_path=args.outbox, reconnect_min_s=0.1,
                          reconnect_max_s=args.reconnect_max)
    sink = MqttSink(settings, camera=args.camera)
    counter = 0

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def emit(n: int) -> list[str]:
        nonlocal counter
        ids = []
        for _ in range(n):
            event = make_event(counter, camera=args.camera)
            counter += 1
            sink.emit(event)
            ids.append(event.event_id)
        return ids

    say("ready")
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "emit":
            say("ids " + ",".join(emit(int(rest[0]))))
        elif cmd == "emit-kill":
            ids = emit(int(rest[0]))
            say("ids " + ",".join(ids))
            os.kill(os.getpid(), signal.SIGKILL)
        elif cmd == "emit-every":
            for _ in range(int(rest[0])):
                say("ids " + ",".join(emit(1)))
                time.sleep(float(rest[1]))
        elif cmd == "flush":
            say(f"flushed {sink.flush(float(rest[0]))}")
        elif cmd == "stats":
            say("stats " + json.dumps(sink.stats()))
        elif cmd == "close":
            sink.close()
            say("closed")
            return 0
    sink.close()
    return 0


class PublisherProcess:
    """Drive `_publisher_main` in a child process."""

    def __init__(self, outbox: Path, port: int, camera: str = "cam0", reconnect_max: float = 0.5) -> None:
        repo = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--outbox", str(outbox), "--port", str(port),
             "--camera", camera, "--reconnect-max", str(reconnect_max)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(repo), env=env)
        self.expect("ready")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str) -> str:
        line = self.proc.stdout.readline()
        if not line.startswith(prefix):
            self.proc.kill()
            raise RuntimeError(f"publisher said {line!r}, expected {prefix!r}; stderr:\n{self.proc.stderr.read()}")
        return line[len(prefix):].strip()

    def emit(self, n: int) -> list[str]:
        self.send(f"emit {n}")
        return self.expect("ids ").split(",")

    def flush(self, timeout: float) -> bool:
        self.send(f"flush {timeout}")
        return self.expect("flushed ") == "True"

    def stats(self) -> dict:
        self.send("stats")
        return json.loads(self.expect("stats "))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def close(self, timeout: float = 10.0) -> int:
        self.send("close")
        self.expect("closed")
        code = self.proc.wait(timeout)
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(_publisher_main())
