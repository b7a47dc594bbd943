"""Video sinks for annotated frames: an MP4 recorder, an RTSP server and an on-screen display, all fed BGR numpy
frames through GStreamer's appsrc.

    with VideoRecorder("out.mp4", fps=30, width=640, height=480) as rec:
        rec.write(frame)                      # (480, 640, 3) uint8 BGR; raises if the pipeline failed
    server = RtspServer(port=8554, path="/ergo", fps=30, width=640, height=480)   # 127.0.0.1 only
    server.write(frame)                       # dropped cheaply while no client watches; server.url to connect
    RtspServer(address="0.0.0.0", user="viewer", password="...")   # the network: viewers must authenticate
    server.close()

The pipeline descriptions come from `runtime.video.pipelines` (pure functions, testable without GStreamer).
GStreamer (gi) is imported only when a sink is constructed; a missing binding is an InputError that says what to
install. Every pipeline construction and state change is checked; a failure is a one-line RuntimeError carrying
GStreamer's own message, and teardown always ends in the NULL state.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from edge.device import is_jetson
from edge.config import check_number
from edge.errors import InputError
from runtime.network import check_rtsp_output
from runtime.video.gst import has_element
from runtime.video.pipelines import (display_available, display_description, framerate, recorder_description,
                                     rtsp_launch_description, select_encoder)

__all__ = ["DisplayOutput", "RtspServer", "VideoRecorder", "check_record_path", "is_recording", "require_display"]


def _gst():
    """Gst, initialised once for the process with the typelibs every module needs (runtime.video.gst)."""
    from runtime.video.gst import gst

    return gst().Gst


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else "unknown error"


def _error_text(msg) -> str:
    err, _debug = msg.parse_error()
    src = msg.src.get_name() if msg.src is not None else "?"
    return f"{src}: {_first_line(err.message)}"


def _launch(Gst, description: str, what: str):
    from gi.repository import GLib

    try:
        pipeline = Gst.parse_launch(description)
    except GLib.Error as exc:
        raise RuntimeError(f"{what}: cannot build pipeline: {_first_line(exc.message)}") from None
    if pipeline is None:
        raise RuntimeError(f"{what}: cannot build pipeline from {description!r}")
    return pipeline


def _element(pipeline, name: str, what: str):
    el = pipeline.get_by_name(name)
    if el is None:
        raise RuntimeError(f"{what}: pipeline has no element named {name!r}")
    return el


def _frame_bytes(frame: np.ndarray, width: int, height: int, what: str) -> bytes:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (height, width, 3):
        raise InputError(f"{what}: expected a BGR uint8 frame of shape ({height}, {width}, 3), got "
                         f"{getattr(frame, 'shape', None)} {getattr(frame, 'dtype', type(frame).__name__)}")
    return np.ascontiguousarray(frame).tobytes()


class _AppSrcPipeline:
    """A pipeline fed from an appsrc named "src", polled on its bus (no main loop needed)."""

    def __init__(self, description: str, what: str, configure: Callable | None = None) -> None:
        self._what = what
        self._Gst = Gst = _gst()
        self._pipeline = _launch(Gst, description, what)
        try:
            self._src = _element(self._pipeline, "src", what)
            if configure is not None:
                configure(self._pipeline)
            self._bus = self._pipeline.get_bus()
            if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                raise RuntimeError(f"{what}: cannot start: {self._pending_error() or 'state change failed'}")
        except BaseException:
            self._pipeline.set_state(Gst.State.NULL)
            raise

    def _pending_error(self) -> str | None:
        """Drain the bus (so messages cannot pile up over a long run); the first error's text, if any."""
        Gst = self._Gst
        first = None
        while True:
            msg = self._bus.pop()
            if msg is None:
                return first
            if msg.type == Gst.MessageType.ERROR and first is None:
                first = _error_text(msg)

    def _raise_if_failed(self) -> None:
        error = self._pending_error()
        if error:
            raise RuntimeError(f"{self._what}: {error}")

    def _push(self, data: bytes, pts: int | None = None, duration: int | None = None):
        Gst = self._Gst
        buf = Gst.Buffer.new_wrapped(data)
        if pts is not None:
            buf.pts = buf.dts = pts
            buf.duration = duration
        return self._src.emit("push-buffer", buf)

    def _stop(self) -> None:
        self._pipeline.set_state(self._Gst.State.NULL)


