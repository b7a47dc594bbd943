"""Calibration data for the skeleton models: the model's own inputs, built from a labelled data set with the
preprocessing of training and the device, plus the held-out sequences the precision report scores.

    model = read_model("out/edge_stream_step.onnx")                         # the manifest beside it, checked
    data = read_skeletons(model, ReaderSpec("uwiom", "/data/uwiom", samples=512))
    data.calibration    # CalibrationSet: 512 feeds of batch 1, each exactly what the step receives at run time
    data.heldout        # Prepared sequences of other videos/subjects, for calibration/report.py

What a model takes comes from its manifest's input rows, so one code path serves both kinds of export:
- the streaming step (`export/onnx_stream.py`, kind "streaming_step"): `joints` (batch, J, 3) and the state
  tensors. The FP32 step runs frame by frame over every calibration sequence with its state fed back, and the
  sampled frames keep the state they really see there (a recurrent state of zeros would calibrate the wrong
  ranges). Sample frames are spread evenly over all calibration frames, so every sequence contributes by length;
- a whole-sequence model (kind "sequence_model", export/onnx_model.py): windows of `window_s` seconds with `joints`
  (batch, time, J, 3), `mask` (batch, time) and `keypoints2d` as edge/train/batches.py collates them.

Joints are normalised as training and `ergoedge evaluate` normalise them (edge.train.normalise: up to +z, root
removed, divided by the whole sequence's body scale) at the model's frame rate; unseen joints stay NaN for the step
(its graph maps NaN to 0, as the device feeds it) and become 0 in a sequence batch (as collate does).

Held out: the data set's published validation videos where it has them (UW-IOM's release), else a seeded
`holdout` fraction of its videos/subjects (edge.train.data.split_keys); calibration reads only the other groups,
so no video or subject is on both sides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.artifacts import check_skeleton_manifest, read_sidecar, sha256_file
from edge.errors import InputError
from edge.streaming.model import delay_frames, stepped_frames

STREAMING_KIND = "streaming_step"
SEQUENCE_KIND = "sequence_model"  # export/onnx_model.py KIND (a string: the stages meet through files)
DATASETS = ("uwiom", "tum", "kimore", "uiprmd", "synthetic", "folder")
# Feeds a whole-sequence model can be given, by batch key (edge/models/base.py).
SEQUENCE_INPUTS = ("joints", "mask", "keypoints2d")


@dataclass(frozen=True, eq=False)
class CalibrationSet:
    """What a quantizer calibrates on: `feeds`, each one input dict (name -> array, batch 1) exactly as the model
    receives it at run time; `digest`, sha256 over the feeds in order; `source`, one line saying what was read;
    `real`, False only for random data. Any reader (skeletons here, video frames elsewhere) makes one."""

    feeds: list = field(default_factory=list)
    digest: str = ""
    source: str = ""
    real: bool = True

    @property
    def distinct(self) -> int:
        """How many feeds differ from each other (a repeated sample adds nothing)."""
        return len({_feed_hash(feed) for feed in self.feeds})

    @property
    def input_shapes(self) -> dict[str, list[int]]:
        return {name: list(value.shape) for name, value in self.feeds[0].items()} if self.feeds else {}


def _feed_hash(feed: dict) -> bytes:
    h = hashlib.sha256()
    for name in sorted(feed):
        value = np.ascontiguousarray(feed[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.digest()


def calibration_set(feeds: list[dict], source: str, real: bool = True) -> CalibrationSet:
    """A CalibrationSet of `feeds` with its digest (sha256 over each feed's names, dtypes, shapes and bytes, in
    order)."""
    h = hashlib.sha256()
    for feed in feeds:
        h.update(_feed_hash(feed))
    return CalibrationSet(list(feeds), h.hexdigest(), source, real)


def random_set(model: dict, samples: int, seed: int = 0) -> CalibrationSet:
    """Gaussian feeds shaped by the manifest (batch 1, time 64): plumbing only, never a real calibration
    (`real` is False, and the quantizer refuses it unless allowed)."""
    rng = np.random.default_rng(seed)
    feeds = []
    for _ in range(samples):
        feed = {}
        for row in model["inputs"]:
            shape = [1 if d == "batch" else 64 if isinstance(d, str) else int(d) for d in row["shape"]]
            dtype = np.dtype(row["dtype"])
            feed[row["name"]] = (np.ones(shape, dtype) if dtype == bool
                                 else rng.standard_normal(shape).astype(dtype))
        feeds.append(feed)
    return calibration_set(feeds, f"{samples} random Gaussian samples (seed {seed}), not real data", real=False)


# ---------------------------------------------------------------------------------------------------- the model


def read_model(onnx_path: str | Path) -> dict:
    """The manifest beside `onnx_path` (`<stem>.json`), checked: a streaming step or a whole-sequence export whose
    recorded sha256 matches the file; with "path" and "streaming" added."""
    path = Path(onnx_path).expanduser()
    if not path.is_file():
        raise InputError(f"no ONNX model at {path}")
    where = path.with_suffix(".json")
    hint = "export it with `ergoedge export RUN --out DIR` first"
    manifest = read_sidecar(path, hint)
    if manifest.get("kind") not in (STREAMING_KIND, SEQUENCE_KIND):
        raise InputError(f"{where}: not a manifest of an exported skeleton model (kind {STREAMING_KIND!r} or "
                         f"{SEQUENCE_KIND!r}); {hint}")
    check_skeleton_manifest(manifest, where, hint)
    from edge.config import from_mapping
    from edge.train.config import NormConfig

    from_mapping(NormConfig, manifest["normalisation"], f"{where}: normalisation")  # checked once for every reader
    if manifest.get("onnx_sha256") != sha256_file(path):
        raise InputError(f"{path}: the file does not match the sha256 its manifest records (changed since export)")
    if manifest.get("precision", "fp32") != "fp32":
        raise InputError(f"{path.name} is already {manifest['precision']}: calibrate the FP32 export")
    return {**manifest, "path": str(path), "streaming": manifest["kind"] == STREAMING_KIND}


def state_pairs(model: dict) -> list[tuple[str, str, tuple[int, ...]]]:
    """(input, output, shape of one stream) of every state tensor of a streaming step."""
    try:
        return [(s["input"], s["output"], tuple(int(d) for d in s["shape"])) for s in model.get("state", [])]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{Path(model['path']).with_suffix('.json').name}: field 'state' is malformed") from None


def open_session(path: str | Path, threads: int = 1):
    """An ONNX Runtime CPU session as the device opens one (no spin-waiting on shared cores). The NCHWc
    transformer is off: ONNX Runtime crashes on some FP16 graphs with it, and it changes nothing for these."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                    disabled_optimizers=["NchwcTransformer"])
    except Exception as exc:  # noqa: BLE001 - ORT's own exception types (pybind) for graphs it cannot load
        raise InputError(f"ONNX Runtime cannot load {Path(path).name}: {str(exc).splitlines()[0]}") from None


