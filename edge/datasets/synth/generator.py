"""Synthetic workplace motion with frame-wise activity and ergonomic labels: recordings, targets and files.

One recording = one simulated person at a small work cell of 3-5 stations, watched by one fixed camera. Each
stage is its own module under edge/datasets/synth/:

1. `person.py`: the person (anthropometry, habits, item masses) and the work cell's stations.
2. `motion.py`: a Markov chain over the activities of `activities.py`; each activity is a keyframe program of
   `programs.py` over `posing.Posture` fields, eased by `timeline.py`; gait and micro-motion on top.
3. Targets (here): the clean 3D joints of each layout are scored by the project's own engine (`score_sequence`),
   with the load of each frame: target[t] = row t of `score_sequence(whole recording, load_kg=load_kg[t])`. The
   sequence is scored once per distinct load (a person handles a few item masses), so the activity terms
   (static / repeated / rapid change) always see the full history. Loads are held per activity segment: the item
   of a lift, carry or place counts for its whole segment (REBA rates the handling task, not the grip force);
   push/pull is 0 kg (a push force is not a held mass). Stored: every `reba_*` / `rula_*` column (partials,
   totals, action levels), `l5s1_compression_n` and `load_kg`.
4. Storage (here): `joints` is the clean kinematic ground truth the targets were scored from (`body.py`; float32,
   z up, metres, floor at z = 0), so `score_sequence(joints, load)` reproduces the targets exactly.
   Estimator-like noise goes into `keypoints2d` (`camera.py`). With `estimate` set (`estimate.py`) the stored joints
   are what a monocular 3D estimator would report, and `joint_noise_mm` > 0 adds white 3D noise; the targets stay
   the clean joints' scores.

Everything is drawn from numpy Generators seeded from (seed, recording): the same seed gives the same arrays.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge import __version__
from edge.datasets.sequence import Sequence, save_sequence
from edge.datasets.synth.activities import ACTIVITIES
from edge.datasets.synth.body import UP, body_landmarks
from edge.datasets.synth.camera import draw_camera, keypoints2d
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.estimate import biased_tracks, estimated_joints, estimated_proportions
from edge.datasets.synth.motion import draw_motion
from edge.datasets.synth.person import draw_person, draw_work_cell
from edge.ergonomics.l5s1 import BodyParams
from edge.errors import InputError
from edge.paths import atomic_write
from edge.scoring.methods import ScoreConfig
from edge.scoring.offline import score_sequence
from edge.skeletons import get_layout

_TARGET_PREFIXES = ("reba_", "rula_")


def _targets(joints: np.ndarray, layout, fps: float, load: np.ndarray, body: BodyParams) -> dict[str, np.ndarray]:
    """Every REBA/RULA column and L5/S1 compression of each frame, scored with that frame's load (module doc)."""
    out: dict[str, np.ndarray] = {}
    for value in np.unique(load):
        mask = load == value
        columns = score_sequence(joints, layout, UP, fps, ScoreConfig(load_kg=float(value), body=body)).columns
        for name, column in columns.items():
            if name.startswith(_TARGET_PREFIXES) or name == "l5s1_compression_n":
                out.setdefault(name, np.full(load.shape, np.nan, dtype=np.float32))[mask] = column[mask]
    out["load_kg"] = load.astype(np.float32)
    return out


def _json_ready(value):
    """`value` with numpy arrays and floats as JSON lists and numbers, rounded to 6 decimals."""
    if isinstance(value, np.ndarray):
        return np.round(value, 6).tolist()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    return value


def _joints_note(cfg: SynthConfig) -> str:
    errors = (["a 3D estimator's errors: config estimate"] if cfg.estimate.enabled else []) + (
        [f"{cfg.joint_noise_mm} mm"] if cfg.joint_noise_mm > 0 else [])
    return "clean" if not errors else f"noisy ({' and '.join(errors)}); targets from clean"


def _estimated(seed: int, k: int, cfg: SynthConfig, tracks: dict, person, cam: dict, names: list[str]) -> np.ndarray:
    """The landmarks as a 3D pose estimator reports them (edge/datasets/synth/estimate.py), drawn from a stream of
    their own so that the rest of the recording is the same with and without them."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k, 1)))
    level = float(rng.uniform(*cfg.estimate.level))
    biased = biased_tracks(rng, cfg.estimate, tracks, level, cfg.fps)
    proportions = estimated_proportions(rng, cfg.estimate, person.proportions, level)
    posed_names, posed = body_landmarks(biased, person.height_m, proportions)
    if posed_names != names:
        raise RuntimeError("posing gave other landmarks for the biased posture")
    return estimated_joints(rng, cfg.estimate, names, posed, cam["position"], cfg.fps, level)


def _record(seed: int, k: int, cfg: SynthConfig, n: int) -> list[Sequence]:
    """Recording `k` of `n` frames: one person, cell, camera and motion, as one Sequence per layout."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    person = draw_person(rng, cfg)
    distance = float(rng.uniform(*cfg.camera_distance_m))
    radius = min(cfg.workcell_radius_m, 0.35 * distance)
    stations = draw_work_cell(rng, radius)
    cam = draw_camera(rng, cfg, distance, person, radius)
    tracks, labels, load, segments = draw_motion(rng, cfg, person, stations, n)
    names, points = body_landmarks(tracks, person.height_m, person.proportions)
    stored = points
    if cfg.estimate.enabled:
        stored = _estimated(seed, k, cfg, tracks, person, cam, names)
    if cfg.joint_noise_mm > 0:
        stored = stored + rng.normal(0.0, cfg.joint_noise_mm / 1000.0, points.shape)
    kp2d = keypoints2d(rng, cfg, names, points, cam, cfg.fps)

    meta = {
        "source": "synthetic", "generator": "edge.datasets.synth.generator", "ergo_edge_version": __version__,
        "seed": seed, "recording": k, "subject": f"synth-{seed}-{k}",
        "body": {"height_m": person.height_m, "mass_kg": person.mass_kg, "sex": person.sex,
                 "proportions": person.proportions},
        "camera": _json_ready({**cam, "t": -cam["R"] @ cam["position"]}),
        "joints": _joints_note(cfg),
        "targets": "score_sequence of the clean joints, each frame with its own load_kg "
                   "(see edge.datasets.synth.generator)",
        "segments": segments,
    }
    out = []
    for layout_name in cfg.layouts:
        layout = get_layout(layout_name)
        idx = [names.index(j) for j in layout.joints]
        clean = points[:, idx].astype(np.float32)
        out.append(Sequence(
            layout=layout_name, fps=float(cfg.fps), joints=stored[:, idx].astype(np.float32), up=UP.copy(),
            keypoints2d=kp2d[:, idx].astype(np.float32), activity=labels.copy(), activity_names=ACTIVITIES,
            targets=_targets(clean, layout, cfg.fps, load, person.body()), metadata=dict(meta)))
    return out