# -------------------------------------------------------------------------------------------------------- recorder

# mp4mux's ftyp box: major brand mp42, minor version 0, then compatible brands (mp42 mp41 isom iso2 here; the others
# allowed in case another GStreamer release adds one). Any other MP4 (a camera's, ffmpeg's) is not a recording.
_RECORDING_BRANDS = {b"mp42", b"mp41", b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"avc1"}


_TAG_SEARCH_BYTES = 1 << 20  # mp4mux writes the metadata (udta) last, at the very end of the file


def is_recording(path: str | os.PathLike, finished: bool = True) -> bool:
    """Whether `path` is a regular file that starts like an MP4 this product writes (mp4mux's ftyp box) and, when
    `finished`, carries the comment every recording gets (pipelines.RECORDING_TAG; a camera's or anyone else's MP4
    starts the same way). An unfinished `<path>.part` has no metadata yet: `finished=False` checks the start only."""
    from runtime.video.pipelines import RECORDING_TAG

    try:
        with open(path, "rb") as fh:
            if not Path(path).is_file():
                return False
            head = fh.read(64)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAG_SEARCH_BYTES))
            tail = fh.read() if finished else b""
    except OSError:
        return False
    box = int.from_bytes(head[:4], "big")
    if len(head) < 16 or head[4:8] != b"ftyp" or not 16 <= box <= len(head) or (box - 16) % 4:
        return False
    brands = {head[i:i + 4] for i in range(16, box, 4)}
    if head[8:16] != b"mp42" + bytes(4) or b"mp42" not in brands or not brands <= _RECORDING_BRANDS:
        return False
    return not finished or RECORDING_TAG.encode() in tail


