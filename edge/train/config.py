"""What a training run is made of: frozen configs with documented defaults, read from one TOML file.

The file (`ergoedge train --config FILE`) holds only changes from the defaults, in three tables:

    [train]          # TrainConfig: optimiser, epochs, early stopping, seed
    epochs = 40
    [data]           # DataConfig: frame rate, windows, splits, normalisation, synthetic data, augmentation
    window_s = 12.8
    [data.norm]      # NormConfig
    root = "frame"
    [data.augment]   # present (even empty): edge.datasets.augment.random_augment with these settings
    rotate_deg = 30.0
    [model]          # the model's own config class (registry), without `data`: that comes from the data set
    channels = 64

The command line (`--epochs`, `--seed`) beats the file, the file beats the defaults; an unknown key is an error
that names it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from edge.config import check_number, from_mapping, read_toml
from edge.datasets.augment import AugmentConfig
from edge.datasets.synth.config import SynthConfig
from edge.errors import InputError

ROOT_MODES = ("frame", "first", "none")
SCALE_MODES = ("sequence", "none")
MONITOR_MODES = ("auto", "min", "max")
# Validation values where more is better (percentages and rank correlations); everything else is an error or a loss.
HIGHER_IS_BETTER = ("accuracy", "edit", "f1@10", "f1@25", "f1@50", "map", "reba_spearman")
SCHEDULES = ("constant", "cosine")
KEEP = ("best", "last")


@dataclass(frozen=True)
class NormConfig:
    """How 3D joints are normalised before a model sees them (edge.train.normalise); every checkpoint keeps it so
    that evaluation and the device do the same. Gravity always ends up along +z (the sequence's up vector says
    where it is).

    root: "frame" puts each frame's pelvis (mid-hip) at the origin; "first" the first frame's (the path through
      the room is kept); "none" leaves positions as they are (after the rotation).
    scale: "sequence" divides by the body scale, the sequence's median trunk (pelvis to neck) plus the mean of the
      median thigh and shank lengths (about 0.78 of stature); "none" keeps metres.
    """

    root: str = "frame"
    scale: str = "sequence"

    def __post_init__(self):
        if self.root not in ROOT_MODES:
            raise InputError(f"data.norm.root must be one of {', '.join(ROOT_MODES)}, got {self.root!r}")
        if self.scale not in SCALE_MODES:
            raise InputError(f"data.norm.scale must be one of {', '.join(SCALE_MODES)}, got {self.scale!r}")


@dataclass(frozen=True)
class DataConfig:
    """Which data a run reads and how it is cut (edge.train.data, edge.train.batches).

    fps: every sequence is resampled to this rate (UW-IOM is 10 fps as released).
    window_s, stride_s: training windows of this length every stride (a sequence shorter than a window is one
      window); each epoch shifts the windows by a random offset below the stride. window_s = 0 trains on whole
      sequences (always so for exercise quality, whose score belongs to the whole recording).
    context_s, context_after_s: seconds of the recording before and after each training window that the model
      reads and no loss scores (as far as the recording goes): what a model whose layers look past the window's
      edges has around each frame when it runs over a whole recording (a causal model: before only). 0: nothing.
    val_fraction: of the training videos (subjects where the data set names them) held out, seeded, for early
      stopping; never from the data set's published validation or test videos. 0: no validation, no early stop.
    test_fraction: of the videos (subjects) kept away from training and validation altogether, for data sets
      without a published split (`ergoedge evaluate --split test`).
    layout: the skeleton to read (folder: required; tum: h36m17 when empty), to pick from a synthetic folder (empty:
      the only one there) or to make synthetic data in (empty: uwiom15); the other data sets have their own.
    up, source_fps: the up vector and frame rate of a `folder` data set's files (tum: up only).
    groups: a TOML file mapping coarse classes to this data set's classes (see edge.train.data.read_groups);
      "" keeps the data set's classes.
    modality: UI-PRMD's "kinect" or "vicon".
    synth_minutes, synth_seed, synth: synthetic data made in memory when `--data` is not given (its layouts are
      this config's `layout`).
    norm: NormConfig. augment: None (off), or the settings of random_augment drawn per sequence and epoch.
    """

    fps: float = 10.0
    window_s: float = 25.6
    stride_s: float = 12.8
    context_s: float = 0.0
    context_after_s: float = 0.0
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    layout: str = ""
    up: str = "z"
    source_fps: float = 30.0
    groups: str = ""
    modality: str = "kinect"
    synth_minutes: float = 30.0
    synth_seed: int = 0
    synth: SynthConfig = field(default_factory=SynthConfig)
    norm: NormConfig = field(default_factory=NormConfig)
    augment: AugmentConfig | None = None

    def __post_init__(self):
        check_number(self.fps, "data.fps", minimum=1.0, maximum=1000.0)
        check_number(self.window_s, "data.window_s", minimum=0.0, maximum=3600.0)
        check_number(self.stride_s, "data.stride_s", positive=True, maximum=3600.0)
        check_number(self.context_s, "data.context_s", minimum=0.0, maximum=3600.0)
        check_number(self.context_after_s, "data.context_after_s", minimum=0.0, maximum=3600.0)
        check_number(self.val_fraction, "data.val_fraction", minimum=0.0, maximum=0.9)
        check_number(self.test_fraction, "data.test_fraction", minimum=0.0, maximum=0.9)
        if self.val_fraction + self.test_fraction > 0.9:
            raise InputError("data.val_fraction + data.test_fraction must leave at least 10% for training")
        check_number(self.source_fps, "data.source_fps", minimum=1.0, maximum=1000.0)
        check_number(self.synth_minutes, "data.synth_minutes", positive=True, maximum=24 * 60.0)
        check_number(self.synth_seed, "data.synth_seed", minimum=0, integer=True)


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: AdamW, a constant or cosine learning rate, early stopping on the validation split.

    epochs: the most epochs to run; batch_size: windows per step and process (torchrun: times the processes).
    lr, weight_decay: AdamW's; schedule: "constant" or "cosine" (to 0 at `epochs`); grad_clip: the largest
      gradient norm (0: none).
    monitor: the validation value early stopping watches: "loss" or a metric of the task ("f1@10", "edit",
      "accuracy", "reba_mse", "mad", ...); monitor_mode: "min" or "max" (what is better), or "auto": "max" for
      percentages and correlations (HIGHER_IS_BETTER), "min" for losses and errors. With keep = "best", a metric
      the validation sequences cannot give (no labels of its kind) is refused before training
      (edge.train.evaluate.check_monitor): it would never improve, and no best.pt would be written.
    patience: epochs without an improvement of more than `min_delta` before stopping (0: never stop early).
    keep: which epoch `best.pt` holds (what `ergoedge evaluate` scores and the default weights ship): "best", the
      best validation value, or "last", the last epoch (validation is still scored and logged, and training never
      stops early): with a cosine schedule the last epoch is the steadier choice when the validation data are not
      the data the model will meet (synthetic training for real skeletons).
    seed: shuffling, augmentation, dropout, initial weights and the validation split all follow it.
    """

    epochs: int = 50
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "constant"
    grad_clip: float = 1.0
    monitor: str = "loss"
    monitor_mode: str = "auto"
    patience: int = 10
    min_delta: float = 0.0
    keep: str = "best"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self):
        check_number(self.epochs, "train.epochs", minimum=1, maximum=100_000, integer=True)
        check_number(self.batch_size, "train.batch_size", minimum=1, maximum=100_000, integer=True)
        check_number(self.lr, "train.lr", positive=True, maximum=10.0)
        check_number(self.weight_decay, "train.weight_decay", minimum=0.0, maximum=10.0)
        check_number(self.grad_clip, "train.grad_clip", minimum=0.0)
        check_number(self.patience, "train.patience", minimum=0, integer=True)
        check_number(self.min_delta, "train.min_delta", minimum=0.0)
        check_number(self.seed, "train.seed", minimum=0, maximum=2**32 - 1, integer=True)
        if self.schedule not in SCHEDULES:
            raise InputError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.keep not in KEEP:
            raise InputError(f"train.keep must be one of {', '.join(KEEP)}, got {self.keep!r}")
        if self.monitor_mode not in MONITOR_MODES:
            raise InputError(f"train.monitor_mode must be auto, min or max, got {self.monitor_mode!r}")

    @property
    def lower_is_better(self) -> bool:
        if self.monitor_mode == "auto":
            return self.monitor not in HIGHER_IS_BETTER
        return self.monitor_mode == "min"


