"""GStreamer pipeline descriptions as pure functions of their settings, unit-tested without GStreamer.

Sources: `source_description(spec, jetson)` -> a gst-launch description ending in an appsink named "sink" that
delivers BGR frames. Outputs: `recorder_description`, `rtsp_launch_description`, `display_description`, built on
`encoder_description` and `select_encoder`. `jetson` says whether NVIDIA's elements may be used (see
`runtime.video.gst.jetson_elements`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction


from edge.config import check_number
from edge.errors import InputError
from runtime.video.uri import SourceSpec

# The appsink tails. Live: keep only the newest frame, never wait for the clock. File: every frame, with backpressure.
LIVE_SINK = "appsink name=sink drop=true max-buffers=1 sync=false emit-signals=false"
FILE_SINK = "appsink name=sink sync=false max-buffers=4 drop=false"


def quote(value: str) -> str:
    """A gst-launch property value in double quotes, with backslashes and double quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _caps(media: str, *, fmt: str | None = None, width: int | None = None, height: int | None = None,
          fps: float | None = None) -> str:
    fields = [media]
    if fmt:
        fields.append(f"format={fmt}")
    if width:
        fields.append(f"width={width}")
    if height:
        fields.append(f"height={height}")
    if fps:
        fields.append("framerate={}/{}".format(*framerate(fps)))
    return ",".join(fields)


def _to_bgr(spec: SourceSpec, jetson: bool) -> list[str]:
    """Decoded video (system or, on Jetson, NVMM memory) -> scaled/rated as requested -> BGR in system memory.

    On Jetson nvvidconv converts out of NVMM and scales in hardware; videoconvert only drops the x of BGRx (the
    VIC cannot write 24-bit BGR). On CPU videoscale works before videoconvert (on YUV, fewer bytes).
    videorate is drop-only for live sources (it can thin a camera out, never invent frames).
    """
    steps: list[str] = []
    if jetson:
        steps += ["nvvidconv", _caps("video/x-raw", fmt="BGRx", width=spec.width, height=spec.height)]
    elif spec.width or spec.height:
        steps += ["videoscale", _caps("video/x-raw", width=spec.width, height=spec.height)]
    if spec.fps:
        steps += ["videorate drop-only=true" if spec.live else "videorate", _caps("video/x-raw", fps=spec.fps)]
    return steps + ["videoconvert", "video/x-raw,format=BGR"]


def source_description(spec: SourceSpec, jetson: bool) -> str:
    """The gst-launch description for `spec`, ending in `appsink name=sink` delivering video/x-raw,format=BGR.

    jetson: use NVIDIA's elements (nvv4l2decoder, nvvidconv); pass `runtime.video.gst.jetson_elements()`. CSI needs
    them.
    RTSP with codec=auto uses decodebin after rtspsrc, which autoplugs the depayloader and decoder for any codec.
    """
    if spec.kind == "test":
        steps = [f"videotestsrc is-live=true pattern={spec.pattern}",
                 _caps("video/x-raw", width=spec.width, height=spec.height, fps=spec.fps),
                 "videoconvert", "video/x-raw,format=BGR"]
    elif spec.kind == "csi":
        if not jetson:
            raise InputError("csi:// cameras need a Jetson (nvarguscamerasrc, nvvidconv); use v4l2:// for USB cameras")
        steps = [f"nvarguscamerasrc sensor-id={spec.sensor_id}",
                 _caps("video/x-raw(memory:NVMM)", width=spec.width, height=spec.height, fps=spec.fps),
                 f"nvvidconv flip-method={spec.flip_method}", "video/x-raw,format=BGRx",
                 "videoconvert", "video/x-raw,format=BGR"]
    elif spec.kind == "v4l2":
        media, decode = ("image/jpeg", ["jpegdec"]) if spec.input_format == "mjpeg" else ("video/x-raw", [])
        steps = [f"v4l2src device={quote(spec.location)}",
                 _caps(media, width=spec.width, height=spec.height, fps=spec.fps),
                 *decode, "videoconvert", "video/x-raw,format=BGR"]
    elif spec.kind == "rtsp":
        source = f"rtspsrc location={quote(spec.location)} latency={spec.latency_ms} protocols={spec.transport}"
        if spec.codec == "auto":
            decode = ["decodebin"]
        else:
            n = spec.codec[1:]  # 264 / 265
            decoder = ["nvv4l2decoder"] if jetson else [f"avdec_h{n}"]
            decode = [f"rtph{n}depay", f"h{n}parse", *decoder]
        steps = [source, *decode, *_to_bgr(spec, jetson)]
    elif spec.kind == "file":
        steps = [f"filesrc location={quote(spec.location)}", "decodebin", *_to_bgr(spec, jetson)]
    else:  # unreachable: SourceSpec validates kind
        raise InputError(f"unknown source kind {spec.kind!r}")
    return " ! ".join([*steps, LIVE_SINK if spec.live else FILE_SINK])


# ---------------------------------------------------------------------------------------------------- outputs

_X264, _NVENC = "x264enc", "nvv4l2h264enc"


