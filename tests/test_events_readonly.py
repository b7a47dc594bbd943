"""`ergoedge events` reads an event store without changing it (issue 11, items 6 and 15), on real SQLite files:
foreign databases are refused in one line and left byte for byte as they were, a store (closed, being written,
older schema, or a read-only copy) is listed without a write, and bad options or rows are one error line or shown
safely."""

import json
import os
import re
import shutil
import sqlite3
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import InputError
from runtime.alerts.event import AlertEvent, utc_iso, utc_now
from runtime.alerts.store import EventStore

OLD_COLUMNS = ("event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, rule TEXT NOT NULL, person INTEGER NOT NULL, "
               "severity TEXT NOT NULL, time_s REAL NOT NULL, wall_time TEXT NOT NULL, value REAL, threshold REAL, "
               "duration_s REAL, camera TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT ''")


def event(person: int, wall_time: str = "2024-05-01T10:00:00+00:00") -> AlertEvent:
    # Events from 2024: older than the default 90-day retention, so a listing that prunes would delete them.
    return AlertEvent(kind="raised", rule="reba_high", person=person, severity="warning", time_s=1.0 + person,
                      wall_time=wall_time, value=9.0, threshold=8.0, duration_s=3.0, camera="cam01",
                      event_id=f"ev{person}")


def make_store(path: Path, persons=range(3), wall_time: str = "2024-05-01T10:00:00+00:00") -> None:
    with EventStore(path, retention_days=None) as store:
        for p in persons:
            store.add(event(p, wall_time))


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in `directory`, by name: what a listing must leave as it was."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def journal_mode(path: Path) -> str:
    """The journal mode the file itself records (header bytes 18-19: 2 for WAL, 1 for a rollback journal)."""
    return {b"\x01\x01": "delete", b"\x02\x02": "wal"}[path.read_bytes()[18:20]]


def list_events(capsys, db: Path, *options: str) -> tuple[int, str, str]:
    code = main(["events", "--db", str(db), *options])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ergoedge: error: "), err
    return lines[0]


# --------------------------------------------------------------------------------------- foreign databases (item 6)

def _foreign_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('keep me')")
    conn.commit()
    conn.close()


def _foreign_events(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER, what TEXT)")
    conn.execute("INSERT INTO events VALUES (1, 'theirs')")
    conn.commit()
    conn.close()


FOREIGN = {"no events table": (_foreign_tables, "no events table"),
           "other columns": (_foreign_events, "has columns id, what"),
           "not SQLite": (lambda p: p.write_bytes(b"id,what\n1,theirs\n" * 50), "not an SQLite database")}


@pytest.mark.parametrize("kind", FOREIGN)
def test_listing_a_foreign_database_changes_nothing(tmp_path, capsys, kind):
    make, says = FOREIGN[kind]
    db = tmp_path / "other.db"
    make(db)
    before = snapshot(tmp_path)
    code, out, err = list_events(capsys, db)
    line = one_error_line(err)
    assert code == 2 and out == "" and says in line and "other.db" in line
    assert snapshot(tmp_path) == before  # no table, index, journal-mode switch, -wal or -shm
    if kind != "not SQLite":
        assert journal_mode(db) == "delete"


@pytest.mark.parametrize("kind", ["no events table", "other columns"])
def test_the_runtime_store_refuses_a_foreign_database_before_changing_it(tmp_path, kind):
    make, says = FOREIGN[kind]
    db = tmp_path / "other.db"
    make(db)
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=f"other.db: not an ergo-edge event store .*{says}"):
        EventStore(db)
    assert snapshot(tmp_path) == before and journal_mode(db) == "delete"


# ------------------------------------------------------------------------------------- real stores, read only (item 6)

def test_listing_a_store_changes_nothing(tmp_path, capsys):
    db = tmp_path / "events.db"
    make_store(db)
    before = snapshot(tmp_path)
    assert set(before) == {"events.db"}  # closed cleanly: no -wal, no -shm
    code, out, _ = list_events(capsys, db, "--json")
    assert code == 0 and [json.loads(line)["event_id"] for line in out.splitlines()] == ["ev0", "ev1", "ev2"]
    code, out, _ = list_events(capsys, db)
    assert code == 0 and out.count("reba_high") == 3
    assert snapshot(tmp_path) == before  # not pruned (events from 2024), no -wal or -shm left behind
    assert journal_mode(db) == "wal"


def test_listing_a_store_while_it_is_written(tmp_path, capsys):
    db = tmp_path / "events.db"
    with EventStore(db, retention_days=None) as writer:
        writer.add(event(0))
        writer.add(event(1))  # in the WAL, not yet in the main file
        before = snapshot(tmp_path)
        code, out, _ = list_events(capsys, db, "--json")
        assert code == 0 and [json.loads(line)["person"] for line in out.splitlines()] == [0, 1]
        after = snapshot(tmp_path)
        assert after.keys() == before.keys() and after["events.db"] == before["events.db"]
        assert after["events.db-wal"] == before["events.db-wal"]
        writer.add(event(2))  # the writer is not blocked by the reader
    assert list_events(capsys, db, "--json")[1].count("\n") == 3


def test_an_older_store_is_listed_without_an_upgrade(tmp_path, capsys):
    db = tmp_path / "events.db"
    conn = sqlite3.connect(db)  # a store from before the exposure table: schema version 0
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE TABLE events ({OLD_COLUMNS})")
    yesterday = utc_iso(utc_now() - timedelta(days=1))  # within retention: only an upgrade would change the file
    conn.execute("INSERT INTO events VALUES ('old1', 'raised', 'reba_high', 4, 'warning', 1.5, ?, 9.0, 8.0, 3.0, "
                 "'cam01', 'm')", (yesterday,))
    conn.commit()
    conn.close()
    before = snapshot(tmp_path)
    code, out, _ = list_events(capsys, db, "--json")
    assert code == 0 and json.loads(out)["event_id"] == "old1"
    assert snapshot(tmp_path) == before
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro&immutable=1", uri=True)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0 and tables == {"events"}
    conn.close()