TABLES = ("train", "data", "model")


def _merged(base: dict, changes: dict) -> dict:
    """`changes` over `base`, tables merged key by key."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_run_config(path: str | os.PathLike | None, model_defaults: dict | None = None) -> tuple[TrainConfig, dict]:
    """The training config of a TOML file over the model's `train_defaults` (the registry's) over the defaults
    here, and the `[model]` table (the file's over the registry's), unconverted: the model's config class
    converts it (`model_config`).
    A relative `data.groups` path in the file is taken from the file's folder."""
    text = read_toml(path) if path is not None else {}
    groups = text.get("data", {}).get("groups") if isinstance(text.get("data"), dict) else None
    if isinstance(groups, str) and groups and not os.path.isabs(groups):
        text["data"]["groups"] = os.path.join(os.path.dirname(os.path.abspath(path)), groups)
    text = _merged({k: v for k, v in (model_defaults or {}).items() if k in TABLES}, text)
    unknown = sorted(set(text) - set(TABLES))
    if unknown:
        raise InputError(f"{os.path.basename(str(path))}: unknown table [{unknown[0]}] (valid: {', '.join(TABLES)})")
    for name in TABLES:
        if not isinstance(text.get(name, {}), dict):
            raise InputError(f"{os.path.basename(str(path))}: {name} must be a table ([{name}])")
    table = dict(text.get("train", {}))
    if "data" in table:
        raise InputError("train.data: the data settings go in their own [data] table")
    data_table = text.get("data", {})
    if isinstance(data_table.get("synth"), dict) and "layouts" in data_table["synth"]:
        raise InputError("data.synth.layouts: synthetic data is made in data.layout; set that instead")
    data = from_mapping(DataConfig, data_table, "data")
    return replace(from_mapping(TrainConfig, table, "train"), data=data), dict(text.get("model", {}))


def train_config_from_record(record: dict) -> TrainConfig:
    """The TrainConfig a run recorded (`dataclasses.asdict` of it), rebuilt and checked."""
    record = dict(record)
    data = from_mapping(DataConfig, record.pop("data", {}), "data")
    return replace(from_mapping(TrainConfig, record, "train"), data=data)


def model_config(config_class: type, table: dict, spec):
    """The model's frozen config from its `[model]` table, with `data` set to the data set's `DataSpec`."""
    if "data" in table:
        raise InputError("model.data is set from the data set (layout, classes, partials, fps), not the config file")
    return replace(from_mapping(config_class, table, "model"), data=spec)


def with_command_line(config: TrainConfig, epochs: int | None = None, seed: int | None = None) -> TrainConfig:
    """`--epochs` and `--seed` over the file's values (None: not given), checked like the file's."""
    changes = {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
    return replace(config, **changes) if changes else config
