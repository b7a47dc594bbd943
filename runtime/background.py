"""`repeating`: a small job done every so often in a thread of its own while a block of code runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def repeating(period_s: float, tick: Callable[[], bool | None], name: str) -> Iterator[None]:
    """While the block runs, call `tick()` every `period_s` seconds in a daemon thread named `name`, until it returns
    True or the block ends; the thread is joined on the way out, so no tick runs after the block."""
    done = threading.Event()

    def loop():
        while not done.wait(period_s):
            if tick():
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