# ------------------------------------------------------------------------------------------------- the data set


@dataclass(frozen=True, eq=False)
class Prepared:
    """One sequence as the model sees it (edge/train/batches.py's Item without torch): `joints` normalised
    (T, J, 3) float32, NaN unseen; `keypoints2d` box-normalised or None; labels in the model's class order."""

    name: str
    key: str
    joints: np.ndarray
    keypoints2d: np.ndarray | None
    activity: np.ndarray
    reba: np.ndarray
    partials: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.joints)


@dataclass(frozen=True)
class ReaderSpec:
    """dataset/data: what `ergoedge train` reads (--dataset, --data); groups: a coarse-class TOML file or "";
    samples: calibration samples to take; holdout: fraction of videos/subjects held out for the report when the
    data set publishes no validation split; seed: that draw and the sampling offset; window_s: the window of a
    whole-sequence model's samples."""

    dataset: str
    data: str | None
    groups: str = ""
    samples: int = 512
    holdout: float = 0.2
    seed: int = 0
    window_s: float = 25.6

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise InputError(f"unknown data set {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if not (isinstance(self.samples, int) and 1 <= self.samples <= 1_000_000):
            raise InputError(f"--samples must be a whole number from 1 to 1000000, got {self.samples!r}")
        if not 0.05 <= self.holdout <= 0.9:
            raise InputError(f"the held-out fraction must be from 0.05 to 0.9, got {self.holdout!r}")


@dataclass(frozen=True, eq=False)
class SkeletonData:
    calibration: CalibrationSet
    heldout: list
    calibration_groups: tuple[str, ...]
    heldout_groups: tuple[str, ...]


def _load(model: dict, spec: ReaderSpec) -> list:
    from edge.train.config import DataConfig, NormConfig
    from edge.train.data import load_dataset, prepare, read_groups, relabel

    config = DataConfig(layout=model["layout"], fps=float(model["fps"]),
                        norm=NormConfig(**model["normalisation"]))
    groups = read_groups(spec.groups) if spec.groups else None
    seqs = prepare(load_dataset(spec.dataset, spec.data, config), config, layout=model["layout"], groups=groups)
    seqs = [s for s in seqs if s.joints is not None]
    if not seqs:
        raise InputError(f"the {spec.dataset} data has no 3D joints, which {Path(model['path']).name} reads")
    return relabel(seqs, tuple(model.get("classes", ()))) if model.get("classes") else seqs


def _split(seqs: list, spec: ReaderSpec) -> tuple[list[str], list[str]]:
    from edge.train.config import DataConfig
    from edge.train.data import group_key, split_keys

    if len({group_key(s) for s in seqs}) < 2:
        raise InputError("the data holds one video/subject only: calibration and held-out evaluation need two")
    keys = split_keys(seqs, DataConfig(val_fraction=spec.holdout, test_fraction=0.0), spec.seed)
    heldout = keys["published_val"] or keys["val"]
    calibration = sorted({group_key(s) for s in seqs} - set(heldout))
    return calibration, list(heldout)


def prepare_sequence(seq, model: dict) -> Prepared:
    """`seq` (at the model's rate and layout, classes in its order) as model arrays, as make_item does."""
    from edge.datasets.sequence import UNKNOWN_ACTIVITY
    from edge.train.config import NormConfig
    from edge.train.data import REBA_TOTAL, group_key
    from edge.train.normalise import normalise_joints, normalise_keypoints

    meta = seq.metadata
    name = str(next((meta[k] for k in ("video", "recording", "pose_path", "subject") if k in meta), "sequence"))
    joints, _ = normalise_joints(seq.joints, seq.up, seq.layout, NormConfig(**model["normalisation"]), what=name)
    n = seq.num_frames
    nan = np.full(n, np.nan, np.float32)
    activity = (np.full(n, UNKNOWN_ACTIVITY, np.int64) if seq.activity is None
                else np.asarray(seq.activity, np.int64))
    partials = [np.asarray(seq.targets.get(p, nan), np.float32) for p in model.get("partials", ())]
    return Prepared(name=name, key=group_key(seq), joints=joints,
                    keypoints2d=None if seq.keypoints2d is None else normalise_keypoints(seq.keypoints2d),
                    activity=activity, reba=np.asarray(seq.targets.get(REBA_TOTAL, nan), np.float32),
                    partials=np.stack(partials, axis=1) if partials else np.zeros((n, 0), np.float32))


def read_skeletons(model: dict, spec: ReaderSpec) -> SkeletonData:
    """The calibration set and the held-out sequences of `spec`'s data for `model` (read_model) (module doc)."""
    from edge.train.data import group_key

    seqs = _load(model, spec)
    calib_keys, held_keys = _split(seqs, spec)
    calib = [prepare_sequence(s, model) for s in seqs if group_key(s) in set(calib_keys)]
    held = [prepare_sequence(s, model) for s in seqs if group_key(s) in set(held_keys)]
    if model["streaming"]:
        feeds, frames = streaming_feeds(model, calib, spec.samples, spec.seed)
        what = f"frames of {len(calib)} sequences ({frames} frames) with the FP32 step's own state"
    else:
        feeds, frames = sequence_feeds(model, calib, spec.samples, spec.window_s, spec.seed)
        what = f"windows of {spec.window_s:g} s from {len(calib)} sequences ({frames} frames)"
    where = spec.data if spec.data is not None else "made in memory"
    source = (f"{len(feeds)} {what}: {spec.dataset} data {where}"
              f"{f', groups {Path(spec.groups).name}' if spec.groups else ''}; "
              f"{len(held)} sequences of {len(held_keys)} other videos/subjects held out")
    return SkeletonData(calibration_set(feeds, source), held, tuple(calib_keys), tuple(held_keys))


# ----------------------------------------------------------------------------------------- streaming step feeds


def _spread(lengths: list[int], samples: int, seed: int) -> set[tuple[int, int]]:
    """`samples` (sequence, frame) positions spread evenly over all frames end to end, from a seeded offset."""
    total = sum(lengths)
    if samples >= total:
        picks = range(total)
    else:
        step = total / samples
        offset = np.random.default_rng([seed, 2]).uniform(0, step)
        picks = (int(offset + i * step) for i in range(samples))
    starts = np.cumsum([0] + lengths[:-1])
    out = set()
    for p in picks:
        k = int(np.searchsorted(starts, p, side="right") - 1)
        out.add((k, int(p - starts[k])))
    return out


def step_streams(session, model: dict, joints: list[np.ndarray], keep=None):
    """Run a streaming step over sequences of normalised joints (T_k, J, 3), all streams side by side as batch rows
    (each row is its own stream; static quantization is elementwise, so rows never interact), state fed back.
    Returns each sequence's outputs per frame {name: (T_k, ...)} and the batch-1 feeds at the (sequence, frame)
    positions of `keep`, in the order of `keep`. A step with a delay (the manifest's delay_frames) is stepped that
    many frames past each sequence's end with its last frame repeated, and its outputs are taken from that step
    on, as the whole-sequence run gives them."""
    pairs = state_pairs(model)
    joints_name = model.get("joints_input", "joints")
    wanted = [o.name for o in session.get_outputs() if not o.name.startswith("next_state")]
    streams, longest = len(joints), max(len(j) for j in joints)
    delay = delay_frames(model, Path(model.get("path", "model")).with_suffix(".json").name)
    orders = [stepped_frames(len(seq), delay) for seq in joints]
    jshape = joints[0].shape[1:]
    state = {i: np.zeros((streams, *shape), np.float32) for i, _, shape in pairs}
    keep = list(keep or [])
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for n, (k, t) in enumerate(keep):
        by_frame.setdefault(t, []).append((n, k))
    captured: list = [None] * len(keep)
    out = {name: [] for name in wanted}
    frame = np.zeros((streams, *jshape), np.float32)
    for t in range(longest + delay):
        for k, (seq, order) in enumerate(zip(joints, orders)):
            frame[k] = seq[order[t]] if t < len(order) else 0.0
        feed = {joints_name: frame.copy(), **state}
        for n, k in by_frame.get(t, ()):
            captured[n] = {name: value[k:k + 1].copy() for name, value in feed.items()}
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
        state = {i: got[o] for i, o, _ in pairs}
        for name in wanted:
            out[name].append(got[name])
    stacked = {name: np.stack(values, axis=1) for name, values in out.items()}  # (streams, T, ...)
    per_seq = [{name: v[k, delay:delay + len(joints[k])] for name, v in stacked.items()} for k in range(streams)]
    return per_seq, captured


def streaming_feeds(model: dict, seqs: list[Prepared], samples: int, seed: int) -> tuple[list[dict], int]:
    """Batch-1 feeds of the step at frames spread over `seqs`, each with the state the FP32 step reaches there."""
    lengths = [s.num_frames for s in seqs]
    keep = sorted(_spread(lengths, samples, seed), key=lambda p: (p[1], p[0]))
    _, captured = step_streams(open_session(model["path"]), model, [s.joints for s in seqs], keep)
    order = sorted(range(len(keep)), key=lambda n: keep[n])  # sequence by sequence, frame by frame
    return [captured[n] for n in order], sum(lengths)


# ------------------------------------------------------------------------------------- whole-sequence feeds


def sequence_feeds(model: dict, seqs: list[Prepared], samples: int, window_s: float,
                   seed: int) -> tuple[list[dict], int]:
    """Batch-1 windows for a whole-sequence model, built from its manifest's input rows (module doc)."""
    names = [row["name"] for row in model["inputs"]]
    unknown = [n for n in names if n not in SEQUENCE_INPUTS]
    if unknown:
        raise InputError(f"{Path(model['path']).name} reads {', '.join(unknown)}, which the skeleton reader cannot "
                         f"build (it builds {', '.join(SEQUENCE_INPUTS)})")
    if "keypoints2d" in names and any(s.keypoints2d is None for s in seqs):
        raise InputError("the model reads keypoints2d, but the data has no 2D keypoints")
    length = max(1, round(window_s * float(model["fps"])))
    lengths = [max(1, s.num_frames - length + 1) for s in seqs]  # window starts per sequence
    feeds = []
    for k, start in sorted(_spread(lengths, samples, seed)):
        seq = seqs[k]
        stop = min(seq.num_frames, start + length)
        arrays = {"joints": np.nan_to_num(seq.joints[start:stop], nan=0.0)[None],
                  "mask": np.ones((1, stop - start), bool)}
        if seq.keypoints2d is not None:
            arrays["keypoints2d"] = seq.keypoints2d[start:stop][None]
        feeds.append({n: arrays[n].astype(np.dtype(_row_dtype(model, n))) for n in names})
    return feeds, sum(s.num_frames for s in seqs)


def _row_dtype(model: dict, name: str) -> str:
    return next(row.get("dtype", "float32") for row in model["inputs"] if row["name"] == name)


def disjoint(data: SkeletonData) -> bool:
    """No video/subject is both calibrated on and held out."""
    return not set(data.calibration_groups) & set(data.heldout_groups) and not (
        {s.key for s in data.heldout} & set(data.calibration_groups))