def framerate(fps: float) -> tuple[int, int]:
    """fps as a GStreamer fraction (29.97 -> 30000/1001)."""
    check_number(fps, "fps", positive=True)
    # Rounded NTSC rates (23.976, 29.97, 59.94) stand for n*1000/1001; 2997/100 would drift against the source.
    for n in (24, 30, 48, 60, 120):
        if abs(fps - n * 1000 / 1001) < 0.005:
            return n * 1000, 1001
    frac = Fraction(fps).limit_denominator(1001)
    return frac.numerator, frac.denominator


def check_frame_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        check_number(value, name, integer=True, positive=True)
    # 4:2:0 encoders need even dimensions; failing here beats a caps negotiation error deep in the pipeline.
    if width % 2 or height % 2:
        raise InputError(f"frame size {width}x{height} must be even in both dimensions for H.264")


def _bgr_caps(fps: float, width: int, height: int) -> str:
    num, den = framerate(fps)
    return f"video/x-raw,format=BGR,width={int(width)},height={int(height)},framerate={num}/{den}"


def select_encoder(jetson: bool, has_element: Callable[[str], bool]) -> str:
    """The H.264 encoder element to use: the hardware encoder on a Jetson that has one, x264 otherwise.

    Jetson Orin Nano has no NVENC block (no nvv4l2h264enc), so "is a Jetson" alone is not enough.
    """
    if jetson and has_element(_NVENC):
        return _NVENC
    return _X264


def encoder_description(encoder: str, bitrate_kbps: int, fps: float) -> str:
    """Pipeline fragment from raw BGR frames to an H.264 byte stream, key frame every second.

    A key frame each second bounds how long a new RTSP viewer waits for a picture and how much a cut file loses.
    4:2:0 is forced: from BGR, videoconvert would otherwise hand x264 Y444, giving High 4:4:4 streams that most
    players and browsers cannot decode and that RTP's baseline payloader rejects.
    """
    check_number(bitrate_kbps, "bitrate_kbps", integer=True, positive=True)
    gop = max(1, int(float(fps) + 0.5))
    if encoder == _X264:
        return (f"videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency "
                f"bitrate={int(bitrate_kbps)} key-int-max={gop}")
    if encoder == _NVENC:
        # nvvidconv takes BGRx (not BGR) from system memory and hands NVMM NV12 to the hardware encoder.
        return (f"videoconvert ! video/x-raw,format=BGRx ! nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! "
                f"nvv4l2h264enc bitrate={int(bitrate_kbps) * 1000} iframeinterval={gop} idrinterval={gop} "
                f"insert-sps-pps=true maxperf-enable=true")
    raise InputError(f"unknown encoder {encoder!r}: use {_X264!r} or {_NVENC!r}")


RECORDING_TAG = "ergo-edge-recording"


def recorder_description(fps: float, width: int, height: int, bitrate_kbps: int = 4000,
                         encoder: str = _X264) -> str:
    """appsrc (BGR, timestamps set per buffer) ! encoder ! h264parse ! taginject ! mp4mux ! filesink named "sink".
    The injected comment (RECORDING_TAG, in the file's metadata at its end) is how a later run knows the file is an
    earlier recording it may replace (runtime.video.outputs.is_recording).

    The file location is set as a property on "sink", not written into the description, so no path needs quoting.
    Not live and unthrottled: the recorder runs as fast as the encoder, and appsrc's queue is bounded by the writer.
    """
    check_frame_size(width, height)
    return (f"appsrc name=src is-live=false format=time do-timestamp=false caps={_bgr_caps(fps, width, height)} ! "
            f"{encoder_description(encoder, bitrate_kbps, fps)} ! h264parse ! taginject tags=comment={RECORDING_TAG} ! "
            "mp4mux ! filesink name=sink")


def rtsp_launch_description(fps: float, width: int, height: int, bitrate_kbps: int = 2000,
                            encoder: str = _X264) -> str:
    """The media factory's launch line: live appsrc ! encoder ! rtph264pay name=pay0.

    The appsrc keeps at most two frames and drops the oldest (leaky downstream), so a slow link or encoder costs
    frames, never latency. SPS/PPS go with every key frame (config-interval=-1) so viewers can join mid-stream.
    """
    check_frame_size(width, height)
    return (f"( appsrc name=src is-live=true format=time do-timestamp=true max-buffers=2 leaky-type=downstream "
            f"caps={_bgr_caps(fps, width, height)} ! {encoder_description(encoder, bitrate_kbps, fps)} ! "
            f"h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )")


def display_description(fps: float, width: int, height: int, jetson: bool) -> str:
    """Live appsrc ! converter ! video sink; the sink does not sync, so frames show as soon as they come."""
    check_frame_size(width, height)
    head = (f"appsrc name=src is-live=true format=time do-timestamp=true max-buffers=2 leaky-type=downstream "
            f"caps={_bgr_caps(fps, width, height)}")
    if jetson:
        return (f"{head} ! videoconvert ! video/x-raw,format=BGRx ! nvvidconv ! video/x-raw(memory:NVMM) ! "
                f"nveglglessink sync=false")
    return f"{head} ! videoconvert ! autovideosink sync=false"


def display_available(env: Mapping[str, str], jetson: bool) -> bool:
    """A display exists when X or Wayland is set, or on a Jetson (EGL sink)."""
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or jetson)
