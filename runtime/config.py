"""The run configuration: frozen dataclasses with documented defaults; a TOML file holds only the changes.

Read through `edge.config` (the one loader): command line > config file > defaults, and an unknown key anywhere is
an error that names it (a misspelled threshold must never be silently ignored). Example (every key optional):

    camera = "line3"
    [source]
    uri = "rtsp://127.0.0.1:8554/cam"      # csi://0, v4l2:///dev/video0, file path, test://
    [rig]                                  # several calibrated cameras instead of source.uri
    calibration = "/etc/ergo-edge/cell3-rig.toml"   # `ergoedge calibrate-cameras`
    sources = {cam01 = "rtsp://10.0.0.11/s1", cam02 = "rtsp://10.0.0.12/s1"}
    [pose]
    max_people = 2
    [scoring]
    load_kg = 8.0
    coupling = "fair"
    [scoring.body]
    mass_kg = 80
    [[alerts.rules]]
    name = "reba_high"
    metric = "reba_total"
    threshold = 8
    direction = "at_least"
    min_duration_s = 3
    severity = "warning"
    [[alerts.rules]]
    name = "bending"
    activity = "bend"                      # a class of the activity model, held min_duration_s
    min_duration_s = 10
    [activity]
    model = "/opt/ergo-edge/edge_stream_step.onnx"   # default: the models directory's, when there; "none": off
    [sinks]
    sqlite = "/var/lib/ergo-edge/events.db"
    [sinks.mqtt]
    host = "127.0.0.1"
    [output]
    record = "/data/run.mp4"
    privacy = "silhouette"                 # or "face-blur" (the default) or "none"; face_blur = true/false is
                                           # the older spelling of "face-blur"/"none"
    rtsp_port = 8554
    rtsp_address = "0.0.0.0"               # default 127.0.0.1 (this machine only)
    rtsp_user = "viewer"                   # needed on any other address (or rtsp_allow_anonymous = true)
    rtsp_password = "..."                  # a file with passwords: readable by root and the service only (0640)
    [dashboard]
    port = 8080                            # the live dashboard (`--dashboard [ADDR:]PORT`); default 0: none
    address = "0.0.0.0"                    # default 127.0.0.1; any other needs password_hash
    password_hash = "scrypt$..."           # `ergoedge dashboard set-password --config FILE`
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

from edge.config import check_number
from edge.config import load_config as _load
from edge.errors import InputError
from edge.pose.estimator import EstimatorSpec
from edge.scoring.methods import ScoreConfig
from edge.scoring.stream import describe_range, metric_ranges
from runtime.activity import ActivityConfig
from runtime.alerts.engine import DEFAULT_RULES, AlertRule, check_rules
from runtime.alerts.mqtt_config import MqttConfig
from runtime.dashboard.config import DashboardConfig
from runtime.network import check_rtsp_output


@dataclass(frozen=True)
class SourceConfig:
    uri: str = ""
    width: int | None = None  # 1..16384 pixels (as runtime.video.uri.SourceSpec)
    height: int | None = None  # 1..16384 pixels
    fps: float | None = None  # above 0, at most 1000
    # Reconnect back-off for live sources (seconds): the first wait above 0 and at most 60 s, doubling up to
    # reconnect_max_s (from reconnect_initial_s to 3600 s).
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    # A live source with no frame for this long (0.1..600 s) is treated as dropped and reconnected.
    stall_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            if getattr(self, name) is not None:
                check_number(getattr(self, name), f"source.{name}", integer=True, minimum=1, maximum=16384)
        if self.fps is not None:
            check_number(self.fps, "source.fps", positive=True, maximum=1000)
        check_number(self.reconnect_initial_s, "source.reconnect_initial_s", positive=True, maximum=60)
        check_number(self.reconnect_max_s, "source.reconnect_max_s", minimum=self.reconnect_initial_s, maximum=3600)
        check_number(self.stall_timeout_s, "source.stall_timeout_s", minimum=0.1, maximum=600)


@dataclass(frozen=True)
class RigConfig:
    """Several cameras of one calibrated rig (`ergoedge calibrate-cameras`), one 3D skeleton per person
    (`runtime.views.RigView`). `[source]`'s width, height, fps and reconnect settings apply to every camera."""

    calibration: str = ""  # the rig's camera file: ergo-edge's TOML, or a Qualisys .qca.txt
    sources: dict = field(default_factory=dict)  # camera name in the calibration -> its source URI (2 or more)
    # Frames of one instant lie within this many seconds of each other (0: half the slowest camera's frame period).
    sync_tolerance_s: float = 0.0
    # A camera with no frame for this long while the others deliver is left out until it delivers again (0.1..60 s).
    missing_after_s: float = 1.0

    def __post_init__(self) -> None:
        if self.sources or self.calibration:
            if not self.calibration or len(self.sources) < 2:
                raise InputError("rig: give calibration = \"rig.toml\" and at least two cameras in [rig.sources] "
                                 "(camera name = \"source URI\")")
            for name, uri in self.sources.items():
                if not isinstance(uri, str) or not uri:
                    raise InputError(f"rig.sources.{name}: a source URI (rtsp://..., a file, v4l2://...)")
        check_number(self.sync_tolerance_s, "rig.sync_tolerance_s", minimum=0.0, maximum=5.0)
        check_number(self.missing_after_s, "rig.missing_after_s", minimum=0.1, maximum=60)

    def name(self) -> str:
        """The rig's camera name for events and alerts: its calibration file's name without extensions."""
        from pathlib import Path

        return Path(self.calibration).name.split(".")[0] or "rig"


