"""Where the traceback of an internal error goes, so that a crash loop under systemd can be diagnosed.

The user sees one line (`edge.cli.main`); the traceback goes through `logging` to the system log when there is
one (journald and syslog daemons listen on `SYSLOG_ADDRESS`, identifier "ergoedge"), else it is appended to
`<state dir>/ergoedge.log` (`edge.paths.user_dir("state")`), rotated at `LOG_MAX_BYTES` with `LOG_BACKUPS` old
files kept. Never into the working directory: a relative state directory is not used.
"""

from __future__ import annotations

import logging
import logging.handlers
import os

from edge import __version__
from edge.paths import user_dir

SYSLOG_ADDRESS = "/dev/log"
IDENTIFIER = "ergoedge"
LOG_NAME = "ergoedge.log"
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3


def record_traceback(exc: BaseException) -> str | None:
    """Log `exc` with its traceback; where it went ("the system journal ...", a file path) or None if nowhere."""
    for make_handler in (_syslog_handler, _file_handler):
        handler, where = make_handler()
        if handler is not None and _emit(handler, exc):
            return where
    return None


def _syslog_handler() -> tuple[logging.Handler | None, str]:
    """A handler on the system log socket, or None when no daemon listens there."""
    try:
        handler = logging.handlers.SysLogHandler(address=SYSLOG_ADDRESS)
    except OSError:
        return None, ""
    handler.ident = f"{IDENTIFIER}[{os.getpid()}]: "  # journald reads SYSLOG_IDENTIFIER from this prefix
    if os.path.realpath(SYSLOG_ADDRESS).startswith("/run/systemd/journal/"):
        return handler, f"the system journal (journalctl -t {IDENTIFIER})"
    return handler, "the system log"


def _file_handler() -> tuple[logging.Handler | None, str]:
    """A rotating handler on the state directory's log file, or None when that directory is unusable."""
    try:
        directory = user_dir("state")
        if not directory.is_absolute():
            return None, ""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / LOG_NAME
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                                       encoding="utf-8")
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return None, ""
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    return handler, str(path)


def _emit(handler: logging.Handler, exc: BaseException) -> bool:
    """Log the traceback through `handler` alone; False when it could not be delivered."""
    failed = []
    handler.handleError = failed.append  # a failed write is reported by the caller, not as a second traceback
    logger = logging.getLogger("ergoedge.crash")
    logger.propagate = False  # never to the console: the user gets one line
    logger.addHandler(handler)
    try:
        logger.error("ergo-edge %s: internal error (pid %d)", __version__, os.getpid(),
                     exc_info=(type(exc), exc, exc.__traceback__))
    finally:
        logger.removeHandler(handler)
        handler.close()
    return not failed
