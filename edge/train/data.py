"""Data sets by name, as lists of `Sequence`s ready to cut into batches: loaded with the project's loaders,
regrouped into coarse classes on request, resampled to one frame rate, split without leaking a video or a subject
across splits, and described by the `DataSpec` a model is built for. No torch here.

Splits. A sequence belongs to a group, its subject where the data set names one, else its video; a group is on one
side of every split. UW-IOM keeps its published split: training reads only its train videos, and its val videos are
the validation split that `ergoedge evaluate --split val` scores. From the training videos (every video of a data set
without a published split) the run holds out `data.val_fraction` of the groups, drawn with the run's seed, for early
stopping, and first `data.test_fraction` for testing. What a run trained and validated on is recorded by group key
(`source:group`), so evaluation finds the same split again without the seed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.config import read_toml
from edge.datasets.sequence import UNKNOWN_ACTIVITY, Sequence, load_sequence, resample
from edge.errors import InputError
from edge.models.base import REBA_PARTIALS, DataSpec
from edge.train.config import DataConfig

DATASETS = ("uwiom", "tum", "kimore", "uiprmd", "synthetic", "folder")
SPLITS = ("val", "test")
REBA_TOTAL = "reba_total"
# Layouts when data.layout is empty: synthetic data is made in UW-IOM's 15 joints (what real 3D data sets share),
# TUM Kitchen read as exported to Human3.6M's 17.
SYNTHETIC_LAYOUT, TUM_LAYOUT = "uwiom15", "h36m17"


def _load_synthetic(data_dir: Path | None, config: DataConfig) -> list[Sequence]:
    """Sequence files under `data_dir` (what `ergoedge synth` writes) in `config.layout`, or, without a directory,
    `synth_minutes` of synthetic data made here."""
    if data_dir is None:
        from edge.datasets.synth.generator import generate

        layout = config.layout or SYNTHETIC_LAYOUT
        return generate(config.synth_minutes, config.synth_seed, replace(config.synth, layouts=(layout,)))
    if not data_dir.is_dir():
        raise InputError(f"no such folder: {data_dir}")
    files = sorted(data_dir.glob("*.npz"))
    if not files:
        raise InputError(f"{data_dir}: no sequence files (.npz); `ergoedge synth --out DIR` writes them")
    seqs = [load_sequence(path) for path in files]
    found = sorted({s.layout for s in seqs})
    if not config.layout and len(found) > 1:
        raise InputError(f"{data_dir} holds layouts {', '.join(found)}: choose one with data.layout")
    chosen = [s for s in seqs if s.layout == (config.layout or found[0])]
    if not chosen:
        raise InputError(f"{data_dir}: no sequences in layout {config.layout} (found {', '.join(found)}); set "
                         "data.layout or write that layout with `ergoedge synth --layout`")
    for seq, path in zip(seqs, files):
        seq.metadata.setdefault("source", "synthetic")
        seq.metadata.setdefault("video", path.stem)
    return chosen


def load_dataset(name: str, data_dir, config: DataConfig) -> list[Sequence]:
    """Every sequence of data set `name` read from `data_dir` (None: only `synthetic`, made in memory), as its
    loader gives it. `config` supplies what a loader needs beyond the folder (layout, up, frame rate, modality)."""
    if name not in DATASETS:
        raise InputError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if data_dir is None and name != "synthetic":
        raise InputError(f"--data is needed for the {name} data set (only synthetic data can be made here)")
    root = None if data_dir is None else Path(data_dir).expanduser()
    if name == "uwiom":
        from edge.datasets.loaders.uwiom import load_uwiom

        seqs = load_uwiom(root)
    elif name == "tum":
        from edge.datasets.loaders.tum_kitchen import load_tum_kitchen

        seqs = load_tum_kitchen(root, layout=config.layout or TUM_LAYOUT, up=config.up)
    elif name == "kimore":
        from edge.datasets.loaders.kimore import load_kimore

        seqs = load_kimore(root)
    elif name == "uiprmd":
        from edge.datasets.loaders.ui_prmd import load_ui_prmd

        seqs = load_ui_prmd(root, modality=config.modality)
    elif name == "folder":
        from edge.datasets.loaders.generic import load_generic

        if not config.layout:
            raise InputError("a folder data set needs its skeleton layout: set data.layout (ergoedge layouts)")
        seqs = load_generic(root, config.layout, config.source_fps, config.up)
    else:
        seqs = _load_synthetic(root, config)
    if not seqs:
        raise InputError(f"{data_dir}: the {name} data set has no sequences")
    return seqs


# ------------------------------------------------------------------------------------------------ coarse classes


def read_groups(path) -> dict[str, tuple[str, ...]]:
    """A class grouping: a TOML file whose keys are the coarse classes, in class order, each a list of a data
    set's class names, e.g. `bend = ["none_bend_none_none", "box_bend_pick_up_low"]`."""
    table = read_toml(path, "class groups file")
    name = Path(path).name
    if not table:
        raise InputError(f"{name}: no groups (write `coarse = [\"class\", ...]` lines)")
    groups, seen = {}, {}
    for coarse, members in table.items():
        if not (isinstance(members, list) and members and all(isinstance(m, str) for m in members)):
            raise InputError(f"{name}: {coarse} must be a non-empty list of class names")
        for member in members:
            if member in seen:
                raise InputError(f"{name}: class {member!r} is in both {seen[member]} and {coarse}")
            seen[member] = coarse
        groups[coarse] = tuple(members)
    return groups


