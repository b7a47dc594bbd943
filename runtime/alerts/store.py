"""The on-device alert event store (SQLite) and the table printed by `ergoedge events`.

WAL journal: the runtime writes while `ergoedge events` reads, and readers never block the writer.
synchronous=FULL: in WAL mode that is one fsync of the WAL per commit. Alerts arrive a few per minute, so the cost
is nil, while NORMAL may lose the last committed alerts on a power cut (a Jetson on a factory floor gets unplugged).

wall_time is stored normalised to UTC with microseconds ("2024-05-01T10:00:03.000000+00:00"), so that string
order is time order and range queries and pruning can use the index.

The same file holds exposure per shift (`runtime.alerts.exposure.ExposureTracker` writes it every few seconds), so
that a run restarted after a crash continues its shift's totals. Rows are keyed by (camera, shift, run_id, person):
track ids start again at 0 in every run, so each run writes its own rows and a shift's total is the sum over all
runs' rows (`runtime.alerts.exposure.stored_totals`). Person -1 holds the tracks a run folded together
(`ExposureTracker.max_persons`).
For the ergonomist's report (`ergoedge report`, `runtime.shift_report`) it also holds, since schema version 2:
`shifts` (each shift's start and end in UTC, so that a report can pick a period), `episodes` (the worst stretches
of high risk with a skeleton-only JPEG thumbnail, at most MAX_EPISODES_PER_SHIFT per camera and shift: the worst
by peak REBA, then length) and `lifts` (each counted lift and, where the load is configured, its NIOSH lifting
index; at most MAX_LIFTS_PER_SHIFT per camera and shift, the exposure totals count every lift).
`PRAGMA user_version` is the schema version: 0 before the exposure table existed, 1 before the report's tables,
SCHEMA_VERSION since. An older store gains the missing tables when `EventStore` opens it (`EventReader` changes
nothing and reads what is there).

`ergoedge events` reads through `EventReader`, which opens the file read-only and changes nothing (see there).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge.config import check_number
from edge.errors import InputError
from runtime.alerts.event import AlertEvent, parse_utc, utc_iso

SCHEMA_VERSION = 2
MAX_EPISODES_PER_SHIFT = 20
MAX_LIFTS_PER_SHIFT = 20_000
MAX_LIMIT = 100_000  # most events one query returns (`ergoedge events --limit`: 0.23 GB peak); API None: all
_INT64_MAX = 2**63 - 1  # SQLite's INTEGER
COLUMNS = ("event_id", "kind", "rule", "person", "severity", "time_s", "wall_time", "value", "threshold",
           "duration_s", "camera", "message")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    rule       TEXT NOT NULL,
    person     INTEGER NOT NULL,
    severity   TEXT NOT NULL,
    time_s     REAL NOT NULL,
    wall_time  TEXT NOT NULL,
    value      REAL,
    threshold  REAL,
    duration_s REAL,
    camera     TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL DEFAULT ''
)
"""
EXPOSURE_COLUMNS = ("camera", "shift", "run_id", "person", "tracked_s", "totals", "updated")
_EXPOSURE_SCHEMA = """
CREATE TABLE IF NOT EXISTS exposure (
    camera    TEXT NOT NULL,
    shift     TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    person    INTEGER NOT NULL,
    tracked_s REAL NOT NULL,
    totals    TEXT NOT NULL,
    updated   TEXT NOT NULL,
    PRIMARY KEY (camera, shift, run_id, person)
)
"""
SHIFT_COLUMNS = ("camera", "shift", "start_utc", "end_utc", "tz")
EPISODE_COLUMNS = ("camera", "shift", "run_id", "person", "start", "end", "duration_s", "peak_reba", "peak_time",
                   "drivers", "thumbnail")
LIFT_COLUMNS = ("camera", "shift", "run_id", "person", "wall_time", "lifts_per_min", "load_kg", "li", "rwl_kg",
                "h_cm", "v_origin_cm", "v_dest_cm", "asymmetry_deg")
