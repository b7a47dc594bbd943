"""Where ergo-edge keeps its own files, and the one way it replaces a file.

Per-user directories follow the XDG base directory rules, the same way for every kind: an explicit override (a
command-line option or a config value) wins, then the kind's own environment variable, then `$XDG_*_HOME` when it
is an absolute path (the specification says relative values are invalid and must be ignored), then the
specification's default under the home directory. Nothing is ever written into the working directory.

`atomic_write` writes beside the target and renames it into place, so that a crash never leaves a half-written
file where a good one was; `atomic_path` does the same for writers that want a file name (numpy, matplotlib).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError


@dataclass(frozen=True)
class _UserDir:
    xdg_variable: str
    xdg_default: str  # under the home directory
    subdirectory: str
    environment: str | None  # ergo-edge's own override variable


USER_DIRS = {
    "models": _UserDir("XDG_CACHE_HOME", ".cache", "ergo-edge/models", "ERGOEDGE_MODELS"),
    "cache": _UserDir("XDG_CACHE_HOME", ".cache", "ergo-edge", None),  # the model fetch's tools and downloads
    "scenes": _UserDir("XDG_CONFIG_HOME", ".config", "ergo-edge/scenes", "ERGOEDGE_SCENES"),
    "data": _UserDir("XDG_DATA_HOME", ".local/share", "ergo-edge", None),
    "state": _UserDir("XDG_STATE_HOME", ".local/state", "ergo-edge", "ERGOEDGE_STATE_DIR"),
}


def user_dir(kind: str, override: str | os.PathLike | None = None) -> Path:
    """The directory for `kind` ("models", "cache", "scenes", "data" or "state"); see the module docstring for the
    order."""
    spec = USER_DIRS[kind]
    if override is not None and str(override) != "":
        return Path(override).expanduser()
    own = os.environ.get(spec.environment) if spec.environment else None
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get(spec.xdg_variable)
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / spec.xdg_default
    return base / spec.subdirectory


def output_dir(path: str | os.PathLike) -> Path:
    """An output directory (`--out`) as the user gave it, checked but not created: an empty name (which would be the
    working directory) and an existing file are refused. Writers create it when they write their first file, so a
    command that fails early leaves no empty folder behind."""
    if str(path).strip() == "":
        raise InputError("the output directory is empty: give --out a directory name")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} is a file, not a directory: give --out a new or existing directory")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary name beside `path` to write to; renamed to `path` when the block ends without an exception,
    removed otherwise. `suffix` keeps an extension that a writer looks at (".npz", ".png").

    The name is new each time and the file is created here, empty, with O_EXCL (mode 0666 less the umask, as any
    new file): a fixed name would follow a symbolic link planted under it onto another file, and two writers of
    one target would write into each other's file."""
    path = Path(path)
    while True:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_paths(paths: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """`atomic_path` for several files that belong together: a temporary name for each (keeping its extension),
    all renamed into place once the block ends without an exception, none otherwise; so an interrupt never leaves
    new files beside old ones of an earlier run."""
    with contextlib.ExitStack() as stack:
        yield {key: stack.enter_context(atomic_path(path, suffix=Path(path).suffix)) for key, path in paths.items()}


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Replace `path` with `data` (text is written as UTF-8) in one rename."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created with its folder) between processes that install into one
    directory (POSIX flock; elsewhere nothing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
