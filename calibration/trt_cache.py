"""TensorRT calibration caches for the implicit INT8 path (TensorRT 8.5 to 10.x), in TensorRT's own text format,
keyed by content, with a JSON sidecar that says what they were made from.

    key = cache_key("edge_stream_step.onnx", calib, "minmax", "10.3")
    path = write_cache(ranges, key, "out/edge_stream_step_trt10.3.0_minmax.calib")   # + .calib.json sidecar
    data = load_cache(path, key)        # bytes for IInt8Calibrator.read_calibration_cache; stale -> InputError

The format, as TensorRT's calibrators write and read it: a first line `TRT-<version>-<algorithm>` (version as
NV_TENSORRT_VERSION: major*1000 + minor*100 + patch before TensorRT 10, major*10000 + minor*100 + patch from 10 on,
e.g. 8601 for 8.6.1, 100300 for 10.3.0; algorithm `EntropyCalibration2` or `MinMaxCalibration`), then one
`<tensor name>: <scale>` line per tensor, the scale being the big-endian bytes of the float32 amax / 127 in hex.
TensorRT ignores (or rejects) a cache whose header names another version or algorithm, so both are part of the
key. ORT's percentile ranges go out under `EntropyCalibration2` (TensorRT has no percentile calibrator; a builder
hands the cache over through an entropy calibrator); the sidecar keeps the real method.

TensorRT 11 removed implicit INT8 calibration (platform.md): there the QDQ ONNX is the way, and asking for a cache
is an error. A cache is reused only when its sidecar's key (ONNX sha256, calibration digest, method, input shapes,
TensorRT version) equals the one asked for; otherwise it is stale and refused with a line saying what changed.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from edge.artifacts import sha256_file
from edge.errors import InputError
from edge.paths import atomic_write

SIDECAR_KIND = "ergo-edge tensorrt calibration cache"
ALGORITHMS = {"minmax": "MinMaxCalibration", "entropy": "EntropyCalibration2", "percentile": "EntropyCalibration2"}
# Implicit INT8 calibration: from 8.5 (the oldest JetPack 5 TensorRT this project targets) until 11 removed it.
OLDEST, FIRST_WITHOUT = "8.5", "11"
INT8_MAX = 127.0


def parse_trt_version(text: str) -> tuple[str, int]:
    """"X.Y" or "X.Y.Z" -> (normalised "X.Y.Z", TensorRT's version number); outside 8.5..10.x is an InputError."""
    from packaging.version import InvalidVersion, Version

    try:
        version = Version(str(text))
    except InvalidVersion:
        raise InputError(f"--trt-version must look like 10.3 or 8.6.1, got {text!r}") from None
    if version < Version(OLDEST):
        raise InputError(f"TensorRT {version} is older than {OLDEST}, the oldest whose calibration cache this writes")
    if version >= Version(FIRST_WITHOUT):
        raise InputError(f"TensorRT {version} has no implicit INT8 calibration (removed in {FIRST_WITHOUT}): build "
                         "from the INT8 QDQ ONNX instead of a calibration cache")
    major, minor, patch = (list(version.release) + [0, 0])[:3]
    number = major * (10000 if major >= 10 else 1000) + minor * 100 + patch
    return f"{major}.{minor}.{patch}", number


@dataclass(frozen=True)
class CacheKey:
    """What a cache depends on; two caches with equal keys are interchangeable."""

    onnx_sha256: str
    calibration_digest: str
    method: str
    input_shapes: dict
    tensorrt: str


def cache_key(onnx_path: str | Path, calib, method: str, trt_version: str) -> CacheKey:
    """The key of a cache for `onnx_path` calibrated on `calib` (a CalibrationSet) with `method`."""
    if method not in ALGORITHMS:
        raise InputError(f"unknown calibration method {method!r}; choose one of {', '.join(ALGORITHMS)}")
    version, _ = parse_trt_version(trt_version)
    return CacheKey(sha256_file(onnx_path), calib.digest, method, calib.input_shapes, version)


def cache_name(stem: str, key: CacheKey) -> str:
    """`<stem>_trt<version>_<method>.calib`: the file name carries its settings."""
    return f"{stem}_trt{key.tensorrt}_{key.method}.calib"


@dataclass(frozen=True)
class TrtCache:
    version_number: int
    algorithm: str
    scales: dict  # tensor name -> float32 scale (amax / 127)


def _hex(scale: float) -> str:
    return struct.pack(">f", scale).hex()


def format_cache(ranges: dict, key: CacheKey) -> str:
    """The cache text of `ranges` (tensor -> (low, high)), tensors sorted by name."""
    _, number = parse_trt_version(key.tensorrt)
    lines = [f"TRT-{number}-{ALGORITHMS[key.method]}"]
    for name in sorted(ranges):
        if "\n" in name:
            raise InputError(f"tensor name {name!r} cannot be written into a TensorRT cache (newline)")
        low, high = ranges[name]
        lines.append(f"{name}: {_hex(max(abs(low), abs(high)) / INT8_MAX)}")
    return "\n".join(lines) + "\n"


def parse_cache(text: str) -> TrtCache:
    """A cache's text back as its version number, algorithm and per-tensor scales; a malformed one is an
    InputError naming the line."""
    lines = text.splitlines()
    head = lines[0].split("-") if lines else []
    if len(head) != 3 or head[0] != "TRT" or not head[1].isdigit() or not head[2]:
        raise InputError("not a TensorRT calibration cache: the first line must be TRT-<version>-<algorithm>")
    scales = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        name, sep, value = line.rpartition(":")
        value = value.strip()
        if not sep or not name or not 1 <= len(value) <= 8 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise InputError(f"TensorRT calibration cache line {number} is not `tensor: <hex scale>`: {line[:80]!r}")
        scales[name] = struct.unpack(">f", bytes.fromhex(value.zfill(8)))[0]
    return TrtCache(int(head[1]), head[2], scales)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_cache(ranges: dict, key: CacheKey, path: str | Path) -> tuple[Path, bool]:
    """Write the cache of `ranges` at `path` with its sidecar, unless a cache with the same key and content is
    there already (reused). Returns (path, reused). A stale cache at `path` is replaced."""
    path = Path(path)
    text = format_cache(ranges, key)
    try:
        old = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        if isinstance(old, dict) and old.get("key") == asdict(key) and path.read_text(encoding="utf-8") == text:
            return path, True
    except (OSError, ValueError):
        pass  # none there, or damaged: written anew
    sidecar = {"kind": SIDECAR_KIND, "format": 1, "file": path.name, "key": asdict(key),
               "algorithm": ALGORITHMS[key.method], "tensors": len(ranges),
               "cache_sha256": None, "note": "scale = max(|low|, |high|) / 127 of each tensor's calibrated range"}
    atomic_write(path, text)
    sidecar["cache_sha256"] = sha256_file(path)
    atomic_write(_sidecar(path), json.dumps(sidecar, indent=1) + "\n")
    return path, False


def load_cache(path: str | Path, key: CacheKey) -> bytes:
    """The cache's bytes for TensorRT, only when its sidecar's key equals `key` and the file is the one the sidecar
    describes; otherwise an InputError that says why it is stale and what to run."""
    path = Path(path)
    hint = "run `ergoedge calibrate` again for this model, data and TensorRT version"
    try:
        meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{Path(exc.filename).name}: missing, so the cache cannot be checked; {hint}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{_sidecar(path).name}: unreadable ({exc}); {hint}") from None
    if not isinstance(meta, dict) or meta.get("kind") != SIDECAR_KIND or not isinstance(meta.get("key"), dict):
        raise InputError(f"{_sidecar(path).name} is not the sidecar of a calibration cache; {hint}")
    if sha256_file(path) != meta.get("cache_sha256"):
        raise InputError(f"{path.name} was changed after it was written (sha256 differs from its sidecar); {hint}")
    wanted = asdict(key)
    changed = [k for k in wanted if meta["key"].get(k) != wanted[k]]
    if changed:
        raise InputError(f"stale calibration cache {path.name}: its {', '.join(changed)} differ(s) from this "
                         f"build's; {hint}")
    parsed = parse_cache(data.decode("utf-8"))
    if parsed.version_number != parse_trt_version(key.tensorrt)[1]:
        raise InputError(f"stale calibration cache {path.name}: its header is for TensorRT {parsed.version_number}; "
                         f"{hint}")
    return data
