"""runtime.video (uri, pipelines, source): URI parsing and pipeline strings (pure), then real GStreamer pipelines: a
live test pattern, a file this test encodes itself, broken and missing files, and an RTSP server
(tests/rtsp_server.py) that is killed and restarted under a running GstSource. Only 127.0.0.1 is used."""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rtsp_server import free_port, start_server, stop_server  # tests/ is on sys.path (pytest's rootdir import mode)

from edge.errors import InputError
from runtime.video.pipelines import FILE_SINK, LIVE_SINK, quote, source_description
from runtime.video.source import CameraUnavailable, Frame, GstSource, ReconnectPolicy, SourceError
from runtime.video.uri import SourceSpec, parse_source

REPO = Path(__file__).resolve().parents[1]
BGR = "videoconvert ! video/x-raw,format=BGR"


# ------------------------------------------------------------------------------------------------------------------
# parse_source (pure)


def test_parse_test_source_with_options():
    spec = parse_source("test://?pattern=ball&width=640&height=480&fps=30")
    assert spec == SourceSpec(kind="test", location="", width=640, height=480, fps=30.0, pattern="ball")
    assert spec.live is True
    assert parse_source("test://") == SourceSpec(kind="test", location="")
    # explicit arguments beat the URI's options
    assert parse_source("test://?width=640&height=480", width=320, height=240, fps="15").width == 320
    assert parse_source("test://?fps=30000/1001").fps == pytest.approx(29.97, abs=1e-3)


def test_parse_csi_v4l2():
    assert parse_source("csi://0") == SourceSpec(kind="csi", location="0", sensor_id=0)
    spec = parse_source("csi://1?flip=2&width=1280&height=720&fps=60")
    assert (spec.sensor_id, spec.flip_method, spec.width, spec.height, spec.fps) == (1, 2, 1280, 720, 60.0)
    assert parse_source("v4l2:///dev/video0") == SourceSpec(kind="v4l2", location="/dev/video0")
    assert parse_source("v4l2://2").location == "/dev/video2"
    assert parse_source("V4L2:///dev/video0?format=mjpeg").input_format == "mjpeg"


def test_parse_rtsp_keeps_the_servers_query_and_takes_options_from_the_fragment():
    spec = parse_source("rtsp://admin:secret@10.0.0.5:554/Streaming/101?transportmode=unicast#latency=50&codec=h265")
    assert spec.kind == "rtsp" and spec.live
    assert spec.location == "rtsp://admin:secret@10.0.0.5:554/Streaming/101?transportmode=unicast"
    assert (spec.latency_ms, spec.codec, spec.transport) == (50, "h265", "tcp")
    assert spec.label() == "rtsp://admin:***@10.0.0.5:554/Streaming/101?transportmode=unicast"
    assert parse_source("rtsps://cam.local/live").location == "rtsps://cam.local/live"
    assert parse_source("rtsp://127.0.0.1:8554/cam#transport=udp").transport == "udp"


def test_parse_file_uri_and_plain_path(tmp_path, monkeypatch):
    clip = tmp_path / "a clip #1.mp4"
    clip.write_bytes(b"x")
    assert parse_source(str(clip)) == SourceSpec(kind="file", location=str(clip))
    assert parse_source(str(clip)).live is False
    assert parse_source(clip.as_uri()).location == str(clip)  # percent-encoded space and '#'
    assert parse_source(clip.as_uri() + "?width=160&height=120").width == 160
    monkeypatch.chdir(tmp_path)
    assert parse_source("a clip #1.mp4").location == str(clip)  # relative -> absolute, no option parsing