def apply_groups(seqs: list[Sequence], groups: dict[str, tuple[str, ...]], where: str) -> list[Sequence]:
    """The sequences with their activity labels mapped to the coarse classes of `groups`; a class not in any
    group becomes unlabelled. Naming a class the data set does not have is an error (a misspelling)."""
    names = sorted({n for s in seqs for n in s.activity_names})
    members = {m for ms in groups.values() for m in ms}
    unknown = sorted(members - set(names))
    if unknown:
        raise InputError(f"{where}: {', '.join(map(repr, unknown))} not among the data set's classes "
                         f"({', '.join(names) or 'none'})")
    coarse = tuple(groups)
    to_coarse = {m: coarse.index(g) for g, ms in groups.items() for m in ms}
    out = []
    for seq in seqs:
        if seq.activity is None:
            out.append(seq)
            continue
        table = np.array([to_coarse.get(n, UNKNOWN_ACTIVITY) for n in seq.activity_names] + [UNKNOWN_ACTIVITY])
        out.append(replace(seq, activity=table[seq.activity].astype(np.int64), activity_names=coarse))
    return out


# ---------------------------------------------------------------------------------------------- prepare and split


def prepare(seqs: list[Sequence], config: DataConfig, layout: str | None = None,
            groups: dict[str, tuple[str, ...]] | None = None) -> list[Sequence]:
    """One layout (`layout`, else the first sequence's), classes regrouped by `groups` (read_groups), every
    sequence at `config.fps`."""
    layout = layout or seqs[0].layout
    other = sorted({s.layout for s in seqs} - {layout})
    if other:
        raise InputError(f"the data holds layout {', '.join(other)}, the model needs {layout}")
    if groups:
        seqs = apply_groups(seqs, groups, "the class groups")
    return [s if math.isclose(s.fps, config.fps) else resample(s, config.fps) for s in seqs]


def group_key(seq: Sequence) -> str:
    """`source:group`: the unit a split keeps together (a subject where named, else a video or recording)."""
    meta = seq.metadata
    group = next((meta[k] for k in ("subject", "video", "recording", "pose_path") if k in meta), None)
    if group is None:
        raise InputError(f"a {meta.get('source', 'data set')} sequence has no subject or video id to split by")
    return f"{meta.get('source', 'data')}:{group}"


def _draw(keys: list[str], fraction: float, rng: np.random.Generator) -> set[str]:
    if fraction <= 0:
        return set()
    if len(keys) < 2:
        raise InputError(f"only {len(keys)} video/subject to train on: nothing can be held out (set "
                         "data.val_fraction and data.test_fraction to 0)")
    count = min(max(1, round(fraction * len(keys))), len(keys) - 1)
    return {keys[i] for i in rng.permutation(len(keys))[:count]}


