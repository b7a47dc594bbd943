"""What device this is: the one place that decides whether ergo-edge runs on an NVIDIA Jetson, and which CPU
facts matter to the models it runs (`cpu_facts`, `int8_weights_saturate`)."""

from __future__ import annotations

import functools
import platform
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


@functools.lru_cache(maxsize=1)
def cpu_facts() -> tuple[str, frozenset[str]]:
    """This machine's architecture (platform.machine()) and CPU flags (Linux's /proc/cpuinfo; none elsewhere)."""
    flags: frozenset[str] = frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = frozenset(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return platform.machine(), flags


def int8_weights_saturate(machine: str, cpu_flags: frozenset[str]) -> bool:
    """True on x86 CPUs without VNNI (`avx512_vnni`, `avx_vnni`): their integer kernels multiply uint8 activations
    by int8 weights with an instruction that sums pairs of products in 16 bits and saturates, which wrecks an INT8
    model's outputs (BlazePose's CPU-form INT8 found nobody there; calibration/pose_recipe.py)."""
    x86 = machine.lower() in ("x86_64", "amd64", "i386", "i686")
    return x86 and not cpu_flags & {"avx512_vnni", "avx_vnni"}