@pytest.mark.parametrize("uri, words", [
    ("http://example.com/x.mp4", "unknown source scheme 'http://'"),
    ("test://?pattern=bal", "pattern must be one of"),
    ("test://?foo=1", "unknown option 'foo'"),
    ("test://?width=abc", "width must be an integer"),
    ("test://?width=0", "width must be a whole number from 1"),
    ("test://?fps=fast", "fps must be a number"),
    ("test://?fps=0", "fps must be a number above 0"),
    ("test://?width=1&width=2", "given twice"),
    ("test://ball", "takes its options as a query"),
    ("csi://front", "needs a sensor number"),
    ("csi://0?flip=9", "flip must be a whole number from 0 to 7"),
    ("v4l2://", "needs a device"),
    ("v4l2:///dev/video0?format=h264", "format must be one of raw, mjpeg"),
    ("rtsp://", "RTSP URL has no host"),
    ("rtsp://host:99999/x", "Port out of range"),
    ("rtsp://host/x#latency=-1", "latency must be a whole number from 0"),
    ("rtsp://host/x#codec=vp8", "codec must be one of h264, h265, auto"),
    ("rtsps://host/x#transport=udp", "needs transport=tcp"),
    ("file://relative.mp4", "file URI must be absolute"),
    ("/no/such/clip.mp4", "no such file: /no/such/clip.mp4"),
    ("", "empty source"),
])
def test_parse_errors_are_one_line_input_errors(uri, words):
    with pytest.raises(InputError) as info:
        parse_source(uri)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_errors_for_directories_and_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="is not a regular file"):
        parse_source(str(tmp_path))
    with pytest.raises(InputError, match="height must be an integer"):
        parse_source("test://", height="2.5")
    with pytest.raises(InputError, match="fps must be a number above 0"):
        parse_source("test://", fps=float("nan"))
    with pytest.raises(InputError, match="file sources are not live"):
        SourceSpec(kind="file", location="/x.mp4", live=True)


def test_reconnect_policy_backoff():
    policy = ReconnectPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert ReconnectPolicy(initial_s=0.2, max_s=1.0, factor=3.0).delay(3) == 1.0
    with pytest.raises(InputError):
        ReconnectPolicy(max_attempts=0)
    with pytest.raises(InputError):
        ReconnectPolicy(initial_s=5.0, max_s=1.0)


# ------------------------------------------------------------------------------------------------------------------
# pipeline_description (pure)


def test_live_and_file_sinks():
    assert LIVE_SINK == "appsink name=sink drop=true max-buffers=1 sync=false emit-signals=false"
    assert FILE_SINK == "appsink name=sink sync=false max-buffers=4 drop=false"


@pytest.mark.parametrize("jetson", [False, True])
def test_pipeline_test_pattern(jetson):
    spec = parse_source("test://?pattern=ball&width=640&height=480&fps=30")
    assert source_description(spec, jetson) == (
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 ! "
        f"{BGR} ! {LIVE_SINK}")


def test_pipeline_csi_needs_jetson():
    spec = parse_source("csi://1?flip=2&width=1280&height=720&fps=30")
    assert source_description(spec, True) == (
        "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
        f"nvvidconv flip-method=2 ! video/x-raw,format=BGRx ! {BGR} ! {LIVE_SINK}")
    with pytest.raises(InputError, match="csi:// cameras need a Jetson"):
        source_description(spec, False)


@pytest.mark.parametrize("jetson", [False, True])
def test_pipeline_v4l2(jetson):
    raw = parse_source("v4l2:///dev/video0?width=640&height=480&fps=30")
    assert source_description(raw, jetson) == (
        f'v4l2src device="/dev/video0" ! video/x-raw,width=640,height=480,framerate=30/1 ! {BGR} ! {LIVE_SINK}')
    mjpeg = parse_source("v4l2://1?format=mjpeg&width=1280&height=720")
    assert source_description(mjpeg, jetson) == (
        f'v4l2src device="/dev/video1" ! image/jpeg,width=1280,height=720 ! jpegdec ! {BGR} ! {LIVE_SINK}')


def test_pipeline_rtsp_cpu_and_jetson():
    spec = parse_source("rtsp://127.0.0.1:8554/cam#latency=100")
    source = 'rtspsrc location="rtsp://127.0.0.1:8554/cam" latency=100 protocols=tcp'
    assert source_description(spec, False) == (
        f"{source} ! rtph264depay ! h264parse ! avdec_h264 ! {BGR} ! {LIVE_SINK}")
    assert source_description(spec, True) == (
        f"{source} ! rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx ! {BGR} ! "
        f"{LIVE_SINK}")
    h265 = parse_source("rtsp://cam/live#codec=h265&transport=udp")
    assert "protocols=udp ! rtph265depay ! h265parse ! avdec_h265 ! videoconvert" in source_description(h265, False)
    assert "rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv" in source_description(h265, True)
    auto = parse_source("rtsp://cam/live#codec=auto&width=640&height=360&fps=15")
    assert source_description(auto, False) == (
        'rtspsrc location="rtsp://cam/live" latency=200 protocols=tcp ! decodebin ! videoscale ! '
        "video/x-raw,width=640,height=360 ! videorate drop-only=true ! video/x-raw,framerate=15/1 ! "
        f"{BGR} ! {LIVE_SINK}")
    assert "decodebin ! nvvidconv ! video/x-raw,format=BGRx,width=640,height=360 ! videorate drop-only=true" in (
        source_description(auto, True))