def split_keys(seqs: list[Sequence], config: DataConfig, seed: int) -> dict[str, list[str]]:
    """The group keys of each split a run uses: "train", "val" (early stopping), "test" (held out), and the data
    set's own published validation videos ("published_val", UW-IOM) that training never reads."""
    published = any("split" in s.metadata for s in seqs)
    pool = sorted({group_key(s) for s in seqs if not published or s.metadata.get("split") == "train"})
    rng = np.random.default_rng([seed, 1])  # its own stream: the split does not move when shuffling changes
    test = _draw(pool, 0.0 if published else config.test_fraction, rng)
    rest = [k for k in pool if k not in test]
    val = _draw(rest, config.val_fraction, rng)
    return {"train": [k for k in rest if k not in val], "val": sorted(val), "test": sorted(test),
            "published_val": sorted({group_key(s) for s in seqs if s.metadata.get("split") == "val"})}


def select(seqs: list[Sequence], keys) -> list[Sequence]:
    wanted = set(keys)
    return [s for s in seqs if group_key(s) in wanted]


def evaluation_split(seqs: list[Sequence], split: str, recorded: dict[str, list[str]]) -> list[Sequence]:
    """The sequences `ergoedge evaluate --split` scores. "val": the data set's published validation videos where
    it has them (UW-IOM), else the run's own validation groups; "test": every sequence whose group the run
    neither trained nor validated on."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split == "val":
        published = [s for s in seqs if s.metadata.get("split") == "val"]
        chosen = published or select(seqs, recorded.get("val", ()))
        if not chosen:
            raise InputError("no sequence of this data set is in the run's validation split (the run held none "
                             "out, or trained on other data: try --split test)")
        return chosen
    seen = set(recorded.get("train", ())) | set(recorded.get("val", ()))
    chosen = [s for s in seqs if group_key(s) not in seen]
    if not chosen:
        raise InputError("every sequence of this data set was used to train or validate the run: nothing is left "
                         "to test (hold some out with data.test_fraction)")
    return chosen


# ------------------------------------------------------------------------------------------------------- DataSpec


def class_names(seqs: list[Sequence]) -> tuple[str, ...]:
    """The class names all labelled sequences share (their order is the class index)."""
    named = {s.activity_names for s in seqs if s.activity is not None and s.activity_names}
    if len(named) > 1:
        raise InputError(f"the sequences name their classes differently ({len(named)} different lists); give them "
                         "one class list (or a data.groups file)")
    return next(iter(named), ())


def relabel(seqs: list[Sequence], classes: tuple[str, ...]) -> list[Sequence]:
    """Activity ids in the order of `classes` (a model's), matched by name. A class that labels frames but that
    the model does not know is an error (give --groups to map the data's classes onto the model's)."""
    out = []
    for seq in seqs:
        if seq.activity is None or tuple(seq.activity_names) == tuple(classes):
            out.append(seq)
            continue
        used = {seq.activity_names[i] for i in np.unique(seq.activity) if i >= 0}
        unknown = sorted(used - set(classes))
        if unknown:
            raise InputError(f"the data's classes {', '.join(map(repr, unknown))} are not among the model's "
                             f"({', '.join(classes)}); map them with --groups FILE")
        table = np.array([classes.index(n) if n in classes else UNKNOWN_ACTIVITY for n in seq.activity_names]
                         + [UNKNOWN_ACTIVITY])
        out.append(replace(seq, activity=table[seq.activity].astype(np.int64), activity_names=tuple(classes)))
    return out


def data_spec(seqs: list[Sequence], config: DataConfig) -> DataSpec:
    """What a model trained on `seqs` is built for: their layout, class names, the REBA partials every sequence
    carries (in `REBA_PARTIALS` order) and the frame rate."""
    partials = tuple(p for p in REBA_PARTIALS if all(p in s.targets for s in seqs))
    return DataSpec(layout=seqs[0].layout, classes=class_names(seqs), partials=partials, fps=float(config.fps))


def check_task(task: str, seqs: list[Sequence], spec: DataSpec, model: str) -> None:
    """Refuse data that lacks what the model learns (one line naming it)."""
    if "segmentation" in task and not spec.classes:
        raise InputError(f"{model} learns activities, but the data has no activity labels")
    if "reba" in task and not any(REBA_TOTAL in s.targets for s in seqs):
        raise InputError(f"{model} learns REBA, but the data has no frame-wise REBA scores ({REBA_TOTAL})")
    if task == "quality" and not any(s.quality is not None for s in seqs):
        raise InputError(f"{model} learns exercise quality, but the data has no quality scores")
    if task == "lifting" and not all(s.keypoints2d is not None and s.joints is not None for s in seqs):
        raise InputError(f"{model} lifts 2D keypoints to 3D and needs both in every sequence")
