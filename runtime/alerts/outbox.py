"""The MQTT sink's durable outbox: one SQLite file of alerts waiting for the broker's acknowledgement.

Kept apart from the sink (`runtime/alerts/mqtt.py`) so that what is on disk -- the schema, the commit discipline,
the one-writer rule -- reads in one place, without the network code around it.

    outbox = Outbox(Path("outbox-line1.sqlite"))   # WAL, synchronous=FULL; refused if another process holds it
    outbox.add(event_id, topic, payload)           # committed (fsync) before it returns
    rows = outbox.unacked(after_seq=0, limit=20)   # (seq, topic, payload, published_at), oldest first
    outbox.note_published(seq, time.time())        # remembered; written with the next commit
    outbox.mark_acked([seq])                       # one commit: these rows acked, plus the noted publish times
    outbox.close()

Why the settings: a row that `add` returned for must survive a killed process or a power cut, so every commit is
synced (WAL + synchronous=FULL: one fsync of the WAL per commit). A second live writer would publish every row a
second time under the same client id, so the file is locked (flock on "<file>.lock") for as long as it is open.
`PRAGMA user_version` holds the schema version; a file from a newer ergo-edge is refused rather than misread.

All methods may be called from any thread: one lock serialises the SQLite connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from edge.errors import InputError

SCHEMA_VERSION = 1

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


class Outbox:
    """Alert rows in `seq` order, each un-acked until `mark_acked`; one open `Outbox` per file at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._published_unsaved: list[tuple[float, int]] = []
        self._closed = False
        self._lock_file = _lock_single_writer(self.path)
        try:
            self._db = _open_database(self.path)
        except BaseException:
            if self._lock_file is not None:
                self._lock_file.close()
            raise

    def add(self, event_id: str, topic: str, payload: str) -> bool:
        """Store one row and commit; False (and nothing written) if `event_id` is already in the outbox."""
        with self._lock:
            self._check_open()
            with self._db:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                    (event_id, topic, payload, time.time()))
            return cur.rowcount == 1

    def pending(self) -> int:
        """Number of un-acked rows (this process's and any left by earlier ones)."""
        with self._lock:
            self._check_open()
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]

    def unacked(self, after_seq: int, limit: int) -> list[tuple[int, str, str, float | None]]:
        """Up to `limit` un-acked rows with seq > `after_seq`, oldest first: (seq, topic, payload, published_at)."""
        with self._lock:
            self._check_open()
            return self._db.execute(
                "SELECT seq, topic, payload, published_at FROM outbox WHERE acked_at IS NULL AND seq > ? "
                "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()

    def note_published(self, seq: int, at: float) -> None:
        """Remember when row `seq` was published; written by the next `mark_acked` (informational: no fsync of
        its own per publish)."""
        with self._lock:
            self._published_unsaved.append((at, seq))

    def mark_acked(self, seqs: list[int]) -> int:
        """In one commit, mark rows `seqs` acknowledged and write the publish times noted since the last commit.

        Returns how many rows became acked (a row acked before is not counted twice). If the commit fails the
        noted publish times are kept for the next call.
        """
        with self._lock:
            if not seqs and not self._published_unsaved:
                return 0
            self._check_open()
            now = time.time()
            newly_acked = 0
            with self._db:
                if seqs:
                    cur = self._db.executemany("UPDATE outbox SET acked_at = ? WHERE seq = ? AND acked_at IS NULL",
                                               [(now, seq) for seq in seqs])
                    newly_acked = max(cur.rowcount, 0)
                if self._published_unsaved:
                    self._db.executemany("UPDATE outbox SET published_at = ? WHERE seq = ?", self._published_unsaved)
            self._published_unsaved = []
            return newly_acked

    def prune(self, retain_acked_days: float) -> None:
        """Delete rows acknowledged more than `retain_acked_days` ago; un-acked rows are never deleted."""
        cutoff = time.time() - retain_acked_days * 86400.0
        with self._lock:
            self._check_open()
            with self._db:
                self._db.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?", (cutoff,))

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the database and release the file lock. Idempotent."""
        with self._lock:
            if not self._closed:
                self._db.close()
                self._closed = True
        if self._lock_file is not None:
            self._lock_file.close()   # releases the flock
            self._lock_file = None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"MQTT outbox {str(self.path)!r} is closed")


def _open_database(path: Path) -> sqlite3.Connection:
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


def lock_path(path: Path) -> Path:
    """The lock file beside the outbox `path` ("<outbox>.lock")."""
    return path.with_name(path.name + ".lock")


def _lock_single_writer(path: Path):
    """An open, flocked "<outbox>.lock" file (None where there is no fcntl): one live writer per outbox."""
    try:
        import fcntl
    except ImportError:   # not on Linux: no lock
        return None
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a+b")  # noqa: SIM115 - held (and flocked) until Outbox.close()
    except OSError as err:
        raise InputError(f"cannot create MQTT outbox lock {str(lock)!r}: {err}") from err
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError(f"MQTT outbox {str(path)!r} is in use by another sink (lock {str(lock)!r}); "
                         "give each camera its own outbox_path") from None
    return handle


__all__ = ["SCHEMA_VERSION", "Outbox", "lock_path"]
