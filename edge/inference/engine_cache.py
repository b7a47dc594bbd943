"""TensorRT engines on the device, built on first start from the shipped ONNX and cached by their manifests.

    engine = engine_for("edge_stream_step.onnx", EngineSpec(precision="fp32"))   # builds once, then reuses

An engine is reused while its manifest's key (`tensorrt_build.engine_key`: the ONNX's sha256, precision, optimisation
profile, TensorRT version, GPU, L4T, DLA core, calibration cache) equals the one this device and this ONNX give now,
and the engine file still has the sha256 its manifest records; otherwise (first start, a JetPack/TensorRT upgrade, a
new ONNX) it is built again, under a lock so that two processes starting at once build it once. The cache
directory is $ERGOEDGE_ENGINE_CACHE, else `engines` in the state directory (on the device /var/lib/ergo-edge/engines),
and the timing cache lives in its `timing` folder unless the spec names another.

`auto_engine` is what `open_backend(..., "auto")` asks for an .onnx file: the cached engine when TensorRT and a GPU
are here, else None after one log line that says why and where the model runs instead.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

from edge.artifacts import sha256_file
from edge.device import is_jetson
from edge.errors import InputError
from edge.inference.tensorrt_build import (
    EngineSpec, build_engine, build_host, engine_key, engine_name, import_tensorrt, inspect_onnx, resolve_profile,
)
from edge.paths import exclusive_lock, output_dir, user_dir

__all__ = ["ENV", "auto_engine", "default_cache_dir", "engine_for", "tensorrt_unusable"]

ENV = "ERGOEDGE_ENGINE_CACHE"
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$ERGOEDGE_ENGINE_CACHE, else `engines` in ergo-edge's state directory."""
    own = os.environ.get(ENV)
    return Path(own).expanduser() if own else user_dir("state") / "engines"


def engine_for(onnx_path: str | Path, spec: EngineSpec | None = None, cache_dir: str | Path | None = None) -> Path:
    """The engine of `onnx_path` built as `spec` (default `EngineSpec()`) says, from the cache when its key still
    matches, else built now."""
    spec = EngineSpec() if spec is None else spec
    onnx_path = Path(onnx_path).expanduser()
    if not onnx_path.is_file():
        raise InputError(f"ONNX file not found: {onnx_path}")
    cache = output_dir(default_cache_dir() if cache_dir is None else cache_dir)
    if spec.timing_cache_dir is None:
        spec = dataclasses.replace(spec, timing_cache_dir=cache / "timing")
    trt = import_tensorrt()
    graph = inspect_onnx(onnx_path)
    calib = sha256_file(spec.calibration_cache) if spec.calibration_cache and spec.calibration_cache.is_file() else None
    profile = resolve_profile(spec, graph)
    key = engine_key(sha256_file(onnx_path), spec, profile, build_host(trt), calib)
    engine = cache / engine_name(onnx_path, spec, graph, profile)
    with exclusive_lock(cache / ".lock"):
        reason = stale_reason(engine, key)
        if reason is None:
            return engine
        log.warning("building the TensorRT engine %s from %s (%s); this can take minutes", engine.name,
                    onnx_path.name, reason)
        build_engine(onnx_path, spec, cache)
    return engine


def stale_reason(engine: Path, key: dict) -> str | None:
    """Why the cached `engine` cannot serve `key` (in words), None when it can."""
    if not engine.is_file():
        return "no engine cached yet"
    try:
        manifest = json.loads(engine.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "its manifest is missing or unreadable"
    old = manifest.get("cache_key") if isinstance(manifest, dict) else None
    if not isinstance(old, dict):
        return "its manifest has no cache key"
    changed = [name for name in key if old.get(name) != key[name]]
    if changed:
        if "onnx_sha256" in changed:
            return "the ONNX changed"
        return "; ".join(f"{name} {old.get(name)} -> {key[name]}" for name in changed)
    if sha256_file(engine) != manifest.get("engine_sha256"):
        return "the engine file does not match its manifest"
    return None


@functools.lru_cache(maxsize=1)
def tensorrt_unusable() -> str | None:
    """Why TensorRT engines cannot run here (TensorRT not installed, not importable, no CUDA device), None when
    they can; decided once per process."""
    from edge.inference.cuda_memory import open_cuda

    if not _installed("tensorrt"):
        return "TensorRT is not installed"
    try:
        import_tensorrt()
        open_cuda("auto")
    except InputError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=None)
def _say_once(reason: str, fallback: str) -> None:
    # Expected on a PC without an NVIDIA GPU; on a Jetson, JetPack should have brought TensorRT.
    (log.warning if is_jetson() else log.info)("no TensorRT engines: %s; .onnx models run on %s", reason, fallback)


def _installed(module: str) -> bool:
    # find_spec answers for modules not imported yet; one already in sys.modules (None: blocked) answers itself.
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def auto_engine(onnx_path: str | Path, fallback: str = "ONNX Runtime") -> Path | None:
    """The engine "auto" runs for an .onnx file: the cached (or newly built) engine at the precision the graph
    carries, when TensorRT and a GPU are here; None otherwise (said once per process, naming `fallback`, the
    runtime the caller uses instead) or when the build fails (one log line)."""
    reason = tensorrt_unusable()
    if reason is not None:
        _say_once(reason, fallback)
        return None
    onnx_path = Path(onnx_path)
    try:
        return engine_for(onnx_path, EngineSpec(precision=inspect_onnx(onnx_path).precision))
    except InputError as exc:
        log.warning("no TensorRT engine for %s (%s); it runs on %s", onnx_path.name, exc, fallback)
        return None
