"""The progress bar of `ergoedge train` on stderr: redrawn in place on a terminal, one line per epoch otherwise
(a log file or a CI job gets a readable record, not a screen of carriage returns)."""

from __future__ import annotations

import time

_WIDTH = 24


class Progress:
    """One epoch's bar: `update(done, note)` after each step, `clear()` at the end."""

    def __init__(self, stream, total: int, label: str):
        self.stream, self.total, self.label = stream, max(total, 1), label
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.last_draw = 0.0

    def update(self, done: int, note: str = "") -> None:
        if not self.live:
            return
        now = time.monotonic()
        if done < self.total and now - self.last_draw < 0.1:
            return  # at most ten redraws a second
        self.last_draw = now
        filled = round(_WIDTH * done / self.total)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note}\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        """Remove the bar (the caller then writes the epoch's line)."""
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