# Schema version 2: the shift report's tables (module doc).
_REPORT_SCHEMA = """
CREATE TABLE IF NOT EXISTS shifts (
    camera    TEXT NOT NULL,
    shift     TEXT NOT NULL,
    start_utc TEXT NOT NULL,
    end_utc   TEXT NOT NULL,
    tz        TEXT NOT NULL,
    PRIMARY KEY (camera, shift)
);
CREATE TABLE IF NOT EXISTS episodes (
    camera     TEXT NOT NULL,
    shift      TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    person     INTEGER NOT NULL,
    start      TEXT NOT NULL,
    end        TEXT NOT NULL,
    duration_s REAL NOT NULL,
    peak_reba  REAL NOT NULL,
    peak_time  TEXT NOT NULL,
    drivers    TEXT NOT NULL,
    thumbnail  BLOB,
    PRIMARY KEY (camera, run_id, person, start)
);
CREATE TABLE IF NOT EXISTS lifts (
    camera        TEXT NOT NULL,
    shift         TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    person        INTEGER NOT NULL,
    wall_time     TEXT NOT NULL,
    lifts_per_min REAL,
    load_kg       REAL,
    li            REAL,
    rwl_kg        REAL,
    h_cm          REAL,
    v_origin_cm   REAL,
    v_dest_cm     REAL,
    asymmetry_deg REAL,
    PRIMARY KEY (camera, run_id, person, wall_time)
);
"""
_TABLES = (("events", COLUMNS), ("exposure", EXPOSURE_COLUMNS), ("shifts", SHIFT_COLUMNS),
           ("episodes", EPISODE_COLUMNS), ("lifts", LIFT_COLUMNS))
_INDEXES = """
CREATE INDEX IF NOT EXISTS events_wall_time ON events (wall_time);
CREATE INDEX IF NOT EXISTS events_rule ON events (rule);
CREATE INDEX IF NOT EXISTS exposure_updated ON exposure (updated);
CREATE INDEX IF NOT EXISTS episodes_shift ON episodes (camera, shift);
CREATE INDEX IF NOT EXISTS lifts_shift ON lifts (camera, shift);
"""


