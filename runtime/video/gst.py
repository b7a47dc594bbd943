"""GStreamer from Python, initialised once for the whole process.

Every module that builds pipelines goes through `gst()`: the GstApp and GstVideo typelibs must be loaded before the
first appsink/appsrc object is wrapped, or PyGObject caches a wrapper class without their methods (a pipeline built
by one module would then break another's `try_pull_sample`).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from edge.errors import InputError

_GST_INSTALL = (
    "GStreamer's Python bindings are not installed: apt-get install python3-gi python3-gst-1.0 "
    "gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-libav (on Jetson they come with JetPack); "
    "in a virtual environment link Debian's gi package into site-packages (see README, GStreamer)"
)


_GST: Any = None
_GST_LOCK = threading.Lock()


def _keep_gcc_unwinder() -> None:
    """Put GCC's unwinder (libgcc_s) in the global symbol scope before GStreamer's core library brings in
    libunwind: otherwise libunwind's `_Unwind_Resume` wins for every native library loaded later, and a C++
    exception thrown and caught inside one (OpenVINO's device enumeration throws while probing plugins) aborts
    the process (seen with openvino 2026.4 on Debian 12's GStreamer 1.22, in gdb: __libunwind_Unwind_Resume)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("gcc_s") or "libgcc_s.so.1"
    try:
        ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    except OSError:  # not a GNU toolchain system: nothing to keep
        pass


def gst() -> Any:
    """Import and initialise GStreamer once; returns a namespace with Gst, GstApp, GstVideo, GLib."""
    global _GST
    with _GST_LOCK:
        if _GST is None:
            _keep_gcc_unwinder()
            try:
                import gi

                gi.require_version("Gst", "1.0")
                gi.require_version("GstApp", "1.0")
                gi.require_version("GstVideo", "1.0")
                from gi.repository import GLib, Gst, GstApp, GstVideo
            except (ImportError, ValueError):
                raise InputError(_GST_INSTALL) from None
            if not Gst.is_initialized():
                try:
                    Gst.init(None)
                except Exception as exc:  # GLib.Error; no other failure is expected here
                    raise InputError(f"GStreamer failed to initialise: {exc}") from None

            _GST = SimpleNamespace(Gst=Gst, GstApp=GstApp, GstVideo=GstVideo, GLib=GLib)
        return _GST


def has_element(name: str) -> bool:
    """Whether GStreamer has an element factory called `name` (False when GStreamer itself is missing)."""
    try:
        return gst().Gst.ElementFactory.find(name) is not None
    except InputError:
        return False


def jetson_elements() -> bool:
    """Whether NVIDIA's Jetson elements (nvv4l2decoder, nvvidconv) may be used: a Jetson (`edge.device`) whose
    GStreamer has them."""
    from edge.device import is_jetson

    return is_jetson() and all(has_element(name) for name in ("nvv4l2decoder", "nvvidconv"))