def _list_without_write_permission(db: Path) -> tuple[int, str]:
    """`ergoedge events --json` in a forked child that cannot write the copy (as nobody when we are root, since root
    ignores file modes): its exit code and output."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(read)
            if os.getuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            with os.fdopen(write, "w") as pipe, redirect_stdout(pipe), redirect_stderr(pipe):
                code = main(["events", "--db", str(db), "--json"])
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        output = pipe.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), output


@pytest.mark.parametrize("state", ["closed", "being written"])
def test_a_read_only_copy_of_a_store_is_listed(tmp_path, capsys, state):
    source = tmp_path / "src"
    yesterday = utc_iso(utc_now() - timedelta(days=1))  # within retention: only the copy's modes stand in the way
    make_store(source / "events.db", persons=[0], wall_time=yesterday)
    # A directory anyone may enter (tmp_path's parents are private to us, and the child may be nobody).
    outer = Path(tempfile.mkdtemp(prefix="ergoedge-ro-"))
    copy = outer / "copy"
    try:
        outer.chmod(0o755)
        with EventStore(source / "events.db", retention_days=None) as writer:
            writer.add(event(1, yesterday))  # "being written": copied with its -wal (holding this event) and -shm
            if state == "closed":
                writer.close()
            shutil.copytree(source, copy)
        assert ("events.db-wal" in os.listdir(copy)) == (state == "being written")
        # The original, listed here, also loads every module the child needs (it may not read our interpreter's).
        code, listed, _ = list_events(capsys, source / "events.db", "--json")
        assert code == 0 and [json.loads(line)["event_id"] for line in listed.splitlines()] == ["ev0", "ev1"]
        for f in copy.iterdir():
            f.chmod(0o444)
        copy.chmod(0o555)
        before = snapshot(copy)
        code, output = _list_without_write_permission(copy / "events.db")
        assert code == 0 and output == listed, output
        assert snapshot(copy) == before
    finally:
        if copy.exists():
            copy.chmod(0o755)
        shutil.rmtree(outer)


# ------------------------------------------------------------------------------------ options and rows (item 15)

@pytest.mark.parametrize(("options", "says"), [
    (["--since", "9999-12-31T23:59:59-05:00"], "9999-12-31T23:59:59-05:00 is outside the years 1 to 9999"),
    (["--until", "0001-01-01T00:00:00+01:00"], "0001-01-01T00:00:00+01:00 is outside the years 1 to 9999"),
    (["--limit", str(2**64)], "--limit must be a whole number from 1 to"),
    (["--limit", "0"], "--limit must be a whole number from 1 to"),
    (["--person", str(2**64)], "--person must be a whole number from 0 to"),
])
def test_out_of_range_options_are_one_error_line(tmp_path, capsys, options, says):
    db = tmp_path / "events.db"
    make_store(db)
    before = snapshot(tmp_path)
    code, out, err = list_events(capsys, db, *options)
    assert code == 2 and out == "" and says in one_error_line(err)
    assert snapshot(tmp_path) == before


def test_the_limit_has_a_documented_range(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["events", "--help"])
    documented = re.search(r"--limit LIMIT\s+list the newest N events, 1 to (\d+)", capsys.readouterr().out)
    assert documented, "the --limit help states its range"
    most = int(documented.group(1))
    db = tmp_path / "events.db"
    make_store(db)
    code, out, _ = list_events(capsys, db, "--limit", str(most), "--json")
    assert code == 0 and out.count("\n") == 3
    code, _, err = list_events(capsys, db, "--limit", str(most + 1))
    assert code == 2 and f"from 1 to {most:g}" in one_error_line(err)


def test_blobs_and_control_characters_in_a_tampered_store_are_shown_safely(tmp_path, capsys):
    db = tmp_path / "events.db"
    recent = utc_now() - timedelta(hours=1)  # within retention: only the rows' contents matter
    make_store(db, persons=[0], wall_time=utc_iso(recent))
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO events VALUES ('blob', 'raised', ?, 1, 'warning', 1.0, ?, 1.0, 1.0, 1.0, ?, ?)",
                 (b"\x1b[31mred\x00", utc_iso(recent + timedelta(seconds=1)), b"\xff" * 10, b"\x00" * 3))
    conn.execute("INSERT INTO events VALUES ('ctl', 'raised', ?, 2, 'warning', 1.0, ?, 1.0, 1.0, 1.0, 'cam\x1b[2J', "
                 "'m')", ("rule\x1b]0;owned\x07", utc_iso(recent + timedelta(seconds=2))))
    conn.commit()
    conn.close()
    code, out, err = list_events(capsys, db, "--json")
    assert code == 0 and err == ""
    rows = {row["event_id"]: row for row in map(json.loads, out.splitlines())}
    assert rows["blob"]["rule"] == "<BLOB, 9 bytes>" and rows["blob"]["camera"] == "<BLOB, 10 bytes>"
    assert rows["blob"]["message"] == "<BLOB, 3 bytes>" and rows["ctl"]["camera"] == "cam\x1b[2J"  # JSON escapes it
    assert "\x1b" not in out
    code, out, err = list_events(capsys, db)
    assert code == 0 and err == "" and "<BLOB, 9 bytes>" in out and "<BLOB, 10 bytes>" in out
    assert "\x1b" not in out and "\x07" not in out and "cam\\x1b[2J" in out and "rule\\x1b]0;owned\\x07" in out