@dataclass(frozen=True)
class PoseConfig(EstimatorSpec):
    """The estimator (`edge.pose.estimator.EstimatorSpec`: model, adapter, backend, models_dir, max_people,
    smoothing) and how long a person stays remembered."""

    # A person not seen for this long (above 0, at most 600 s) is forgotten (their alerts clear with "left").
    forget_after_s: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()  # max_people: 1..32
        check_number(self.forget_after_s, "pose.forget_after_s", positive=True, maximum=600)


@dataclass(frozen=True)
class AlertsConfig:
    # Default: runtime.alerts.engine.DEFAULT_RULES. Rules given replace them all; `rules = []` means no rules (no
    # alert is raised, and the run says so). Each rule names a metric `ergoedge run --list-metrics` lists, with a
    # threshold and a release level within that metric's range (`check_rule`).
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    shift_starts: tuple[str, ...] = ("06:00", "14:00", "22:00")
    # Exposure is saved to the event store this often (wall seconds, above 0, at most 3600): what a crash can lose.
    # A restarted run continues its shift from the saved totals (runtime.alerts.exposure).
    exposure_save_s: float = 5.0

    def __post_init__(self) -> None:
        check_number(self.exposure_save_s, "alerts.exposure_save_s", positive=True, maximum=3600)
        for rule in check_rules(self.rules):  # AlertRules with distinct names
            check_rule(rule)


# Said at the start of a run, and in its report, when the config's rules are an explicit empty list.
NO_RULES_WARNING = "alerts.rules is empty: no alert will be raised (leave rules out of the config for the defaults)"


