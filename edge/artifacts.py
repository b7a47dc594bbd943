"""Model files on disk and the manifest that vouches for them: names, input/output shapes and dtypes, sha256.

The models directory (`models_dir`) holds the ONNX files the product runs and a `manifest.json` that lists every
file with its sha256 and every model with its tensors. Whatever made the files (`ergoedge models fetch` for
BlazePose, the export stage for trained models) writes the manifest; everything that runs a model reads it through
`load_manifest` / `model_file` / `model_path`, which check each file's sha256 and raise `ModelError` (an
`InputError`) naming what is missing or changed and what to run.

The default learned models (`edge_stream.pt`, `lifter_2d3d.pt`: checkpoints of edge/train/checkpoint.py, trained on
synthetic data by `ergoedge train-defaults`) sit in the same directory with a manifest of their own,
`default_weights.json` (`load_weights_manifest`, `weights_path`), because `ergoedge models fetch` rewrites
`manifest.json` whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError
from edge.paths import user_dir

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
# The models the pose stage needs from the models directory (BlazePose's detector and landmark model).
POSE_MODELS = ("pose_detection", "pose_landmark_full")
FETCH_HINT = "run `ergoedge models fetch`"
# The default learned models (`<name>.pt` checkpoints, edge/train/defaults.py), listed with their sha256 in a manifest
# of their own beside the pose models: `ergoedge models fetch` rewrites manifest.json whole.
DEFAULT_WEIGHTS = ("edge_stream", "lifter_2d3d")
WEIGHTS_MANIFEST = "default_weights.json"
WEIGHTS_HINT = "run `ergoedge train-defaults` (set-up does)"


class ModelError(InputError):
    """Model files are missing, changed or could not be made; the message says what to do, in one line."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class ModelFile:
    """One checked ONNX model: its path, sha256 and the names/shapes/dtypes of its inputs and outputs."""

    name: str
    path: Path
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def models_dir(override: str | os.PathLike | None = None) -> Path:
    """The models directory: `override`, else $ERGOEDGE_MODELS, else ${XDG_CACHE_HOME:-~/.cache}/ergo-edge/models."""
    return user_dir("models", override)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_file(path: Path, missing: str, hint: str, error: type[InputError]):
    """The parsed JSON of `path`; missing (`missing` says what that means) or unreadable is one `error` ending in
    `hint`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{missing}; {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable manifest ({exc}); {hint}") from None
    except RecursionError:
        raise error(f"{path}: unreadable manifest (JSON nested too deeply); {hint}") from None


def read_sidecar(model_file: str | os.PathLike, hint: str) -> dict:
    """The JSON manifest beside a model file (`<stem>.json`: every exported, calibrated or built model has one);
    missing, unreadable or not an object is one `InputError` ending in `hint`, the command that makes it."""
    model_file = Path(model_file)
    where = model_file.with_suffix(".json")
    data = _json_file(where, f"{model_file.name}: no manifest beside it ({where.name})", hint, InputError)
    if not isinstance(data, dict):
        raise InputError(f"{where}: not a manifest (a JSON object); {hint}")
    return data


# What an exported skeleton model's manifest holds for the stages that feed the model skeletons (export/onnx_model.py
# and export/onnx_stream.py write it; calibration and verify read it).
SKELETON_MANIFEST_FIELDS = {"inputs": list, "layout": str, "fps": (int, float), "normalisation": dict}


def check_skeleton_manifest(manifest: dict, where: str | os.PathLike, hint: str) -> None:
    """One `InputError` ending in `hint` unless `manifest` (read from `where`) has `SKELETON_MANIFEST_FIELDS` with
    their types and a positive frame rate."""
    for key, kind in SKELETON_MANIFEST_FIELDS.items():
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (key == "fps" and not 0 < value < float("inf")):
            raise InputError(f"{where}: field {key!r} is missing or malformed; {hint}")


def load_manifest(directory: str | os.PathLike | None = None) -> dict:
    """Read `manifest.json` and check every file it lists against its sha256; raise `ModelError` otherwise."""
    d = models_dir(directory)
    path = d / MANIFEST
    manifest = _read_manifest(path, "pose models", FETCH_HINT)
    files = manifest.get("files")
    models = manifest.get("models")
    if not isinstance(files, dict) or not isinstance(models, dict):
        raise ModelError(f"{path} is incomplete; {FETCH_HINT}")
    problems = [f"{name} (not in the manifest)" for name in POSE_MODELS if name not in models]
    for name, info in sorted(files.items()):
        if Path(name).name != name:
            problems.append(f"{name} (bad file name)")
        elif (problem := _file_problem(d / name, info)) is not None:
            problems.append(problem)
    if problems:
        raise ModelError(f"model files missing or changed in {d}: {', '.join(problems)}; {FETCH_HINT}")
    return manifest


def _read_manifest(path: Path, what: str, hint: str) -> dict:
    """A manifest of the models directory as this version writes it (a JSON object with our `format`); missing,
    unreadable or another version's is one `ModelError` (`what`: what is missing without it) ending in `hint`."""
    manifest = _json_file(path, f"no {what} in {path.parent}", hint, ModelError)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelError(f"{path} is from another version of ergo-edge; {hint}")
    return manifest