def test_pipeline_file_cpu_and_jetson(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    spec = parse_source(str(clip))
    assert source_description(spec, False) == f'filesrc location="{clip}" ! decodebin ! {BGR} ! {FILE_SINK}'
    assert source_description(spec, True) == (
        f'filesrc location="{clip}" ! decodebin ! nvvidconv ! video/x-raw,format=BGRx ! {BGR} ! {FILE_SINK}')
    scaled = parse_source(str(clip), width=320, height=240, fps=10)
    assert source_description(scaled, False) == (
        f'filesrc location="{clip}" ! decodebin ! videoscale ! video/x-raw,width=320,height=240 ! videorate ! '
        f"video/x-raw,framerate=10/1 ! {BGR} ! {FILE_SINK}")


def test_locations_are_quoted_and_escaped(tmp_path):
    weird = tmp_path / 'my "best" clip\\ ! x=1.mp4'
    weird.write_bytes(b"x")
    text = source_description(parse_source(str(weird)), False)
    expected = str(weird).replace("\\", "\\\\").replace('"', '\\"')
    assert text.startswith(f'filesrc location="{expected}" ! decodebin')
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    rtsp = parse_source('rtsp://u:p"w@h/x')
    assert 'location="rtsp://u:p\\"w@h/x"' in source_description(rtsp, False)


def test_import_does_not_load_gstreamer():
    code = "import sys, runtime.video.source; print('gi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_gstreamer_is_a_clear_input_error(monkeypatch):
    from runtime.video import gst as gst_module

    monkeypatch.setattr(gst_module, "_GST", None)
    monkeypatch.setitem(sys.modules, "gi", None)  # "import gi" now raises ImportError
    with pytest.raises(InputError, match="GStreamer's Python bindings are not installed: apt-get install python3-gi"):
        gst_module.gst()
    assert gst_module.has_element("videotestsrc") is False
    assert gst_module.jetson_elements() is False


# ------------------------------------------------------------------------------------------------------------------
# Real pipelines


def _encode(Gst, path: Path, frames: int, width: int, height: int, fps: int = 30) -> None:
    """Encode an H.264 MP4 of a moving ball with GStreamer (the test makes its own footage)."""
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={width},height={height},"
        f"framerate={fps}/1 ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={quote(str(path))}")
    try:
        assert pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
        message = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ERROR | Gst.MessageType.EOS)
        assert message is not None and message.type == Gst.MessageType.EOS, message
    finally:
        pipeline.set_state(Gst.State.NULL)


