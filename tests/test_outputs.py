"""Overlay drawing, face blurring and the GStreamer video sinks (MP4 recorder, RTSP server, display)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge.errors import InputError
from edge.pose.types import Person
from edge.skeletons import get_layout
from runtime.video.outputs import DisplayOutput, RtspServer, VideoRecorder
from runtime.video.pipelines import (
    display_available,
    display_description,
    encoder_description,
    recorder_description,
    rtsp_launch_description,
    select_encoder,
)
from runtime.video.overlay import (
    RISK_COLOURS,
    PersonStatus,
    blur_faces,
    draw_overlay,
    face_box,
)

cv2 = pytest.importorskip("cv2")

# Standing pose in units of a head (x right of centre, y down from the top), for any layout by joint name.
_POSE = {
    "nose": (0, 0.5), "left_eye": (0.15, 0.35), "right_eye": (-0.15, 0.35), "left_eye_inner": (0.08, 0.35),
    "right_eye_inner": (-0.08, 0.35), "left_eye_outer": (0.22, 0.35), "right_eye_outer": (-0.22, 0.35),
    "left_ear": (0.35, 0.45), "right_ear": (-0.35, 0.45), "mouth_left": (0.1, 0.7), "mouth_right": (-0.1, 0.7),
    "left_shoulder": (0.9, 1.5), "right_shoulder": (-0.9, 1.5), "left_elbow": (1.1, 2.8), "right_elbow": (-1.1, 2.8),
    "left_wrist": (1.2, 4.0), "right_wrist": (-1.2, 4.0), "left_hip": (0.6, 4.2), "right_hip": (-0.6, 4.2),
    "left_knee": (0.6, 6.0), "right_knee": (-0.6, 6.0), "left_ankle": (0.6, 7.8), "right_ankle": (-0.6, 7.8),
}


def make_person(cx: float, top: float, height: float, track_id: int = 1, layout: str = "coco17",
                face_score: float = 1.0) -> Person:
    joints = get_layout(layout).joints
    unit = height / 8.0
    kp = np.full((len(joints), 2), np.nan, np.float32)
    scores = np.zeros(len(joints), np.float32)
    for i, name in enumerate(joints):
        if name in _POSE:
            kp[i] = (cx + _POSE[name][0] * unit, top + _POSE[name][1] * unit)
            scores[i] = face_score if _POSE[name][1] < 1.0 else 1.0
    box = (cx - 1.5 * unit, top - 0.1 * unit, cx + 1.5 * unit, top + 8 * unit)
    return Person(kp, scores, layout, box, 0.9, track_id=track_id)


def noise_frame(h: int = 480, w: int = 640, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def sharpness(region: np.ndarray) -> float:
    """Variance of the Laplacian: high-frequency content."""
    return float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


# -------------------------------------------------------------------------------------------------------- overlay

def test_skeleton_drawn_where_the_bones_are():
    frame = np.full((480, 640, 3), 40, np.uint8)
    person = make_person(320, 100, 320)
    draw_overlay(frame, [person], {}, None, None)
    layout = get_layout("coco17")
    for a, b in (("left_shoulder", "left_elbow"), ("left_hip", "left_knee"), ("left_shoulder", "right_shoulder")):
        mid = ((person.keypoints[layout.index(a)] + person.keypoints[layout.index(b)]) / 2).astype(int)
        assert np.any(frame[mid[1], mid[0]] != 40), f"no bone drawn between {a} and {b}"
    # Far from the person, the label, banner and status line: untouched.
    assert np.all(frame[200:300, 20:100] == 40)


def test_banner_is_red_and_only_when_given():
    frame = np.full((480, 640, 3), 128, np.uint8)
    draw_overlay(frame, [], {}, "ALERT trunk flexion", None)
    top = frame[:30].reshape(-1, 3).astype(float).mean(axis=0)  # BGR
    assert top[2] > 150 and top[0] < 60 and top[1] < 60, top
    plain = np.full((480, 640, 3), 128, np.uint8)
    draw_overlay(plain, [], {}, None, None)
    assert np.all(plain == 128)


def test_status_line_at_the_bottom_only():
    frame = np.full((480, 640, 3), 200, np.uint8)
    draw_overlay(frame, [], {}, None, "14.8 fps | 2 people")
    assert frame[-3:].mean() < 150  # darkened strip with white text
    assert np.all(frame[:400] == 200)


@pytest.mark.parametrize("risk", ["negligible", "low", "medium", "high", "very high", None])
def test_label_coloured_by_risk(risk):
    frame = np.full((480, 640, 3), 128, np.uint8)
    person = make_person(320, 150, 300, track_id=7)
    draw_overlay(frame, [person], {7: PersonStatus(7, 5.0, 4.0, risk, 30.0)}, None, None)
    x1, y1 = int(person.box[0]), int(person.box[1])
    # The label sits just above the box's top-left corner; its padding column holds the pure background colour.
    assert tuple(int(v) for v in frame[y1 - 2, x1 + 1]) == RISK_COLOURS[risk]


def test_risk_colours_are_distinct():
    assert len(set(RISK_COLOURS.values())) == len(RISK_COLOURS)


def test_label_moves_below_the_banner():
    frame = np.full((480, 640, 3), 128, np.uint8)
    person = make_person(320, 5, 400, track_id=1)
    draw_overlay(frame, [person], {1: PersonStatus(1, 2.0, None, "low", None)}, "ALERT", None)
    # The box top is hidden by the banner, so the label is drawn inside the box just under the banner.
    column = frame[:, int(person.box[0]) + 1]
    assert (column == RISK_COLOURS["low"]).all(axis=1).any()


def test_text_scales_with_frame_size():
    small = np.full((240, 320, 3), 128, np.uint8)
    large = np.full((1080, 1920, 3), 128, np.uint8)
    draw_overlay(small, [], {}, "ALERT", None)
    draw_overlay(large, [], {}, "ALERT", None)
    bar = [int((f[:, 5] == (0, 0, 200)).all(axis=1).sum()) for f in (small, large)]
    assert bar[1] > 3 * bar[0]


def test_overlay_rejects_non_bgr_frames():
    with pytest.raises(InputError, match="BGR uint8"):
        draw_overlay(np.zeros((480, 640), np.uint8), [], {}, None, None)


# ---------------------------------------------------------------------------------------------------- face blurring

@pytest.mark.parametrize("method", ["gaussian", "pixelate"])
@pytest.mark.parametrize("layout", ["coco17", "blazepose33"])
def test_blur_removes_face_detail_and_nothing_else(method, layout):
    frame = noise_frame()
    before = frame.copy()
    person = make_person(320, 100, 320, layout=layout)
    x0, y0, x1, y1 = face_box(person, frame.shape)
    # The box holds every face landmark (BlazePose: the mouth too).
    face_pts = [person.keypoints[i] for i, n in enumerate(get_layout(layout).joints) if _POSE.get(n, (0, 9))[1] < 1]
    for x, y in face_pts:
        assert x0 < x < x1 and y0 < y < y1
    blur_faces(frame, [person], method=method)
    assert sharpness(frame[y0:y1, x0:x1]) < sharpness(before[y0:y1, x0:x1]) / 20
    # Pixelation leaves flat blocks (strength 0.5: blocks of half the region's smaller side), one colour each; a
    # Gaussian blur leaves a smooth field of many.
    size = int(min(y1 - y0, x1 - x0) * 0.5 + 0.5)
    blocks = max(1, (x1 - x0) // size) * max(1, (y1 - y0) // size)
    colours = len(np.unique(frame[y0:y1, x0:x1].reshape(-1, frame.shape[2]), axis=0))
    assert colours <= blocks if method == "pixelate" else colours > 10 * blocks, (colours, blocks)
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], before[outside])


def test_blur_falls_back_to_the_top_of_the_box_without_face_points():
    frame = noise_frame()
    before = frame.copy()
    person = make_person(320, 100, 320, face_score=0.05)  # face landmarks present but below min_score
    x0, y0, x1, y1 = face_box(person, frame.shape)
    shoulder_y = person.keypoints[get_layout("coco17").index("left_shoulder")][1]
    bx1, by1, bx2, _ = person.box
    # Covers the box from its top down to the shoulders, across its width.
    assert y0 <= by1 and y1 >= shoulder_y and x0 <= bx1 and x1 >= bx2
    blur_faces(frame, [person])
    assert sharpness(frame[int(by1):int(shoulder_y), int(bx1):int(bx2)]) < sharpness(
        before[int(by1):int(shoulder_y), int(bx1):int(bx2)]) / 20
    # h36m17 has no face landmarks but a head joint and shoulders: still a face region.
    h36m = make_person(320, 100, 320, layout="h36m17")
    assert face_box(h36m, frame.shape) is not None


def test_boxes_at_and_beyond_frame_edges_do_not_crash():
    frame = noise_frame(240, 320)
    people = [
        make_person(5, -30, 200, track_id=1),        # face above and left of the frame
        make_person(318, 200, 300, track_id=2),      # mostly below and right
        make_person(-500, -500, 100, track_id=3),    # entirely outside
        make_person(160, 100, 100, track_id=4, face_score=0.0),
    ]
    nan_person = Person(np.full((17, 2), np.nan), np.zeros(17), "coco17", [np.nan] * 4, 0.1, track_id=5)
    statuses = {i: PersonStatus(i, 11.0, 7.0, "very high", 80.0, ("trunk",)) for i in range(1, 6)}
    blur_faces(frame, people + [nan_person])
    draw_overlay(frame, people + [nan_person], statuses, "x" * 300, "status " * 80)
    assert face_box(people[2], frame.shape) is None
    assert face_box(nan_person, frame.shape) is None
    x0, y0, x1, y1 = face_box(people[0], frame.shape)
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240


def test_blur_arguments_checked():
    with pytest.raises(InputError, match="blur method"):
        blur_faces(noise_frame(), [], method="mosaic")


# --------------------------------------------------------------------------------------------- pipeline descriptions

def test_recorder_description():
    d = recorder_description(30, 640, 480, bitrate_kbps=3000)
    parts = [p.strip() for p in d.split("!")]
    assert parts[0].startswith("appsrc name=src is-live=false format=time do-timestamp=false")
    assert "caps=video/x-raw,format=BGR,width=640,height=480,framerate=30/1" in parts[0]
    names = [p.split()[0] for p in parts]
    assert names == ["appsrc", "videoconvert", "video/x-raw,format=I420", "x264enc", "h264parse", "taginject",
                     "mp4mux", "filesink"]
    assert parts[5] == "taginject tags=comment=ergo-edge-recording"  # how a later run knows its own recordings
    assert "speed-preset=ultrafast tune=zerolatency bitrate=3000 key-int-max=30" in d
    assert "location" not in d  # set as a property: paths never need quoting
    assert "framerate=30000/1001" in recorder_description(29.97, 640, 480)


def test_encoder_choice_and_fragments():
    assert select_encoder(True, lambda name: True) == "nvv4l2h264enc"
    assert select_encoder(True, lambda name: False) == "x264enc"  # Orin Nano: no NVENC
    assert select_encoder(False, lambda name: True) == "x264enc"
    nv = encoder_description("nvv4l2h264enc", 4000, 30)
    assert "nvv4l2h264enc bitrate=4000000" in nv and "nvvidconv" in nv and "format=BGRx" in nv
    with pytest.raises(InputError, match="unknown encoder"):
        encoder_description("vp8enc", 1000, 30)
    with pytest.raises(InputError, match="even"):
        recorder_description(30, 641, 480)
    with pytest.raises(InputError, match="fps"):
        recorder_description(0, 640, 480)


def test_rtsp_and_display_descriptions():
    r = rtsp_launch_description(15, 1280, 720, 2500)
    assert r.startswith("( appsrc name=src is-live=true") and r.endswith(")")
    assert "leaky-type=downstream" in r and "rtph264pay name=pay0 pt=96 config-interval=-1" in r
    assert "key-int-max=15" in r and "width=1280,height=720,framerate=15/1" in r
    assert display_description(30, 640, 480, jetson=False).endswith("videoconvert ! autovideosink sync=false")
    assert "nvvidconv" in display_description(30, 640, 480, jetson=True)
    assert display_description(30, 640, 480, jetson=True).endswith("nveglglessink sync=false")


def test_display_error_without_a_display():
    assert not display_available({}, jetson=False)
    assert display_available({"DISPLAY": ":0"}, jetson=False)
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, jetson=False)
    assert display_available({}, jetson=True)
    with pytest.raises(InputError, match="no display available for --show"):
        DisplayOutput(jetson=False, env={})


# ----------------------------------------------------------------------------------------------- GStreamer sinks

def _gst():
    from runtime.video.gst import gst

    return gst().Gst  # the process-wide initialisation (its import order matters: runtime/gst.py)


def moving_pattern(i: int, h: int = 480, w: int = 640) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    frame = np.empty((h, w, 3), np.uint8)
    frame[..., 0] = (x + 4 * i) % 256
    frame[..., 1] = (2 * y + 3 * i) % 256
    frame[..., 2] = 90
    cv2.rectangle(frame, (50 + 8 * i, 150), (170 + 8 * i, 270), (255, 255, 255), -1)
    return frame


def test_recorder_round_trip(tmp_path):
    _gst()
    frames = [moving_pattern(i) for i in range(45)]
    path = tmp_path / "clip.mp4"
    with VideoRecorder(path, fps=30, width=640, height=480, encoder="x264enc") as rec:
        for frame in frames:
            rec.write(frame)
    assert rec.frames_written == 45
    assert path.exists() and not rec.part_path.exists()
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0, abs=0.01)
        assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 480)
        decoded = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            decoded.append(img)
    finally:
        cap.release()
    assert len(decoded) == 45
    for i in (0, 22, 44):  # same frame, same place: timestamps and order survived
        assert np.abs(decoded[i].astype(int) - frames[i]).mean() < 6
    assert np.abs(decoded[44].astype(int) - frames[0]).mean() > 20


def test_recorder_close_without_frames_leaves_no_file(tmp_path):
    _gst()
    path = tmp_path / "empty.mp4"
    rec = VideoRecorder(path, fps=30, width=640, height=480)
    rec.close()
    rec.close()  # idempotent
    assert not path.exists() and not rec.part_path.exists()
    with pytest.raises(RuntimeError, match="after close"):
        rec.write(moving_pattern(0))


def test_recorder_input_errors(tmp_path):
    _gst()
    with pytest.raises(InputError, match="does not exist"):
        VideoRecorder(tmp_path / "missing" / "x.mp4", fps=30, width=640, height=480)
    with VideoRecorder(tmp_path / "x.mp4", fps=30, width=640, height=480) as rec:
        with pytest.raises(InputError, match=r"\(480, 640, 3\)"):
            rec.write(np.zeros((240, 320, 3), np.uint8))
        rec.write(moving_pattern(0))
    assert (tmp_path / "x.mp4").stat().st_size > 0


def test_recorder_pipeline_error_is_raised_and_keeps_no_good_file(tmp_path):
    Gst = _gst()
    from gi.repository import GLib

    path = tmp_path / "broken.mp4"
    rec = VideoRecorder(path, fps=30, width=640, height=480)
    rec.write(moving_pattern(0))
    # Stand-in for a real mid-stream failure (disk full, encoder crash): an error message from the file sink.
    sink = rec._p._pipeline.get_by_name("sink")
    sink.post_message(Gst.Message.new_error(sink, GLib.Error("disk full"), "test"))
    with pytest.raises(RuntimeError, match="disk full"):
        rec.write(moving_pattern(1))
    with pytest.raises(RuntimeError, match="disk full"):  # stays failed
        rec.write(moving_pattern(2))
    started = time.monotonic()
    rec.close()  # no EOS wait on a failed pipeline
    assert time.monotonic() - started < 2.0
    assert not path.exists() and rec.part_path.exists()


def test_rtsp_server_streams_frames_to_a_client():
    Gst = _gst()
    server = RtspServer(port=0, path="/ergo", fps=30, width=320, height=240, address="127.0.0.1",
                        encoder="x264enc")
    client = None
    try:
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[:, :160] = (0, 0, 255)
        assert server.write(frame) is False  # nobody watching: dropped
        client = Gst.parse_launch(
            f"rtspsrc location={server.url} latency=0 protocols=tcp ! rtph264depay ! avdec_h264 ! videoconvert ! "
            "video/x-raw,format=BGR ! appsink name=sink sync=false max-buffers=1 drop=true")
        sink = client.get_by_name("sink")
        assert client.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
        sample, deadline = None, time.monotonic() + 5.0
        while sample is None and time.monotonic() < deadline:
            server.write(frame)
            sample = sink.emit("try-pull-sample", 30 * Gst.MSECOND)
        assert sample is not None, "no frame arrived over RTSP within 5 s"
        caps = sample.get_caps().get_structure(0)
        assert (caps.get_value("width"), caps.get_value("height")) == (320, 240)
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        assert ok
        try:
            img = np.frombuffer(info.data, np.uint8).reshape(240, 320, 3)
            assert img[120, 40, 2] > 200 and img[120, 280, 2] < 50  # red left half, black right half
        finally:
            buf.unmap(info)
        assert server.frames_sent >= 1 and server.frames_dropped >= 1
    finally:
        if client is not None:
            client.set_state(Gst.State.NULL)
        server.close()
    assert not server.has_viewer
