"""A run's annotated outputs (the recording, the RTSP server, the display), isolated from each other like the
alert sinks.

What can be checked is checked when the set is made, before the run starts (a display for `show`; the recording's
path is checked with every other path of the run in `runtime.run_paths`). The outputs open on the first frame,
whose size they need. An output that fails to open, to take a frame or to close is closed and dropped, and the run
goes on (a broken video never silences an alert); the failure is logged at once, listed by `stats()` for the
report, and `failures()` makes `ergoedge run` exit non-zero with a line on stderr.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.config import OutputConfig


class OutputSet:
    """The outputs `config` asks for, fed one annotated BGR frame at a time; `log` gets each failure's line."""

    def __init__(self, config: OutputConfig, fps: float, log: Callable[[str], None]) -> None:
        self.config, self.fps, self._log = config, fps, log
        if config.show:
            from runtime.video.outputs import require_display

            require_display()  # before the run starts: no display is a one-line error, not a failure later
        wanted = [("recording", config.record), ("RTSP output", self._rtsp_target()),
                  ("display", "the screen" if config.show else None)]
        self._status = {name: {"output": name, "target": str(target), "ok": True, "error": None}
                        for name, target in wanted if target}
        self._live: list[tuple[str, Any]] = []
        self._opened = False

    def _rtsp_target(self) -> str | None:
        o = self.config
        return f"rtsp://{o.rtsp_address}:{o.rtsp_port}{o.rtsp_path}" if o.rtsp_port else None

    @property
    def opened(self) -> bool:
        return self._opened

    @property
    def active(self) -> bool:
        """Whether a frame is still wanted: some output was asked for and has not failed."""
        return bool(self._live) if self._opened else bool(self._status)

    def open(self, size: tuple[int, int]) -> None:
        """Open every output for frames of `size` (width, height); each failure is recorded, none stops the rest."""
        self._opened = True
        o, (width, height) = self.config, size
        for name in list(self._status):
            try:
                if name == "recording":
                    from runtime.video.outputs import VideoRecorder

                    # Checked before the run (runtime.run_paths): a missing directory lies in the output folder.
                    Path(o.record).parent.mkdir(parents=True, exist_ok=True)
                    output = VideoRecorder(o.record, self.fps, width, height)
                elif name == "RTSP output":
                    from runtime.video.outputs import RtspServer

                    output = RtspServer(port=o.rtsp_port, path=o.rtsp_path, fps=self.fps, width=width, height=height,
                                        address=o.rtsp_address, user=o.rtsp_user, password=o.rtsp_password,
                                        allow_anonymous=o.rtsp_allow_anonymous)
                else:
                    from runtime.video.outputs import DisplayOutput

                    output = DisplayOutput(self.fps)
            except Exception as exc:  # noqa: BLE001 - isolation: one output failing must not stop the run
                self._failed(name, "could not start", exc)
            else:
                self._live.append((name, output))

    def write(self, image) -> None:
        for name, output in list(self._live):
            try:
                output.write(image)
            except Exception as exc:  # noqa: BLE001 - same isolation per frame
                self._drop(name, output)
                self._failed(name, "failed", exc)

    def close(self) -> None:
        """Close every output still running (a recording is finalised here); each failure is recorded."""
        live, self._live = self._live, []
        for name, output in live:
            try:
                output.close()
            except Exception as exc:  # noqa: BLE001 - one output failing to close must not lose the others
                self._failed(name, "could not be finished", exc)

    def failures(self) -> list[str]:
        """One line per output that failed, naming it and what went wrong."""
        return [f"{s['output']} {s['target']}: {s['error']}" for s in self._status.values() if not s["ok"]]

    def stats(self) -> list[dict]:
        """Per output asked for: its name, target, whether it worked to the end and, if not, the error."""
        return [dict(s) for s in self._status.values()]

    def _drop(self, name: str, output) -> None:
        self._live = [(n, o) for n, o in self._live if n != name]
        with contextlib.suppress(Exception):  # it has already failed; its close error would add nothing
            output.close()

    def _failed(self, name: str, what: str, exc: Exception) -> None:
        status = self._status[name]
        status["ok"], status["error"] = False, f"{what}: {exc}"
        self._log(f"{name} {status['target']} {what}: {exc} (the run goes on without it)")
