"""Measurement: how synthetic skeletons compare with real 3D pose estimates (the figures behind the synthetic data's
estimator errors and motion ranges; edge/datasets/realism.py computes them).

Run: `.venv/bin/python benchmarks/synth_realism.py [--uwiom DIR] [--footage DIR] [--recipe FILE] [--minutes 30]`.

- UW-IOM (`--uwiom`, the MTL-ERA release folder, e.g. ../shared/data/uwiom-dev): per coarse class
  (edge/data/groups/uwiom_coarse.toml) the posture percentiles and segment durations, and the noise while standing
  (frame-to-frame steps of the mid-hip and, relative to it, of wrists, ankles and head; the mid-hip's anisotropy;
  bone-length variation), at the data's 10 fps; per class, elbows, wrists and ankles in the body's frame and the
  gait's swing (limbs_by_class).
- BlazePose (`--footage`, build/footage): `ergoedge pose --no-smoothing` and `ergoedge pose` (the device's One Euro
  filter) on the four pose2sim clips (60 fps): the high-frequency jitter of hip-relative world landmarks per axis
  (z is the camera's depth), bone-length variation, frames with a missing landmark.
- Synthetic: `--minutes` of `ergoedge synth` data in uwiom15 at 10 fps, with the [data.synth] table of `--recipe`
  (a training config, e.g. edge/data/recipes/edge_stream.toml; default: the generator's defaults), measured as UW-IOM.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GROUPS = REPO / "edge" / "data" / "groups"
CLIPS = ("cam01", "cam02", "cam03", "cam04")


def _summary(seqs, groups, still: str) -> dict:
    from edge.datasets.realism import estimate_noise, limbs_by_class, posture_by_class

    return {"posture": posture_by_class(seqs, groups), "limbs": limbs_by_class(seqs, groups),
            "noise": estimate_noise(seqs, still, groups)}


def _blazepose(footage: Path) -> dict:
    from edge.datasets.realism import jitter_by_axis

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            for mode, flags in (("raw", ["--no-smoothing"]), ("filtered", [])):
                target = Path(tmp) / f"{clip}-{mode}"
                subprocess.run([sys.executable, "-m", "edge", "pose", str(footage / "pose2sim" / f"{clip}.mp4"),
                                "--out", str(target), "--no-draw", *flags], check=True, capture_output=True)
                with np.load(target / "keypoints.npz") as data:
                    joints, fps = data["joints"].astype(np.float64), float(data["fps"])
                entry = jitter_by_axis(joints, "blazepose33", fps)
                entry["frames_with_missing"] = int(np.isnan(joints).any(axis=(1, 2)).sum())
                entry["bone_cv_median"] = round(float(np.median(_bone_cv(joints))), 4)
                out[f"{clip}/{mode}"] = entry
    return out


def _bone_cv(joints: np.ndarray) -> list[float]:
    from edge.skeletons import get_layout

    cvs = []
    for a, b in get_layout("blazepose33").edges[:12]:  # limbs, shoulders, hips and the trunk's sides
        length = np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)
        length = length[np.isfinite(length)]
        cvs.append(float(length.std() / length.mean()))
    return cvs


def _synthetic(recipe: Path | None, minutes: float) -> dict:
    from edge.config import read_toml
    from edge.datasets.sequence import resample
    from edge.datasets.synth.config import SynthConfig
    from edge.datasets.synth.generator import generate
    from edge.train.config import read_run_config

    synth = read_run_config(recipe)[0].data.synth if recipe else SynthConfig()
    config = replace(synth, layouts=("uwiom15",))
    seqs = [resample(s, 10.0) for s in generate(minutes, 0, config)]
    return _summary(seqs, read_toml(GROUPS / "synthetic_coarse.toml"), "stand")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uwiom", help="UW-IOM release folder (Data/UW or a folder holding it)")
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"), help="scripts/fetch_footage.sh's folder")
    parser.add_argument("--recipe", help="training config whose [data.synth] makes the synthetic data")
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of synthetic data (default 30)")
    args = parser.parse_args()

    from edge.config import read_toml

    result: dict = {}
    if args.uwiom:
        from edge.datasets.loaders.uwiom import load_uwiom

        result["uwiom"] = _summary(load_uwiom(args.uwiom), read_toml(GROUPS / "uwiom_coarse.toml"), "stand")
    if (Path(args.footage) / "pose2sim").is_dir():
        result["blazepose"] = _blazepose(Path(args.footage))
    result["synthetic"] = _synthetic(Path(args.recipe) if args.recipe else None, args.minutes)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
