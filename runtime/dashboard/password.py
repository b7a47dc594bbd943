"""`ergoedge dashboard set-password [--stdin] [--config FILE]`: read a password (without echo, or one line from
standard input), hash it (`runtime.dashboard.auth.hash_password`) and print the config line, or write it into the
run config's `[dashboard]` table.

The file is edited as text (only the `password_hash` line of `[dashboard]` changes, comments and layout stay), the
result is parsed again and must hold the new hash and everything else as it was, and it replaces the file in one
rename with the old file's mode and owner (a config holding secrets stays 0640 root:ergoedge).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from edge.errors import InputError
from edge.paths import atomic_path
from runtime.dashboard.auth import check_password, hash_password

_TABLE = re.compile(r"^\s*\[\s*dashboard\s*\]\s*(#.*)?$")
_ANY_TABLE = re.compile(r"^\s*\[")
_KEY = re.compile(r"^\s*password_hash\s*=")


def set_password(config: str | None, from_stdin: bool, stdin=None, out=None) -> str:
    """Read the password, hash it, and write it into `config` (a TOML file) or print the config line; returns the
    hash."""
    stdin, out = stdin or sys.stdin, out or sys.stdout
    password = _read_password(from_stdin, stdin)
    hashed = hash_password(password)
    if config is None:
        out.write(f"[dashboard]\npassword_hash = \"{hashed}\"\n")
    else:
        write_hash(Path(config), hashed)
        out.write(f"dashboard.password_hash written to {config}\n")
    return hashed


def _read_password(from_stdin: bool, stdin) -> str:
    if from_stdin:
        line = stdin.readline()
        return check_password(line.removesuffix("\n"))
    import getpass

    if not stdin.isatty():
        raise InputError("no terminal to read the password from: pipe it in with --stdin")
    password = check_password(getpass.getpass("dashboard password: "))
    if getpass.getpass("again: ") != password:
        raise InputError("the two passwords differ")
    return password


def write_hash(path: Path, hashed: str) -> None:
    """Set `[dashboard] password_hash` in the TOML file `path` (created when missing), keeping the rest."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 on JetPack 6
        import tomli as tomllib

    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a file")
    try:
        old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable UTF-8 text file ({exc})") from None
    try:
        before = tomllib.loads(old_text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); fix it first") from None

    def without_hash(doc: dict) -> dict:
        table = doc.get("dashboard", {})
        return {**doc, "dashboard": {k: v for k, v in table.items() if k != "password_hash"}}

    new_text = _with_hash(old_text, hashed)
    try:
        after = tomllib.loads(new_text)
        ok = after["dashboard"]["password_hash"] == hashed and without_hash(after) == without_hash(before)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:  # e.g. the table written inline or as dotted keys: never guess, say what to add
        raise InputError(f"{path}: cannot place the hash safely; add under [dashboard]: password_hash = \"{hashed}\"")
    st = path.stat() if path.exists() else None
    with atomic_path(path) as tmp:
        tmp.write_text(new_text, encoding="utf-8")
        os.chmod(tmp, st.st_mode & 0o7777 if st else 0o600)  # a new file holding a hash: owner only
        if st is not None and hasattr(os, "chown"):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                pass  # not root: the file stays ours, with the old mode


def _with_hash(text: str, hashed: str) -> str:
    """`text` with `password_hash` set in its `[dashboard]` table (replaced, or added under the header; a table
    appended when there is none)."""
    line = f'password_hash = "{hashed}"'
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if _TABLE.match(ln)), None)
    if start is None:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return f"{text}{sep}[dashboard]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_TABLE.match(lines[i])), len(lines))
    for i in range(start + 1, end):
        if _KEY.match(lines[i]):
            lines[i] = line
            break
    else:
        lines.insert(start + 1, line)
    return "\n".join(lines) + "\n"