def _file_problem(file: Path, info) -> str | None:
    """What is wrong with a listed file against its manifest entry (`sha256`): "NAME (missing)", "NAME (changed)",
    or None."""
    if not isinstance(info, dict):
        return f"{file.name} (not a manifest entry)"
    if not file.is_file():
        return f"{file.name} (missing)"
    if sha256_file(file) != info.get("sha256"):
        return f"{file.name} (changed)"
    return None


def model_file(name: str, directory: str | os.PathLike | None = None) -> ModelFile:
    """The checked ONNX file of model `name` (one of `POSE_MODELS`)."""
    if name not in POSE_MODELS:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(POSE_MODELS)}")
    d = models_dir(directory)
    info = load_manifest(d)["models"][name]

    def specs(items):
        return tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in items)

    try:
        return ModelFile(name, d / info["onnx"], info["onnx_sha256"], specs(info["inputs"]), specs(info["outputs"]))
    except (KeyError, TypeError):
        raise ModelError(f"{d / MANIFEST}: the entry of {name} is incomplete; {FETCH_HINT}") from None


def model_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    """Path of the checked ONNX file of model `name`."""
    return model_file(name, directory).path


def load_weights_manifest(directory: str | os.PathLike | None = None) -> dict:
    """Read `default_weights.json` and check every checkpoint it lists against its sha256; raise `ModelError`
    otherwise."""
    d = models_dir(directory)
    path = d / WEIGHTS_MANIFEST
    manifest = _read_manifest(path, "default weights", WEIGHTS_HINT)
    models = manifest.get("models")
    if not isinstance(models, dict):
        raise ModelError(f"{path} is incomplete; {WEIGHTS_HINT}")
    problems = []
    for name, info in sorted(models.items()):
        # an entry that is not an object is reported against the file it should describe
        file = d / (str(info.get("file", "")) if isinstance(info, dict) else f"{name}.pt")
        if name not in DEFAULT_WEIGHTS or file.name != f"{name}.pt":
            problems.append(f"{name} (not a default model)")
        elif (problem := _file_problem(file, info)) is not None:
            problems.append(problem)
    if problems:
        raise ModelError(f"default weights missing or changed in {d}: {', '.join(problems)}; {WEIGHTS_HINT}")
    return manifest


def weights_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    """The checked checkpoint (edge/train/checkpoint.py) of default model `name`, one of `DEFAULT_WEIGHTS`."""
    if name not in DEFAULT_WEIGHTS:
        raise ModelError(f"unknown default model {name!r}; known: {', '.join(DEFAULT_WEIGHTS)}")
    d = models_dir(directory)
    info = load_weights_manifest(d)["models"].get(name)
    if info is None:
        raise ModelError(f"no default {name} weights in {d}; {WEIGHTS_HINT}")
    return d / info["file"]
