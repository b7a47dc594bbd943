"""The run configuration: frozen dataclasses with documented defaults; a TOML file holds only the changes.

Precedence: command line > config file > defaults. An unknown key anywhere is an error that names it (a
misspelled threshold must never be silently ignored). Example (every key optional):

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
    face_blur = true
"""

from __future__ import annotations

import dataclasses
import os
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import InputError
from edge.scoring import ScoreConfig
from runtime.mqtt import MqttConfig


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ergo-edge"


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
class PoseConfig:
    model: str | None = None  # None: the offline BlazePose default
    adapter: str | None = None
    backend: str = "auto"
    models_dir: str | None = None
    max_people: int = 1
    smoothing: bool = True
    # A person not seen for this long is forgotten (their alerts clear with "left").
    forget_after_s: float = 2.0


@dataclass(frozen=True)
class AlertsConfig:
    rules: tuple = ()  # empty: runtime.alerts.DEFAULT_RULES
    shift_starts: tuple[str, ...] = ("06:00", "14:00", "22:00")


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
    mqtt: MqttConfig | None = None  # runtime.mqtt.MqttConfig: host, port, topic, qos, tls, outbox_path...
    gpio: GpioSection | None = None


@dataclass(frozen=True)
class OutputConfig:
    record: str | None = None  # annotated video file (.mp4)
    show: bool = False
    rtsp_port: int = 0  # 0: no RTSP output
    rtsp_path: str = "/ergo"
    face_blur: bool = False
    overlay: bool = True


@dataclass(frozen=True)
class RunConfig:
    camera: str = ""  # default: derived from the source
    scene_dir: str | None = None
    max_seconds: float | None = None  # stop after this much stream time (None: until the source ends)
    status_interval_s: float = 1.0
    source: SourceConfig = field(default_factory=SourceConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    scoring: ScoreConfig = field(default_factory=ScoreConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    sinks: SinksConfig = field(default_factory=SinksConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


def _convert(value, tp, path: str):
    """Check and convert one value to the annotated type (dataclasses recursively)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, path)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(errors[0] if errors else f"{path}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{path}: expected a table, got {type(value).__name__}")
        return from_mapping(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{path}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{path}: expected a string, got {value!r}")
        return value
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{path}: expected a list, got {value!r}")
        inner = args[0] if args and args[-1] is Ellipsis else None
        return tuple(_convert(v, inner, f"{path}[{i}]") if inner else v for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise InputError(f"{path}: expected a table, got {value!r}")
        return dict(value)
    return value


def from_mapping(cls, data: dict, path: str = "config"):
    """Build the frozen dataclass `cls` from a mapping holding only changes; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r} (valid: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in data.items():
        if cls is AlertsConfig and key == "rules":
            from runtime.alerts import AlertRule

            if not isinstance(value, list):
                raise InputError(f"{path}.rules: expected a list of tables ([[alerts.rules]])")
            kwargs[key] = tuple(_rule(AlertRule, v, f"{path}.rules[{i}]") for i, v in enumerate(value))
            continue
        kwargs[key] = _convert(value, hints[key], f"{path}.{key}")
    try:
        return cls(**kwargs)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None


def _rule(rule_cls, value, path: str):
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a table")
    try:
        return rule_cls.from_dict(value)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def load_config(path: str | os.PathLike | None) -> RunConfig:
    """Defaults, with the TOML file's changes applied."""
    if path is None:
        return RunConfig()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such config file: {path}")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 on JetPack 6
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    return from_mapping(RunConfig, data, path.name)


def with_overrides(config: RunConfig, **changes) -> RunConfig:
    """Command-line values (dotted keys like "source.uri") over the file's; None means "not given"."""
    grouped: dict[str, dict] = {}
    top = {}
    for key, value in changes.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if name:
            grouped.setdefault(section, {})[name] = value
        else:
            top[key] = value
    for section, values in grouped.items():
        top[section] = dataclasses.replace(getattr(config, section), **values)
    return dataclasses.replace(config, **top)


__all__ = ["RunConfig", "SourceConfig", "PoseConfig", "AlertsConfig", "SinksConfig", "MqttConfig", "GpioSection",
           "OutputConfig", "load_config", "with_overrides", "from_mapping", "default_data_dir"]