def check_rule(rule: AlertRule) -> None:
    """An `InputError` unless `rule` names a metric the runtime computes (`edge.scoring.stream.metric_names`), with
    a threshold it can reach and a release level it can get back to (`AlertRule.check_range`). A rule on an
    activity is checked against the activity model's classes when the run opens the model (`runtime.activity`)."""
    if rule.activity is not None:
        return
    ranges = metric_ranges()
    if rule.metric not in ranges:
        close = difflib.get_close_matches(rule.metric, list(ranges), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise InputError(f"rule {rule.name!r}: unknown metric {rule.metric!r} ({hint}every metric: "
                         "`ergoedge run --list-metrics`)")
    rule.check_range(*ranges[rule.metric], describe_range(*ranges[rule.metric]))


# The pin numbers of the Jetson's 40-pin header in each numbering.
GPIO_PINS = {"BOARD": (1, 40), "BCM": (0, 27)}


@dataclass(frozen=True)
class GpioSection:
    # severity -> header pin, e.g. {warning = 31, critical = 33}: BOARD numbering 1..40 (the 40-pin header), BCM
    # 0..27 (runtime.alerts.sinks.GpioSink)
    pins: dict = field(default_factory=dict)
    mode: str = "BOARD"

    def __post_init__(self) -> None:
        if self.mode not in GPIO_PINS:
            raise InputError(f"sinks.gpio.mode must be one of {', '.join(GPIO_PINS)}, got {self.mode!r}")
        low, high = GPIO_PINS[self.mode]
        for severity, pin in self.pins.items():
            check_number(pin, f"sinks.gpio.pins.{severity} ({self.mode} numbering)", integer=True, minimum=low,
                         maximum=high)


@dataclass(frozen=True)
class SinksConfig:
    jsonl: bool = True  # <out>/alerts.jsonl
    stdout: bool = True
    sqlite: str | None = None  # default: <data dir>/events.db; "" to disable
    retention_days: float = 90.0  # events are kept this long: above 0, at most 3650 days
    mqtt: MqttConfig | None = None  # runtime.alerts.mqtt_config: host, port, topic, qos, tls, outbox_path...
    gpio: GpioSection | None = None

    def __post_init__(self) -> None:
        check_number(self.retention_days, "sinks.retention_days", positive=True, maximum=3650)


@dataclass(frozen=True)
class OutputConfig:
    record: str | None = None  # annotated video file (.mp4)
    show: bool = False
    rtsp_port: int = 0  # 0: no RTSP output, else 1..65535
    rtsp_path: str = "/ergo"
    # The RTSP output shows workers: this machine only unless an address is given, and then only to viewers with
    # the user name and password (RTSP digest authentication), unless anonymous viewers are explicitly allowed.
    rtsp_address: str = "127.0.0.1"
    rtsp_user: str | None = None
    rtsp_password: str | None = field(default=None, repr=False)
    rtsp_allow_anonymous: bool = False
    # What every output shows of a person (runtime.video.overlay.PRIVACY_MODES): "face-blur", "silhouette" (the
    # person as one flat colour, from BlazePose's segmentation: turns pose.segmentation on) or "none". Not given:
    # from face_blur, the older switch ("face-blur" when true, the default; "none" when false).
    privacy: str | None = None
    # The older privacy switch, kept as an alias: read only when privacy is not given, and otherwise set from it
    # (true unless privacy is "none") so that whatever reads it still tells whether faces can be seen.
    face_blur: bool = True
    overlay: bool = True

    def __post_init__(self) -> None:
        from runtime.video.overlay import PRIVACY_MODES

        if self.privacy is not None:
            if self.privacy not in PRIVACY_MODES:
                raise InputError(f"output.privacy must be one of {', '.join(PRIVACY_MODES)}, got {self.privacy!r}")
            object.__setattr__(self, "face_blur", self.privacy != "none")
        check_number(self.rtsp_port, "output.rtsp_port (0: none)", integer=True, minimum=0, maximum=65535)
        if self.rtsp_port:
            check_rtsp_output(self.rtsp_address, self.rtsp_user, self.rtsp_password, self.rtsp_allow_anonymous)


def privacy_mode(output: OutputConfig) -> str:
    """The privacy mode the outputs apply: `output.privacy`, else the one `output.face_blur` stands for."""
    if output.privacy is not None:
        return output.privacy
    return "face-blur" if output.face_blur else "none"


@dataclass(frozen=True)
class RunConfig:
    camera: str = ""  # default: derived from the source
    scene_dir: str | None = None
    # Stop after this much stream time, above 0 (None: until the source ends).
    max_seconds: float | None = None
    status_interval_s: float = 1.0  # the status line is written this often: above 0, at most 3600 s
    # report.json is rewritten this often (wall seconds, above 0, at most 3600) while the run goes, so a crash
    # leaves a recent one.
    report_every_s: float = 60.0
    source: SourceConfig = field(default_factory=SourceConfig)
    # Several cameras (runtime.views.RigView): instead of source.uri, a calibration and a source per camera.
    rig: RigConfig = field(default_factory=RigConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    scoring: ScoreConfig = field(default_factory=ScoreConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    sinks: SinksConfig = field(default_factory=SinksConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    # The activity model per person (runtime.activity: model, backend, lift_classes, lift_min_s).
    activity: ActivityConfig = field(default_factory=ActivityConfig)
    # The live dashboard (runtime.dashboard.config: port, address, password_hash, tls_cert/tls_key, rates).
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)

    def __post_init__(self) -> None:
        if self.max_seconds is not None:
            check_number(self.max_seconds, "max_seconds", positive=True)
        check_number(self.status_interval_s, "status_interval_s", positive=True, maximum=3600)
        check_number(self.report_every_s, "report_every_s", positive=True, maximum=3600)
        if self.rig.sources and self.source.uri:
            raise InputError("give either source.uri (one camera) or [rig.sources] (several), not both")


def pose_spec(config: RunConfig):
    """The estimator the run opens: `config.pose`, with the segmentation output kept when the outputs show
    silhouettes (they need the person masks, cut away otherwise)."""
    from dataclasses import replace

    return replace(config.pose, segmentation=True) if privacy_mode(config.output) == "silhouette" else config.pose


def load_config(path: str | os.PathLike | None) -> RunConfig:
    """Defaults, with the TOML file's changes applied."""
    return _load(RunConfig, path)


__all__ = ["RunConfig", "SourceConfig", "RigConfig", "PoseConfig", "AlertsConfig", "SinksConfig", "GpioSection",
           "OutputConfig", "ActivityConfig", "DashboardConfig", "GPIO_PINS", "NO_RULES_WARNING", "check_rule",
           "load_config", "privacy_mode"]
