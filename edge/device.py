"""What device this is: the one place that decides whether ergo-edge runs on an NVIDIA Jetson."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=1)
def is_jetson() -> bool:
    """True on an NVIDIA Jetson (L4T writes /etc/nv_tegra_release; the device tree names the board)."""
    if Path("/etc/nv_tegra_release").exists():
        return True
    try:
        return "jetson" in Path("/proc/device-tree/model").read_text(errors="ignore").lower()
    except OSError:
        return False
