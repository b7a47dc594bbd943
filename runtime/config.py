"""The run configuration: frozen dataclasses with documented defaults; a TOML file holds only the changes.

Read through `edge.config` (the one loader): command line > config file > defaults, and an unknown key anywhere is
an error that names it (a misspelled threshold must never be silently ignored). Example (every key optional):

    camera = "line3"
    [source]
    uri = "rtsp://127.0.0.1:8554/cam"      # csi://0, v4l2:///dev/video0, file path, test://
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
    [sinks]
    sqlite = "/var/lib/ergo-edge/events.db"
    [sinks.mqtt]
    host = "127.0.0.1"
    [output]
    record = "/data/run.mp4"
    rtsp_port = 8554
    rtsp_address = "0.0.0.0"               # default 127.0.0.1 (this machine only)
    rtsp_user = "viewer"                   # needed on any other address (or rtsp_allow_anonymous = true)
    rtsp_password = "..."                  # a file with passwords: readable by root and the service only (0640)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from edge.config import check_number
from edge.config import load_config as _load
from edge.pose.estimator import EstimatorSpec
from edge.scoring.methods import ScoreConfig
from runtime.alerts.engine import AlertRule
from runtime.alerts.mqtt_config import MqttConfig
from runtime.network import check_rtsp_output


@dataclass(frozen=True)
class SourceConfig:
    uri: str = ""
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    # Reconnect back-off for live sources (seconds).
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    # A live source with no frame for this long is treated as dropped and reconnected.
    stall_timeout_s: float = 5.0


@dataclass(frozen=True)
class PoseConfig(EstimatorSpec):
    """The estimator (`edge.pose.estimator.EstimatorSpec`: model, adapter, backend, models_dir, max_people,
    smoothing) and how long a person stays remembered."""

    # A person not seen for this long is forgotten (their alerts clear with "left").
    forget_after_s: float = 2.0


@dataclass(frozen=True)
class AlertsConfig:
    rules: tuple[AlertRule, ...] = ()  # empty: runtime.alerts.engine.DEFAULT_RULES
    shift_starts: tuple[str, ...] = ("06:00", "14:00", "22:00")
    # Exposure is saved to the event store this often (wall seconds): what a crash can lose. A restarted run
    # continues its shift from the saved totals (runtime.alerts.exposure).
    exposure_save_s: float = 5.0

    def __post_init__(self) -> None:
        check_number(self.exposure_save_s, "alerts.exposure_save_s", positive=True)


@dataclass(frozen=True)
class GpioSection:
    # severity -> header pin (BOARD numbering), e.g. {warning = 31, critical = 33}
    pins: dict = field(default_factory=dict)
    mode: str = "BOARD"


@dataclass(frozen=True)
class SinksConfig:
    jsonl: bool = True  # <out>/alerts.jsonl
    stdout: bool = True
    sqlite: str | None = None  # default: <data dir>/events.db; "" to disable
    retention_days: float = 90.0
    mqtt: MqttConfig | None = None  # runtime.alerts.mqtt_config: host, port, topic, qos, tls, outbox_path...
    gpio: GpioSection | None = None


@dataclass(frozen=True)
class OutputConfig:
    record: str | None = None  # annotated video file (.mp4)
    show: bool = False
    rtsp_port: int = 0  # 0: no RTSP output
    rtsp_path: str = "/ergo"
    # The RTSP output shows workers: this machine only unless an address is given, and then only to viewers with
    # the user name and password (RTSP digest authentication), unless anonymous viewers are explicitly allowed.
    rtsp_address: str = "127.0.0.1"
    rtsp_user: str | None = None
    rtsp_password: str | None = field(default=None, repr=False)
    rtsp_allow_anonymous: bool = False
    face_blur: bool = True  # privacy by default in every output; false only where faces must be seen
    overlay: bool = True

    def __post_init__(self) -> None:
        if self.rtsp_port:
            check_rtsp_output(self.rtsp_address, self.rtsp_user, self.rtsp_password, self.rtsp_allow_anonymous)


@dataclass(frozen=True)
class RunConfig:
    camera: str = ""  # default: derived from the source
    scene_dir: str | None = None
    max_seconds: float | None = None  # stop after this much stream time (None: until the source ends)
    status_interval_s: float = 1.0
    # report.json is rewritten this often (wall seconds) while the run goes, so a crash leaves a recent one.
    report_every_s: float = 60.0
    source: SourceConfig = field(default_factory=SourceConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    scoring: ScoreConfig = field(default_factory=ScoreConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    sinks: SinksConfig = field(default_factory=SinksConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        check_number(self.report_every_s, "report_every_s", positive=True)


def load_config(path: str | os.PathLike | None) -> RunConfig:
    """Defaults, with the TOML file's changes applied."""
    return _load(RunConfig, path)


__all__ = ["RunConfig", "SourceConfig", "PoseConfig", "AlertsConfig", "SinksConfig", "GpioSection", "OutputConfig",
           "load_config"]