# A day of recordings per call: about 1.8 GB of blazepose33 files (3 minutes measured 3.7 MB) and a few minutes
# of work; more data is more calls with other seeds.
MAX_MINUTES = 24 * 60.0


def _check_request(minutes, seed) -> None:
    """Refuse a length or seed that the command line or a caller got wrong, before anything is drawn."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not (math.isfinite(minutes)
                                                                                     and minutes > 0):
        raise InputError(f"minutes must be a positive number, got {minutes!r}")
    if minutes > MAX_MINUTES:
        raise InputError(f"minutes must be at most {MAX_MINUTES:g} (a day of recordings; run again with another seed "
                         f"for more), got {minutes:g}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")


def _recording_lengths(minutes: float, seed: int, config: SynthConfig) -> list[int]:
    """Frames per recording for about `minutes` in all (drawn before any recording, so the plan is the same
    whether recordings are kept or streamed to files)."""
    _check_request(minutes, seed)
    total = int(round(minutes * 60.0 * config.fps))
    if total < 1:
        raise InputError(f"{minutes} minutes is less than one frame at {config.fps} fps")
    plan = np.random.default_rng(seed)
    lo, hi = (max(1, int(round(m * 60.0 * config.fps))) for m in config.recording_minutes)
    lengths, remaining = [], total
    while remaining > 0:
        n = int(plan.integers(lo, hi + 1))
        if remaining - n < lo // 2:
            n = remaining
        lengths.append(n)
        remaining -= n
    return lengths


def iter_sequences(minutes: float, seed: int, config: SynthConfig = SynthConfig()) -> Iterator[Sequence]:
    """The sequences of `generate`, one recording at a time, so that only one recording is ever in memory."""
    for k, n in enumerate(_recording_lengths(minutes, seed, config)):
        yield from _record(int(seed), k, config, n)


def generate(minutes: float, seed: int, config: SynthConfig = SynthConfig()) -> list[Sequence]:
    """About `minutes` of synthetic recordings (rounded to whole frames), one Sequence per recording and layout,
    recordings of `config.recording_minutes` each (a short remainder joins the last one)."""
    return list(iter_sequences(minutes, seed, config))


def write_synth(out_dir, minutes: float, seed: int, config: SynthConfig = SynthConfig()) -> dict:
    """Generate and write `<out>/synth_<seed>_<k>.npz` (one per sequence) and `<out>/manifest.json`; returns the
    manifest."""
    _check_request(minutes, seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    # Never mix two data sets (stale files of a larger run would be read as part of this one), never delete.
    if out.is_dir() and ((out / "manifest.json").exists() or any(out.glob("synth_*.npz"))):
        raise InputError(f"{out} already holds a synthetic data set; choose a new or empty directory")
    files = []
    counts = {name: 0 for name in ACTIVITIES}
    targets: list[str] = []
    for k, seq in enumerate(iter_sequences(minutes, seed, config)):  # each written before the next is made
        path = save_sequence(seq, out / f"synth_{seed}_{k}.npz")
        files.append({"file": path.name, "recording": seq.metadata["recording"], "layout": seq.layout,
                      "frames": seq.num_frames, "duration_s": round(seq.duration_s, 3)})
        for i, c in enumerate(np.bincount(seq.activity, minlength=len(ACTIVITIES))):
            counts[ACTIVITIES[i]] += int(c)
        targets = targets or sorted(seq.targets)
    frames = sum(f["frames"] for f in files)
    manifest = {
        "generator": "edge.datasets.synth.generator",
        "seed": int(seed),
        "minutes": float(minutes),
        "config": _json_ready(dataclasses.asdict(config)),
        "counts": {"sequences": len(files), "recordings": len({f["recording"] for f in files}),
                   "frames": frames, "duration_s": round(frames / config.fps, 3), "activity_frames": counts},
        "activities": list(ACTIVITIES),
        "targets": targets,
        "files": files,
        "versions": {"ergo_edge": __version__, "numpy": np.__version__, "python": platform.python_version()},
    }
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


# SynthConfig lives in edge/datasets/synth/config.py; it is named here too because edge/cli.py imports it from here.
__all__ = ["SynthConfig", "generate", "write_synth"]
