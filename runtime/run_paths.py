"""Every file a run reads, keeps and writes, checked against each other before anything is opened.

A recording is renamed into place at the end of a run, the report files replace theirs, the alert log and the
stores are written all along: aimed at the event store, the MQTT outbox or the source, any of them would destroy it.
So each path the run writes (the recording and its `.part`, the output folder with its report files and
alerts.jsonl) or keeps (the event store and the MQTT outbox, with SQLite's -wal, -shm and -journal files and the
outbox's lock) must be another file than every other path of the run, the ones it only reads included (the source
file or device, the config file, the scene calibration, the MQTT TLS files). Same file means the same path once
resolved (relative paths, symlinks) or, for files that exist, the same file on disk (`os.path.samefile`: hard
links). And a recording replaces only an earlier recording (`runtime.video.outputs.check_record_path`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError
from edge.paths import user_dir
from edge.pose.scene import calibration_path
from runtime.alerts.mqtt import outbox_path
from runtime.alerts.outbox import lock_path
from runtime.config import RunConfig
from runtime.report import REPORT_FILES
from runtime.video.outputs import check_record_path
from runtime.video.uri import SourceSpec

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
SHIFT_REPORT_MARK = "report.pdf"  # what `ergoedge report` writes beside its report.html and a run never does
_RANK = {"read": 0, "store": 1, "write": 2}  # a message names the path that would do the damage first


@dataclass(frozen=True)
class RunPath:
    """One path of a run: what it is (for messages), where, and whether the run reads, keeps or writes it."""

    what: str
    path: Path
    use: str  # "read", "store" or "write"


def event_store_path(config: RunConfig) -> Path | None:
    """The run's SQLite event store (None when `sinks.sqlite` is "": no store)."""
    db = config.sinks.sqlite
    if db == "":
        return None
    return Path(db).expanduser() if db else user_dir("data") / "events.db"


def run_paths(config: RunConfig, spec: SourceSpec, camera: str, out: Path,
              config_file: str | os.PathLike | None = None) -> list[RunPath]:
    """Every path the run with `config` on `spec` (as `camera`, writing into `out`) reads, keeps or writes."""
    paths: list[RunPath] = []

    def add(use: str, what: str, path) -> None:
        paths.append(RunPath(what, Path(path), use))

    def add_sqlite(what: str, path: Path) -> None:
        add("store", what, path)
        for side in SQLITE_SIDE_FILES:
            add("store", f"{what}'s {side[1:]} file", path.with_name(path.name + side))

    if spec.kind in ("file", "v4l2"):
        add("read", "the source", spec.location)
    if config_file is not None:
        add("read", "the config file", config_file)
    add("read", "the scene calibration", calibration_path(camera, config.scene_dir))
    db = event_store_path(config)
    if db is not None:
        add_sqlite("the event store", db)
    mqtt = config.sinks.mqtt
    if mqtt is not None:
        box = outbox_path(mqtt, camera)
        add_sqlite("the MQTT outbox", box)
        add("store", "the MQTT outbox's lock", lock_path(box))
        for name in ("ca_certs", "certfile", "keyfile"):
            if mqtt.tls is not None and getattr(mqtt.tls, name):
                add("read", f"the MQTT TLS {name}", Path(getattr(mqtt.tls, name)).expanduser())
    add("write", "the output folder", out)
    for ext in REPORT_FILES:
        add("write", f"the report ({ext})", out / f"report.{ext}")
    if config.sinks.jsonl:
        add("write", "the alert log", out / "alerts.jsonl")
    if config.output.record:
        record = Path(config.output.record).expanduser()
        add("write", "the recording (--record)", record)
        add("write", "the recording's unfinished file", record.with_name(record.name + ".part"))
    return paths


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether `a` and `b` name one file: one path once resolved, or one file on disk (a hard link)."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:  # one of them does not exist (yet)
        pass
    return _resolved(a) == _resolved(b)


def _resolved(path: str | os.PathLike) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare it as written
        return Path(os.path.abspath(Path(path).expanduser()))


def check_run_paths(config: RunConfig, spec: SourceSpec, camera: str, out: Path,
                    config_file: str | os.PathLike | None = None) -> None:
    """A one-line InputError when a path the run writes or keeps is the same file as another path of the run, when
    the output folder or a store cannot be created there, when the output folder holds a shift report, or when the
    recording cannot or must not be made (`check_record_target`). Opens and creates nothing."""
    paths = run_paths(config, spec, camera, out, config_file)
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            if (a.use != "read" or b.use != "read") and same_file(a.path, b.path):
                first, second = sorted((a, b), key=lambda p: -_RANK[p.use])
                raise InputError(f"{first.what} {first.path} is the same file as {second.what} {second.path}: "
                                 f"the run would destroy it; give each its own file")
    for path in paths:  # the stores' folders (their side files share them) and the output folder's
        if path.use == "store" or path.path == Path(out):
            _check_creatable(path.what, path.path.expanduser())
    if (Path(out) / SHIFT_REPORT_MARK).exists():  # the run's report.html would replace the shift report's
        raise InputError(f"{out} holds a shift report (`ergoedge report`: {SHIFT_REPORT_MARK}); give the run an "
                         "--out folder of its own")
    if config.output.record:
        check_record_target(Path(config.output.record).expanduser(), out)


def _check_creatable(what: str, path: Path) -> None:
    """`path`'s folder exists or can be made: its nearest existing ancestor is a writable directory (else the run
    would fail at its first frame, after creating the output folder)."""
    parent = Path(os.path.abspath(path)).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot create {what} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot create {what} {path}: directory {parent} is not writable")


def check_record_target(record: Path, out: Path) -> None:
    """The recording can be made at `record`: not a directory, no file there that is not an earlier recording, and
    a writable directory, which must exist unless it lies in the output folder `out` (the run creates that)."""
    check_record_path(record)
    parent = Path(os.path.abspath(record)).parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot record to {record}: {parent} is not a directory")
    if not parent.exists():
        inside = _resolved(parent) == _resolved(out) or _resolved(out) in _resolved(parent).parents
        if not inside:
            raise InputError(f"cannot record to {record}: directory {parent} does not exist (create it, or record "
                             f"into the --out folder)")
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise InputError(f"cannot record to {record}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot record to {record}: directory {parent} is not writable")