def _schema_problem(conn: sqlite3.Connection, tables: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    """Why the file is not an event store this version can use, or None; reads only. `tables`: (name, columns)
    pairs, the first required once the file holds any table (an empty file becomes a store)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return f"schema version {version} was written by a newer ergo-edge (this one reads {SCHEMA_VERSION})"
    found = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")}
    if found and tables[0][0] not in found:
        return f"not an ergo-edge event store (no {tables[0][0]} table; it has {', '.join(sorted(found))})"
    for table, expected in tables:
        columns = tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
        if table in found and columns != expected:
            return (f"not an ergo-edge event store (table {table!r} has columns {', '.join(columns)}, "
                    f"expected {', '.join(expected)})")
    return None


def _select_events(conn: sqlite3.Connection, since: str | datetime | None, until: str | datetime | None,
                   rule: str | None, person: int | None, camera: str | None, kind: str | None,
                   limit: int | None) -> list[dict]:
    """The rows `EventStore.query` and `EventReader.query` return."""
    if limit is not None:
        limit = check_number(limit, "limit (None for all)", integer=True, minimum=1, maximum=MAX_LIMIT)
    if person is not None:
        person = check_number(person, "person", integer=True, minimum=0, maximum=_INT64_MAX)
    where, args = [], []
    if since is not None:
        where.append("wall_time >= ?")
        args.append(utc_iso(since))
    if until is not None:
        where.append("wall_time < ?")
        args.append(utc_iso(until))
    for column, value in (("rule", rule), ("person", person), ("camera", camera), ("kind", kind)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = (f"SELECT * FROM (SELECT rowid AS _r, * FROM events {clause} "
           f"ORDER BY wall_time DESC, rowid DESC LIMIT ?) ORDER BY wall_time, _r")
    args.append(-1 if limit is None else limit)
    return [{c: row[c] for c in COLUMNS} for row in conn.execute(sql, args).fetchall()]


class EventStore:
    """Alert events in one SQLite file: `add` is idempotent on event_id; rows older than `retention_days`
    (by wall time) are pruned on open and every `prune_every` adds. Safe to share between threads."""

    def __init__(self, path: str | Path, retention_days: float | None = 90.0, prune_every: int = 1000):
        self.path = Path(path)
        self.retention_days = None if retention_days is None else check_number(
            retention_days, "retention_days (None keeps events forever)", positive=True)
        self.prune_every = check_number(prune_every, "prune_every", integer=True, minimum=1)
        self._adds_since_prune = 0
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, not an event store file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per store, serialised by our lock (sqlite3 objects are not safe for concurrent use).
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        try:
            problem = self._create_schema()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise InputError(f"{self.path}: not a usable SQLite event store ({exc})") from None
        if problem:
            self._conn.close()
            raise InputError(f"{self.path}: {problem}")
        self._closed = False
        self.prune()

    def _create_schema(self) -> str | None:
        """Switch to WAL and create or upgrade the tables; or, changing nothing, why the file is someone else's."""
        problem = _schema_problem(self._conn, _TABLES)
        if problem:
            return problem
        self.journal_mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self._conn.execute("PRAGMA synchronous=FULL")
        with self._conn:
            self._conn.execute(_SCHEMA)
            self._conn.execute(_EXPOSURE_SCHEMA)
        self._conn.executescript(_REPORT_SCHEMA)  # an older store gains the report's tables here
        self._conn.executescript(_INDEXES)
        self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return None

    def add(self, event: AlertEvent) -> bool:
        """Store one event; False if its event_id was already stored (redelivery is harmless)."""
        row = event.to_dict()
        row["wall_time"] = utc_iso(row["wall_time"])
        sql = f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        with self._lock:
            with self._conn:
                inserted = self._conn.execute(sql, [row[c] for c in COLUMNS]).rowcount == 1
            self._adds_since_prune += 1
            due = self._adds_since_prune >= self.prune_every
        if due:
            self.prune()
        return inserted

    def query(self, since: str | datetime | None = None, until: str | datetime | None = None,
              rule: str | None = None, person: int | None = None, camera: str | None = None,
              kind: str | None = None, limit: int | None = 1000) -> list[dict]:
        """Events with since <= wall_time < until matching every given filter: the newest `limit` (at most
        MAX_LIMIT), oldest first. Each row is a dict that `AlertEvent.from_dict` accepts."""
        with self._lock:
            return _select_events(self._conn, since, until, rule, person, camera, kind, limit)

    def prune(self, now: str | datetime | None = None) -> int:
        """Delete events, exposure rows last written, episodes ended and lifts made before the retention period
        before `now` (default: the current time), and shifts left without exposure; returns how many events were
        deleted."""
        if self.retention_days is None:
            return 0
        now_utc = parse_utc(now) if now is not None else datetime.now(timezone.utc)
        cutoff = utc_iso(now_utc - timedelta(days=self.retention_days))
        with self._lock:
            with self._conn:
                deleted = self._conn.execute("DELETE FROM events WHERE wall_time < ?", (cutoff,)).rowcount
                self._conn.execute("DELETE FROM exposure WHERE updated < ?", (cutoff,))
                self._conn.execute("DELETE FROM episodes WHERE end < ?", (cutoff,))
                self._conn.execute("DELETE FROM lifts WHERE wall_time < ?", (cutoff,))
                self._conn.execute("DELETE FROM shifts WHERE end_utc < ? AND NOT EXISTS (SELECT 1 FROM exposure e "
                                   "WHERE e.camera = shifts.camera AND e.shift = shifts.shift)", (cutoff,))
            self._adds_since_prune = 0
        return deleted

    def save_exposure(self, camera: str, run_id: str, rows: Iterable[tuple[str, int, dict]],
                      updated: str | datetime, drop: Iterable[tuple[str, int]] = (),
                      shifts: Iterable[tuple[str, str, str, str]] = (), episodes: Iterable[dict] = (),
                      lifts: Iterable[dict] = ()) -> None:
        """One run's current totals, (shift, person, totals) each, replacing what the run wrote before for the same
        keys; the (shift, person) rows in `drop` are deleted first. With them, for the report: `shifts` as
        (shift, start_utc, end_utc, tz), `episodes` (`runtime.alerts.episodes.Episode.record` dicts, replacing the
        run's earlier save of the same episode; only each shift's MAX_EPISODES_PER_SHIFT worst are kept) and
        `lifts` (dicts of LIFT_COLUMNS but camera and run_id; beyond MAX_LIFTS_PER_SHIFT a shift's are not stored).
        One transaction: a crash keeps the last save."""
        when = utc_iso(updated)
        upsert = (f"INSERT INTO exposure ({', '.join(EXPOSURE_COLUMNS)}) VALUES ({', '.join('?' * 7)}) "
                  "ON CONFLICT (camera, shift, run_id, person) DO UPDATE SET tracked_s = excluded.tracked_s, "
                  "totals = excluded.totals, updated = excluded.updated")
        values = [(camera, shift, run_id, int(person), float(totals["tracked_s"]), json.dumps(totals), when)
                  for shift, person, totals in rows]
        with self._lock:
            with self._conn:
                self._conn.executemany("DELETE FROM exposure WHERE camera = ? AND shift = ? AND run_id = ? "
                                       "AND person = ?", [(camera, s, run_id, int(p)) for s, p in drop])
                self._conn.executemany(upsert, values)
                self._conn.executemany("INSERT OR REPLACE INTO shifts VALUES (?, ?, ?, ?, ?)",
                                       [(camera, *row) for row in shifts])
                self._save_episodes(camera, run_id, list(episodes))
                self._save_lifts(camera, run_id, list(lifts))

    def _save_episodes(self, camera: str, run_id: str, episodes: list[dict]) -> None:
        sql = (f"INSERT OR REPLACE INTO episodes ({', '.join(EPISODE_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(EPISODE_COLUMNS))})")
        self._conn.executemany(sql, [(camera, e["shift"], run_id, int(e["person"]), utc_iso(e["start"]),
                                      utc_iso(e["end"]), float(e["duration_s"]), float(e["peak_reba"]),
                                      utc_iso(e["peak_time"]), json.dumps(e["drivers"]), e.get("thumbnail"))
                                     for e in episodes])
        for shift in {e["shift"] for e in episodes}:  # keep the worst: bounded however long the shift
            self._conn.execute(
                "DELETE FROM episodes WHERE camera = ? AND shift = ? AND rowid NOT IN (SELECT rowid FROM episodes "
                "WHERE camera = ? AND shift = ? ORDER BY peak_reba DESC, duration_s DESC, start LIMIT ?)",
                (camera, shift, camera, shift, MAX_EPISODES_PER_SHIFT))

    def _save_lifts(self, camera: str, run_id: str, lifts: list[dict]) -> None:
        sql = (f"INSERT OR IGNORE INTO lifts ({', '.join(LIFT_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(LIFT_COLUMNS))})")
        room: dict[str, int] = {}
        for lift in lifts:
            shift = lift["shift"]
            if shift not in room:
                room[shift] = MAX_LIFTS_PER_SHIFT - self._conn.execute(
                    "SELECT COUNT(*) FROM lifts WHERE camera = ? AND shift = ?", (camera, shift)).fetchone()[0]
            if room[shift] > 0:
                room[shift] -= 1
                self._conn.execute(sql, (camera, shift, run_id, int(lift["person"]), utc_iso(lift["wall_time"]),
                                         *(lift.get(c) for c in LIFT_COLUMNS[5:])))

    def load_exposure(self, camera: str, shift: str) -> list[dict]:
        """Every run's rows for one camera and shift: dicts of run_id, person, totals (parsed; None where the row's
        JSON is damaged, which a running monitor skips rather than stop) and updated."""
        with self._lock:
            rows = self._conn.execute("SELECT run_id, person, totals, updated FROM exposure WHERE camera = ? AND "
                                      "shift = ? ORDER BY run_id, person", (camera, shift)).fetchall()
        return [{"run_id": r["run_id"], "person": r["person"], "totals": _stored_json(r["totals"], "totals"),
                 "updated": r["updated"]} for r in rows]

    def exposure_shifts(self, camera: str | None = None) -> list[tuple[str, str]]:
        """(camera, shift) pairs with stored exposure, in order."""
        where, args = ("WHERE camera = ?", (camera,)) if camera is not None else ("", ())
        with self._lock:
            rows = self._conn.execute(f"SELECT DISTINCT camera, shift FROM exposure {where} ORDER BY camera, shift",
                                      args).fetchall()
        return [(r["camera"], r["shift"]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stored_json(text, column: str) -> dict | None:
    """A JSON column as the store writes it, parsed: an object, and for "totals" one whose leaves are finite numbers
    (objects of them nested, as runtime/alerts/exposure.py sums them); None for anything else (a damaged row)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(value, dict) or (column == "totals" and not _numbers_only(value)):
        return None
    return value


def _numbers_only(tree: dict) -> bool:
    return all(_numbers_only(v) if isinstance(v, dict) else
               isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in tree.values())


class EventReader:
    """An event store opened read-only (`ergoedge events`): nothing in the file or beside it changes (no schema
    upgrade, no pruning, no journal-mode switch, no -wal/-shm left behind), and read-only copies can be listed.

    A WAL-mode file with a -wal beside it (being written, or copied with it) opens `mode=ro`: SQLite reads the WAL
    through the -shm (an in-memory one where the -shm is not writable). Without a -wal every committed row is in the
    main file, which opens `immutable=1`: `mode=ro` would create a -wal and -shm and leave them, and fails in a
    read-only directory. (A writer starting meanwhile appends to a new -wal; it only rewrites the main file after
    1000 pages.) Other files (rollback journal) open `mode=ro`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: not a regular file, expected an event store")
        real = self.path.resolve()  # SQLite keeps the -wal beside the link's target
        with open(real, "rb") as f:
            header = f.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            raise InputError(f"{self.path}: not an SQLite database, expected an event store")
        wal_mode = 2 in (header[18], header[19])  # the file format's read/write versions: 2 is WAL
        mode = "mode=ro&immutable=1" if wal_mode and not Path(f"{real}-wal").exists() else "mode=ro"
        conn = None
        try:
            conn = sqlite3.connect(f"{real.as_uri()}?{mode}", uri=True, timeout=10.0)
            conn.row_factory = sqlite3.Row
            problem = _schema_problem(conn, _TABLES)
        except sqlite3.DatabaseError as exc:
            problem = f"not a readable SQLite event store ({exc})"
            if wal_mode and not Path(f"{real}-shm").exists():  # which a read-only directory cannot get
                problem += "; its -wal needs its -shm: copy both, or into a writable directory"
        if problem:
            if conn is not None:
                conn.close()
            raise InputError(f"{self.path}: {problem}")
        self._conn = conn

    def query(self, since: str | datetime | None = None, until: str | datetime | None = None,
              rule: str | None = None, person: int | None = None, camera: str | None = None,
              kind: str | None = None, limit: int | None = 1000) -> list[dict]:
        """As `EventStore.query`."""
        try:
            return _select_events(self._conn, since, until, rule, person, camera, kind, limit)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a readable SQLite event store ({exc})") from None

    def tables(self) -> set[str]:
        """The tables the file has (a store from before schema version 2 has no shifts, episodes, lifts)."""
        return {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def records(self, table: str, camera: str | None = None, shifts: Iterable[tuple[str, str]] | None = None
                ) -> list[dict]:
        """Rows of `table` (one of the report's tables and exposure), as dicts of its columns: those of `camera`
        (None: every camera) and, given `shifts`, only those of the (camera, shift) pairs; [] if the table is
        not there. Exposure totals and episode drivers come parsed from their JSON."""
        columns = dict(_TABLES[1:])[table]
        if table not in self.tables():
            return []
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        if shifts is None:
            queries = [(sql + " WHERE camera = ?", (camera,))] if camera is not None else [(sql, ())]
        else:
            queries = [(sql + " WHERE camera = ? AND shift = ?", pair) for pair in shifts
                       if camera is None or pair[0] == camera]
        try:
            rows = [dict(row) for query, args in queries for row in self._conn.execute(query, args)]
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a readable SQLite event store ({exc})") from None
        for row in rows:
            for key in ("totals", "drivers"):
                if key in row:
                    parsed = _stored_json(row[key], key)
                    if parsed is None:
                        raise InputError(f"{self.path}: the {key} of a row of {table} (camera {row.get('camera')}, "
                                         f"shift {row.get('shift')}) are damaged: not the JSON ergo-edge writes")
                    row[key] = parsed
        return rows

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _blob_text(value: bytes) -> str:
    """A BLOB (never written by ergo-edge: a foreign or tampered row) is shown by its size, not its bytes."""
    return f"<BLOB, {len(value)} bytes>"


def _cell(value: Any) -> str:
    """One value as table text; control characters (a tampered row) escaped, never sent to the terminal."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return _blob_text(value)
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def format_events(rows: Iterable[dict], as_json: bool = False) -> str:
    """`ergoedge events` output: an aligned table, or one JSON object per line."""
    rows = list(rows)
    if as_json:
        return "\n".join(json.dumps(row, sort_keys=True, default=_blob_text) for row in rows)
    if not rows:
        return "no events"
    header = ("wall time (UTC)", "camera", "person", "rule", "kind", "severity", "value")
    body = [(_cell(row["wall_time"])[:19].replace("T", " "), _cell(row.get("camera")) or "-", _cell(row["person"]),
             _cell(row["rule"]), _cell(row["kind"]), _cell(row["severity"]), _cell(row.get("value"))) for row in rows]
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    numeric = {2, 6}  # right-align numbers

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), *(line(r) for r in body)])


__all__ = ["COLUMNS", "EPISODE_COLUMNS", "EXPOSURE_COLUMNS", "LIFT_COLUMNS", "MAX_EPISODES_PER_SHIFT",
           "MAX_LIFTS_PER_SHIFT", "MAX_LIMIT", "SCHEMA_VERSION", "SHIFT_COLUMNS", "EventReader", "EventStore",
           "format_events"]