def check_record_path(path: str | os.PathLike) -> Path:
    """`path` as a recording target, or an InputError: a directory, or an existing file (or `<path>.part`) that is
    not an earlier recording, is refused: a recording replaces only a recording."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot record to {path}: it is a directory (give a file name, e.g. {path / 'run.mp4'})")
    for target, finished in ((path, True), (path.with_name(path.name + ".part"), False)):
        if (target.exists() or target.is_symlink()) and not is_recording(target, finished):
            raise InputError(f"cannot record to {path}: {target} exists and is not an earlier recording (only an MP4 "
                             f"written by ergo-edge is replaced); move it away or record to another file")
    return path


class VideoRecorder:
    """Encode BGR frames to an H.264 MP4 file.

    Frames are timestamped from their index (frame i at i/fps), so the file plays at `fps` however fast or unevenly
    frames arrive. The file is written as `<path>.part` and renamed to `path` only once mp4mux has finalised it
    (EOS reached the sink), so a file at `path` is always complete and playable:
      - close() with no frames written: nothing is left at `path` or `<path>.part` (an MP4 without frames is not a
        recording); `frames_written` is 0.
      - a pipeline error (raised by write() or close()) or an EOS timeout (close()): RuntimeError; the unfinished
        `<path>.part` is kept for inspection (an MP4 without its index is generally unplayable), `path` is not
        created. close() after a write() error only tears down; it does not raise the same error again.
    An existing file at `path` is replaced only on success, and only when it is an earlier recording
    (`check_record_path`: a directory or any other file is refused at construction).
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int, bitrate_kbps: int = 4000,
                 encoder: str | None = None, eos_timeout_s: float = 10.0, queue_frames: int = 4) -> None:
        self.path = Path(path)
        self.part_path = self.path.with_name(self.path.name + ".part")
        self.fps, self.width, self.height = fps, int(width), int(height)
        self._num, self._den = framerate(fps)
        check_record_path(self.path)
        if not self.path.parent.is_dir():
            raise InputError(f"cannot record to {self.path}: directory {self.path.parent} does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise InputError(f"cannot record to {self.path}: directory {self.path.parent} is not writable")
        self.encoder = encoder or select_encoder(is_jetson(), has_element)
        self.description = recorder_description(fps, width, height, bitrate_kbps, self.encoder)
        self._eos_timeout_s = float(eos_timeout_s)
        self._max_bytes = max(1, int(queue_frames)) * self.width * self.height * 3
        self.frames_written = 0
        self._closed = False
        self._failed: str | None = None  # the pipeline's error, once it has stopped on one

        def configure(pipeline):
            _element(pipeline, "sink", "video recorder").set_property("location", str(self.part_path))
            _element(pipeline, "src", "video recorder").set_property("max-bytes", self._max_bytes)

        try:
            self._p = _AppSrcPipeline(self.description, f"video recorder ({self.path.name})", configure)
        except BaseException:
            self.part_path.unlink(missing_ok=True)
            raise

    def _pts(self, index: int) -> int:
        Gst = self._p._Gst
        return Gst.util_uint64_scale(index, Gst.SECOND * self._den, self._num)

    def write(self, frame: np.ndarray) -> None:
        """Queue one frame for encoding; RuntimeError if the pipeline has failed."""
        if self._closed:
            raise RuntimeError(f"video recorder ({self.path.name}): write after close")
        if self._failed:
            raise RuntimeError(self._failed)
        data = _frame_bytes(frame, self.width, self.height, "video recorder")
        p, Gst = self._p, self._p._Gst
        error = p._pending_error()
        if error is None:
            pts = self._pts(self.frames_written)
            ret = p._push(data, pts, self._pts(self.frames_written + 1) - pts)
            if ret != Gst.FlowReturn.OK:
                error = f"push failed ({ret.value_nick})" + (f": {e}" if (e := p._pending_error()) else "")
            else:
                self.frames_written += 1
        # appsrc does not block (block=true could hang forever once the pipeline has stopped on an error), so bound
        # its queue here: wait while more than queue_frames are pending, watching the bus for errors.
        while error is None and p._src.get_property("current-level-bytes") > self._max_bytes:
            msg = p._bus.timed_pop_filtered(2 * Gst.MSECOND, Gst.MessageType.ERROR)
            if msg is not None:
                error = _error_text(msg)
        if error is not None:
            # Remembered so that close() does not wait for an EOS a stopped pipeline will never deliver.
            self._failed = f"{p._what}: {error}"
            raise RuntimeError(self._failed)

    def close(self) -> None:
        """Finish the file (EOS, wait for mp4mux to write its index), stop the pipeline, rename into place."""
        if self._closed:
            return
        self._closed = True
        p, Gst = self._p, self._p._Gst
        finished = False
        try:
            if self.frames_written == 0:
                return
            if self._failed:
                return  # already raised by write(); the unfinished .part stays for inspection
            p._src.emit("end-of-stream")
            msg = p._bus.timed_pop_filtered(int(self._eos_timeout_s * Gst.SECOND),
                                            Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if msg is None:
                raise RuntimeError(f"{p._what}: not finalised within {self._eos_timeout_s:g} s; "
                                   f"unfinished file left at {self.part_path}")
            if msg.type == Gst.MessageType.ERROR:
                raise RuntimeError(f"{p._what}: {_error_text(msg)}; unfinished file left at {self.part_path}")
            finished = True
        finally:
            p._stop()
            if finished:
                os.replace(self.part_path, self.path)
            elif self.frames_written == 0:
                self.part_path.unlink(missing_ok=True)

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------------- RTSP server

class RtspServer:
    """Serve annotated frames as H.264 over RTSP at rtsp://<host>:<port><path>.

    One shared media for all viewers. Its appsrc exists only while a viewer is connected: `write` drops the frame
    (returns False, before any copy) when nobody watches. The server's GLib main loop runs in a daemon thread, which
    serves the viewers too (a viewer's first request waits there for the first frame written).
    port=0 picks a free port (see `port` / `url` after construction).

    It listens on `address` (default 127.0.0.1: this machine only). With `user` and `password` a viewer must
    authenticate (RTSP digest: unlike basic authentication, the password never crosses the network; the video
    itself is not encrypted). Any other address without credentials is refused unless `allow_anonymous`.
    """

    def __init__(self, port: int = 8554, path: str = "/ergo", fps: float = 30.0, width: int = 640,
                 height: int = 480, bitrate_kbps: int = 2000, address: str = "127.0.0.1",
                 encoder: str | None = None, user: str | None = None, password: str | None = None,
                 allow_anonymous: bool = False) -> None:
        check_rtsp_output(address, user, password, allow_anonymous)
        if not path.startswith("/") or len(path) < 2:
            raise InputError(f"RTSP mount path must start with '/' and name the stream, got {path!r}")
        check_number(port, "RTSP port", integer=True, minimum=0, maximum=65535)
        self.width, self.height, self.fps = int(width), int(height), fps
        self.encoder = encoder or select_encoder(is_jetson(), has_element)
        self.description = rtsp_launch_description(fps, width, height, bitrate_kbps, self.encoder)
        self.mount = path
        self.frames_sent = 0
        self.frames_dropped = 0
        self._lock = threading.Lock()
        self._appsrc = None
        self._closed = False

        self._Gst = _gst()
        try:
            import gi

            gi.require_version("GstRtspServer", "1.0")
            gi.require_version("GstRtsp", "1.0")
            from gi.repository import GLib, GstRtsp, GstRtspServer
        except (ImportError, ValueError) as exc:
            raise InputError(f"GStreamer RTSP server bindings not available ({exc}): install "
                             f"gir1.2-gst-rtsp-server-1.0") from None
        self._GLib = GLib
        self._server = GstRtspServer.RTSPServer()
        self._server.set_address(address)
        self._server.set_service(str(port))
        # Viewers are served on the server's own thread, not the default pool thread: `close` removes them from
        # this thread, and removing a client served on another thread races its connection's watch (GStreamer
        # 1.22), which then spins on the closed socket for good (a core and a GLib critical line each turn).
        self._server.get_thread_pool().set_max_threads(0)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(self.description)
        factory.set_shared(True)
        factory.connect("media-configure", self._on_media_configure)
        if user is not None:
            _require_login(self._server, factory, user, password, GstRtspServer, GstRtsp)
        self._server.get_mount_points().add_factory(path, factory)

        # A private context, so the server never depends on (or disturbs) a default main loop the app may run.
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._source_id = self._server.attach(self._context)
        if self._source_id == 0:
            raise RuntimeError(f"RTSP server: cannot listen on {address}:{port} (port in use or not allowed?)")
        self.port = int(self._server.get_bound_port())
        host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
        self.url = f"rtsp://{host}:{self.port}{path}"
        self._thread = threading.Thread(target=self._loop.run, name="rtsp-server", daemon=True)
        self._thread.start()

    # Called from the server's thread when a viewer's DESCRIBE/SETUP builds the (shared) media.
    def _on_media_configure(self, factory, media) -> None:
        src = media.get_element().get_by_name("src")
        media.connect("unprepared", self._on_unprepared)
        with self._lock:
            self._appsrc = src

    def _on_unprepared(self, media) -> None:
        with self._lock:
            self._appsrc = None

    @property
    def has_viewer(self) -> bool:
        with self._lock:
            return self._appsrc is not None

    def write(self, frame: np.ndarray) -> bool:
        """Offer one frame to viewers; True if it was queued, False if dropped (no viewer, or media shutting down)."""
        if self._closed:
            raise RuntimeError("RTSP server: write after close")
        with self._lock:
            src = self._appsrc
        if src is None:
            self.frames_dropped += 1
            return False
        data = _frame_bytes(frame, self.width, self.height, "RTSP server")
        ret = src.emit("push-buffer", self._Gst.Buffer.new_wrapped(data))
        if ret != self._Gst.FlowReturn.OK:
            # FLUSHING/EOS while a viewer disconnects: the media owns its errors; a lost frame is all it costs here.
            self.frames_dropped += 1
            return False
        self.frames_sent += 1
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Disconnect viewers, stop listening, stop the main loop thread; returns within about `timeout_s`. (A viewer
        whose first request still waits for a frame holds the server's thread until GStreamer gives up on it, 20 s;
        the thread then finishes on its own.)"""
        if self._closed:
            return
        self._closed = True
        from gi.repository import GstRtspServer

        done = threading.Event()

        def shutdown():
            # Removing the clients tears their sessions down, which unprepares the media (pipeline to NULL).
            self._server.client_filter(lambda server, client, *_: GstRtspServer.RTSPFilterResult.REMOVE)
            source = self._context.find_source_by_id(self._source_id)
            if source is not None:
                source.destroy()
            done.set()
            return False

        deadline = time.monotonic() + timeout_s
        try:
            self._context.invoke_full(self._GLib.PRIORITY_DEFAULT, shutdown)
            done.wait(timeout_s)
            # Let the media finish unpreparing (it posts to this context) before the loop stops.
            while self.has_viewer and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            self._loop.quit()
            self._thread.join(max(0.5, deadline - time.monotonic()))
            with self._lock:
                self._appsrc = None

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _require_login(server, factory, user: str, password: str, GstRtspServer, GstRtsp) -> None:
    """Only `user` with `password` may watch: digest authentication only (a basic-auth client would send the
    password in the clear with every request), and the factory lets only that user's role build and see media."""
    role = "viewer"
    auth = GstRtspServer.RTSPAuth()
    auth.set_realm("ergo-edge")
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", role)
    auth.add_digest(user, password, token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(role, "media.factory.access", True)
    permissions.add_permission_for_role(role, "media.factory.construct", True)
    factory.set_permissions(permissions)


# --------------------------------------------------------------------------------------------------------- display

def require_display(jetson: bool | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether this is a Jetson (`jetson`, else probed); InputError when there is no display to show frames on."""
    jetson = is_jetson() if jetson is None else bool(jetson)
    if not display_available(os.environ if env is None else env, jetson):
        raise InputError("no display available for --show: $DISPLAY and $WAYLAND_DISPLAY are unset "
                         "(use --record FILE or --rtsp-port PORT instead, or run inside a desktop session)")
    return jetson


class DisplayOutput:
    """Show frames in a window (autovideosink; nveglglessink on a Jetson).

    Whether a display exists is checked at construction (InputError "no display available for --show"); the
    pipeline is built on the first frame, from that frame's size.
    """

    def __init__(self, fps: float = 30.0, jetson: bool | None = None, env: Mapping[str, str] | None = None) -> None:
        self.jetson = require_display(jetson, env)
        framerate(fps)
        self.fps = fps
        self._p: _AppSrcPipeline | None = None
        self._size: tuple[int, int] | None = None
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        if self._closed:
            raise RuntimeError("display: write after close")
        if self._p is None:
            if not isinstance(frame, np.ndarray) or frame.ndim != 3:
                raise InputError(f"display: expected a BGR frame (H, W, 3), got {getattr(frame, 'shape', None)}")
            h, w = frame.shape[:2]
            self._p = _AppSrcPipeline(display_description(self.fps, w, h, self.jetson), "display")
            self._size = (w, h)
        w, h = self._size
        data = _frame_bytes(frame, w, h, "display")
        self._p._raise_if_failed()  # e.g. the window was closed
        ret = self._p._push(data)
        if ret != self._p._Gst.FlowReturn.OK:
            raise RuntimeError(f"display: push failed ({ret.value_nick})")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._p is not None:
            self._p._stop()

    def __enter__(self) -> DisplayOutput:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
