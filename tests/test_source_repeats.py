"""A source's time line only moves forward: a frame delivered twice (same timestamp, seen from RTSP cameras) is
skipped, and a source that restarts its timestamps continues one frame later. The pose filters refuse a time that
does not advance, so one repeated frame used to end a run. Real GStreamer: a file written here with those faults."""

from __future__ import annotations

import itertools

import numpy as np

from runtime.video.source import GstSource


def _write_clip(path, stamps, fps=30, size=(64, 48)):
    """An MJPEG-in-Matroska file whose frames carry exactly `stamps` (seconds); frame i is filled with grey 10*i."""
    from runtime.video.gst import gst

    Gst = gst().Gst
    w, h = size
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time caps=video/x-raw,format=BGR,width={w},height={h},framerate={fps}/1 "
        f"! videoconvert ! jpegenc ! matroskamux ! filesink location={path}")
    src = pipeline.get_by_name("src")
    pipeline.set_state(Gst.State.PLAYING)
    for i, t in enumerate(stamps):
        buf = Gst.Buffer.new_wrapped(np.full((h, w, 3), 10 * i, np.uint8).tobytes())
        buf.pts, buf.duration = int(t * Gst.SECOND), Gst.SECOND // fps
        assert src.emit("push-buffer", buf) == Gst.FlowReturn.OK
    src.emit("end-of-stream")
    message = pipeline.get_bus().timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert message is not None and message.type == Gst.MessageType.EOS


def test_a_frame_delivered_twice_is_skipped(tmp_path):
    clip = tmp_path / "repeat.mkv"
    stamps = [0.0, 1 / 30, 2 / 30, 2 / 30, 3 / 30, 4 / 30]  # the third frame's timestamp comes twice
    _write_clip(clip, stamps)
    with GstSource(str(clip)) as source:
        frames = list(source)
    assert all(b.pts_s > a.pts_s for a, b in itertools.pairwise(frames))
    assert len(frames) == len(stamps) - 1
    assert [round(float(f.image.mean()) / 10) for f in frames] == [0, 1, 2, 4, 5]  # the repeat (3) is the one gone


def test_timestamps_that_restart_continue_the_time_line(tmp_path):
    clip = tmp_path / "restart.mkv"
    stamps = [10.0, 10 + 1 / 30, 10 + 2 / 30, 0.0, 1 / 30]  # an encoder restarted mid-stream
    _write_clip(clip, stamps)
    with GstSource(str(clip)) as source:
        frames = list(source)
    assert len(frames) == len(stamps)
    steps = [b.pts_s - a.pts_s for a, b in itertools.pairwise(frames)]
    assert all(abs(s - 1 / 30) < 1e-3 for s in steps), steps
