"""What device this is: the one place that decides whether ergo-edge runs on an NVIDIA Jetson."""

from __future__ import annotations

import functools
import re
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


# JetPack releases by their L4T (Jetson Linux) version, for the record in engine manifests; an L4T not listed is
# recorded as such, its JetPack as None.
_JETPACK_BY_L4T = {"36.2.0": "6.0 DP", "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1"}


@functools.lru_cache(maxsize=1)
def l4t_version() -> str | None:
    """The L4T (Jetson Linux) release, e.g. "36.3.0", from /etc/nv_tegra_release ("# R36 (release), REVISION: 3.0,
    ..."); None off a Jetson or when the file does not say."""
    try:
        first = Path("/etc/nv_tegra_release").read_text(errors="ignore").splitlines()[0]
    except (OSError, IndexError):
        return None
    return parse_l4t_release(first)


def parse_l4t_release(line: str) -> str | None:
    """"# R36 (release), REVISION: 3.0, GCID: ..." -> "36.3.0"; None when the line is not in that form."""
    match = re.match(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)\.(\d+)", line)
    return ".".join(match.groups()) if match else None


def jetpack_version(l4t: str | None) -> str | None:
    """The JetPack release that ships L4T `l4t`, where known."""
    return _JETPACK_BY_L4T.get(l4t or "")


@functools.lru_cache(maxsize=1)
def board_name() -> str | None:
    """The board's name from the device tree (e.g. "NVIDIA Jetson AGX Orin Developer Kit"), None elsewhere."""
    try:
        return Path("/proc/device-tree/model").read_text(errors="ignore").strip("\x00\n ") or None
    except OSError:
        return None
