"""ergo-edge runs offline and reports to no one: the inference libraries' own usage telemetry is switched off, by
each library's documented means, before the library loads.

- ONNX Runtime (1.32's Linux wheels) otherwise writes a device id under $XDG_CACHE_HOME/Microsoft, a session file
  in /tmp, and sends trace events to Microsoft; its Privacy.md names `ORT_DISABLE_TELEMETRY=1`, read once when the
  library initialises.
- OpenVINO's Python package sends an event to Google Analytics on `import openvino` and keeps a client id and
  counters under ~/intel unless ~/intel/openvino_telemetry holds "0", the file its `opt_in_out --opt_out` writes.
A user's own choice (the variable set, or that file present) is left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

ORT_SWITCH = "ORT_DISABLE_TELEMETRY"


def quiet_onnxruntime() -> None:
    """Call before the process first imports onnxruntime (later calls change nothing)."""
    os.environ.setdefault(ORT_SWITCH, "1")


def openvino_consent_file() -> Path:
    return Path.home() / "intel" / "openvino_telemetry"


def quiet_openvino() -> None:
    """Call before importing openvino: OpenVINO's opt-out recorded unless the user has already opted in or out. A
    home that cannot be written is left alone (OpenVINO then cannot keep its client id either, and sends nothing)."""
    consent = openvino_consent_file()
    if consent.exists():
        return
    try:
        consent.parent.mkdir(parents=True, exist_ok=True)
        consent.write_text("0")
    except OSError:
        pass