@pytest.fixture(scope="module")
def clip(gst, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "ball 320x240.mp4"
    _encode(gst, path, frames=60, width=320, height=240)
    return path


def test_live_test_source_frames_and_freshness(gst):
    with GstSource("test://?pattern=ball&width=640&height=480&fps=30") as source:
        frames = [next(source) for _ in range(10)]
        assert all(isinstance(f, Frame) for f in frames)
        assert [f.index for f in frames] == list(range(10))
        assert all(f.image.shape == (480, 640, 3) and f.image.dtype == np.uint8 for f in frames)
        assert all(f.image.flags["C_CONTIGUOUS"] and f.image.flags["OWNDATA"] for f in frames)
        assert all(b.pts_s > a.pts_s for a, b in itertools.pairwise(frames))
        assert not np.array_equal(frames[0].image, frames[-1].image)  # the ball moves
        ages, queued = [], []
        for _ in range(3):
            time.sleep(0.5)  # a slow consumer
            frame = next(source)
            ages.append(source.stream_time_s() - frame.pts_s)  # how old the frame is on the pipeline clock
            count = 1
            while True:  # frames that come back at once were queued; the next fresh one takes ~1/30 s
                start = time.perf_counter()
                next(source)
                if time.perf_counter() - start > 0.010:
                    break
                count += 1
            queued.append(count)
        stats = source.stats()
    print(f"\nlive test source after 0.5 s sleeps: frame age {[round(a * 1e3, 1) for a in ages]} ms, "
          f"frames queued {queued}, dropped {stats['dropped']}")
    assert max(queued) <= 2
    assert statistics.median(ages) < 2 / 30  # no more than 2 frames behind the clock
    assert stats["dropped"] >= 3 * 10  # ~15 frames per 0.5 s sleep were dropped, not queued
    assert stats["gaps"] == [] and stats["reconnects"] == 0


def test_stride_padding_is_respected(gst):
    # 321 BGR pixels = 963 bytes, GStreamer pads rows to 964: a stride bug would shift the colours row by row.
    with GstSource("test://?pattern=red&width=321&height=41") as source:
        image = next(source).image
    assert image.shape == (41, 321, 3)
    assert np.abs(image.astype(int) - [0, 0, 255]).max() <= 3


def test_close_from_another_thread_stops_iteration(gst):
    source = GstSource("test://?width=160&height=120&fps=30")
    timer = threading.Timer(0.3, source.close)
    timer.start()
    count = sum(1 for _ in source)
    timer.join()
    assert 3 <= count <= 30
    assert source.stream_time_s() is None


def test_file_delivers_every_frame_in_order(gst, clip):
    with GstSource(str(clip)) as source:
        frames = list(source)
        stats = source.stats()
    assert len(frames) == 60
    assert [f.index for f in frames] == list(range(60))
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    pts = np.array([f.pts_s for f in frames])
    assert np.all(np.diff(pts) > 0)
    np.testing.assert_allclose(pts, np.arange(60) / 30, atol=2e-3)
    assert all(f.session == 0 for f in frames)
    assert stats["frames"] == 60 and stats["dropped"] == 0 and stats["errors"] == 0


def test_file_scaled_on_request(gst, clip):
    with GstSource(parse_source(clip.as_uri() + "?width=160&height=120")) as source:
        shapes = {f.image.shape for f in source}
    assert shapes == {(120, 160, 3)}


def test_broken_file_is_a_one_line_error(gst, clip, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # mp4mux writes the index at the end
    for path in (garbage, truncated):
        with pytest.raises(SourceError) as info, GstSource(str(path), start_timeout_s=3.0) as source:
            list(source)
        message = str(info.value)
        assert "\n" not in message and message.startswith(str(path)), message
        # Normally the demuxer's or typefind's error; decodebin occasionally swallows it (a GStreamer race while it
        # plugs the demuxer) and then the start timeout ends the wait with its own one-line message.
        assert "from element" in message or "did not start playing within 3 s" in message, message
        assert isinstance(info.value, InputError) and info.value.exit_code == 2  # a broken file does not mend


def test_missing_file_is_an_input_error(gst, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        GstSource(str(tmp_path / "missing.mp4"))


def test_unknown_element_fails_at_build_time(gst):
    source = GstSource(parse_source("csi://0"), jetson=True)  # no nvarguscamerasrc on this machine
    with pytest.raises(SourceError, match='cannot build the pipeline: no element "nvarguscamerasrc"'):
        source.start()


# ------------------------------------------------------------------------------------------------------------------
# RTSP: kill and restart the server under a running source

FAST = ReconnectPolicy(initial_s=0.2, max_s=1.0)


@pytest.fixture
def servers():
    """Started servers, all stopped at the end whatever happens."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        stop_server(proc)


def _next_session(source: GstSource, session: int, limit: int = 100) -> tuple[Frame | None, Frame]:
    """Drain frames of earlier sessions; return (last frame before, first frame of `session`)."""
    before = None
    for _ in range(limit):
        frame = next(source)
        if frame.session == session:
            return before, frame
        before = frame
    raise AssertionError(f"no frame of session {session} in {limit} frames")


def test_rtsp_recovers_after_server_restarts(gst, servers):
    port = free_port()
    servers.append(start_server(port, width=320, height=240))
    recovery = []
    with GstSource(f"rtsp://127.0.0.1:{port}/cam#latency=100", stall_timeout_s=3.0, reconnect=FAST) as source:
        frames = [next(source) for _ in range(5)]
        assert all(f.image.shape == (240, 320, 3) and f.session == 0 for f in frames)
        last = frames[-1]
        for cycle in (1, 2):
            stop_server(servers[-1])  # SIGKILL: the camera dies
            killed = time.time()
            ready: dict[str, float] = {}

            def restart(ready=ready):
                time.sleep(0.5)
                try:
                    servers.append(start_server(port, width=320, height=240))
                    ready["t"] = time.time()
                except RuntimeError:
                    source.close()  # unblock the iterator; the test then fails below

            thread = threading.Thread(target=restart)
            thread.start()
            before, frame = _next_session(source, cycle)
            thread.join()
            assert "t" in ready, "the test server did not restart"
            last = before or last
            assert frame.index == last.index + 1
            assert frame.pts_s > last.pts_s
            # stream time runs through the gap: the pts step matches the wall-clock step
            assert abs((frame.pts_s - last.pts_s) - (frame.wall_time - last.wall_time)) < 0.25
            gap = source.stats()["gaps"][cycle - 1]
            assert gap["reason"] in ("error", "eos", "stall")
            assert gap["start"] <= killed <= gap["detected"] <= ready["t"] <= gap["end"] == frame.wall_time
            recovery.append(frame.wall_time - ready["t"])
            more = [next(source) for _ in range(3)]
            assert all(f.session == cycle and f.image.shape == (240, 320, 3) for f in more)
            last = more[-1]
        stats = source.stats()
    print(f"\nRTSP recovery after the server was ready again: {[round(r, 2) for r in recovery]} s; "
          f"gaps {[round(g['end'] - g['start'], 2) for g in stats['gaps']]} s")
    assert stats["reconnects"] == 2 and len(stats["gaps"]) == 2
    assert max(recovery) < FAST.max_s + 1.5  # at most one backoff step plus connect and first keyframe


def test_rtsp_stall_is_detected_and_recovered(gst, servers):
    port = free_port()
    servers.append(start_server(port, width=320, height=240))
    proc = servers[-1]
    with GstSource(f"rtsp://127.0.0.1:{port}/cam#latency=100", stall_timeout_s=1.0, reconnect=FAST) as source:
        for _ in range(3):
            next(source)
        os.kill(proc.pid, signal.SIGSTOP)  # a frozen camera: the TCP connection stays open, no data
        timer = threading.Timer(2.0, os.kill, (proc.pid, signal.SIGCONT))
        timer.start()
        try:
            _, frame = _next_session(source, 1)
        finally:
            timer.join()
        gap = source.stats()["gaps"][0]
    assert gap["reason"] == "stall" and gap["detail"] == "no frame for 1 s"
    assert gap["detected"] - gap["start"] >= 1.0
    assert frame.session == 1


def test_rtsp_gives_up_after_max_attempts(gst, servers):
    port = free_port()
    servers.append(start_server(port, width=160, height=120))
    policy = ReconnectPolicy(initial_s=0.1, max_s=0.2, max_attempts=2)
    with GstSource(f"rtsp://127.0.0.1:{port}/cam#latency=100", reconnect=policy) as source:
        next(source)
        stop_server(servers[-1])
        with pytest.raises(SourceError, match=r"gave up after 2 reconnection attempts") as info:
            for _ in range(200):
                next(source)
        assert "\n" not in str(info.value) and isinstance(info.value, CameraUnavailable)
        stats = source.stats()
    assert stats["gaps"][0]["end"] is None and stats["gaps"][0]["attempts"] == 2


def test_rtsp_without_server_fails_fast(gst):
    port = free_port()
    start = time.monotonic()
    with pytest.raises(SourceError) as info, GstSource(f"rtsp://127.0.0.1:{port}/cam", reconnect=FAST) as source:
        next(source)
    assert time.monotonic() - start < 3.0
    message = str(info.value)
    assert message.startswith(f"rtsp://127.0.0.1:{port}/cam: cannot start: ") and "\n" not in message
    assert "rtspsrc" in message and isinstance(info.value, CameraUnavailable)


def test_a_camera_that_is_not_up_exits_3_for_the_service_to_restart(gst, tmp_path):
    """The unit restarts on anything but 2 (bad input): a camera still booting after a power cut must not stop it."""
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "edge", "run", "--source", f"rtsp://127.0.0.1:{port}/cam",
                           "--out", str(tmp_path / "out"), "--events-db", str(tmp_path / "e.db")],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert done.returncode == 3, done.stderr[-800:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("ergoedge: error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"ergoedge: error: rtsp://127.0.0.1:{port}/cam: cannot start: ")
    assert not (tmp_path / "out").exists() and not (tmp_path / "e.db").exists()  # nothing made before a frame


def test_native_libraries_loaded_after_gstreamer_still_unwind(blazepose_models):
    """GStreamer's core library brings libunwind into the global symbol scope; without GCC's unwinder there first,
    the first C++ exception inside OpenVINO (its device enumeration throws and catches) aborted the process."""
    pytest.importorskip("openvino")
    code = ("import sys; from runtime.video.source import GstSource\n"
            "from edge.inference.openvino_backend import OpenVinoBackend\n"
            "with GstSource('test://?width=64&height=48&fps=30') as source:\n"
            "    next(iter(source))\n"
            "backend = OpenVinoBackend(sys.argv[1])\n"
            "print(sorted(backend.output_specs)[0])\n")
    done = subprocess.run([sys.executable, "-c", code, str(blazepose_models[1])], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "Identity"
