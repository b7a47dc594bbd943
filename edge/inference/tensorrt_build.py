"""TensorRT engines from ONNX (TensorRT 10.x on JetPack 6, and newer), with a manifest beside each engine.

    spec = EngineSpec(precision="int8", max_batch=8)
    artifact = build_engine("edge_stream_step_int8.onnx", spec, "out/")   # out/edge_stream_step_b8_int8.engine + .json

How a graph is built follows from the precision the graph carries and the precision asked for:

- a graph that carries its precision (INT8 as QuantizeLinear/DequantizeLinear pairs, FP16 written into the graph),
  and an FP32 graph built at fp32: a strongly typed network (`NetworkDefinitionCreationFlag.STRONGLY_TYPED`),
  which TensorRT 10 and 11 both build exactly as the graph says;
- an FP32 graph at fp16: the FP16 builder flag, only where the TensorRT version still has it (TensorRT 11 removed it:
  convert the graph to FP16 first);
- an FP32 graph at int8: TensorRT's implicit INT8 with a calibration cache (read, never computed here), only on
  TensorRT < 11 (the implicit calibrators were deprecated in 10.1 and removed in 11);
- anything else is one `InputError` that names the TensorRT version and what to do instead.

The timing cache lives per TensorRT version and device (the file name says which) and is loaded before and saved
after each build; one whose record names another TensorRT, device or CUDA, or that TensorRT itself refuses, is an
error, never silently reused. `tensorrt` is imported inside `build_engine` only; without it `TensorRTMissing` (an
InputError) says what to install.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge import __version__
from edge.artifacts import read_sidecar, sha256_file
from edge.device import board_name, jetpack_version, l4t_version
from edge.errors import InputError
from edge.paths import atomic_write, output_dir
from edge.versions import version_satisfies

__all__ = ["EngineArtifact", "EngineSpec", "OnnxGraph", "TensorRTMissing", "build_engine", "build_host", "engine_key",
           "engine_name", "import_tensorrt", "inspect_onnx", "plan_build", "resolve_profile", "trt_features"]

PRECISIONS = ("fp32", "fp16", "int8")
MANIFEST_FORMAT = 1
ARTIFACT = "tensorrt_engine"
# The oldest TensorRT this builder drives: strongly typed networks, named I/O tensors, build_serialized_network.
MIN_TENSORRT = "10.0"
INSTALL_HINT = ("`ergoedge build` needs TensorRT >= 10 and its Python bindings: on a Jetson JetPack 6 "
                "(apt install python3-libnvinfer), on a desktop GPU NVIDIA's TensorRT packages")
# Calibration algorithms named in the first line of a TensorRT calibration cache (`TRT-<version>-<algorithm>`),
# and the calibrator base class that reads each.
_CALIBRATORS = {"EntropyCalibration2": "IInt8EntropyCalibrator2", "MinMaxCalibration": "IInt8MinMaxCalibrator",
                "EntropyCalibration": "IInt8EntropyCalibrator", "LegacyCalibration": "IInt8LegacyCalibrator"}
_ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 9: "bool", 3: "int8", 2: "uint8"}
log = logging.getLogger(__name__)


class TensorRTMissing(InputError):
    """TensorRT's Python bindings cannot be imported here (the message says what to install)."""


@dataclass(frozen=True)
class EngineSpec:
    """How to build one engine.

    precision: fp32, fp16 or int8 (see the module docstring for how each meets the graph).
    max_batch, max_frames: the optimisation profile of every dynamic input: axis 0 (batch) 1..max_batch with opt 1
      (one person, one stream), any other dynamic axis (time) 1..max_frames with opt max_frames (whole windows).
    profiles: explicit (input name, min shape, opt shape, max shape) rows that replace the default for that input.
    workspace_mb: the builder's workspace memory pool. dla_core: run on this DLA core (Orin) with GPU fallback for
      layers DLA lacks; None: GPU only. timing_cache_dir: where the timing cache of this TensorRT and device lives
      (None: no timing cache). calibration_cache: a TensorRT calibration cache for the implicit-INT8 path.
    """

    precision: str = "fp32"
    max_batch: int = 8
    max_frames: int = 256
    profiles: tuple[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = ()
    workspace_mb: int = 1024
    dla_core: int | None = None
    timing_cache_dir: Path | None = None
    calibration_cache: Path | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; choose {', '.join(PRECISIONS)}")
        for name, value, top in (("max_batch", self.max_batch, 4096), ("max_frames", self.max_frames, 1 << 20),
                                 ("workspace_mb", self.workspace_mb, 1 << 20)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise InputError(f"{name} must be a whole number from 1 to {top}, got {value!r}")
        if self.dla_core is not None and (isinstance(self.dla_core, bool) or not isinstance(self.dla_core, int)
                                          or self.dla_core < 0):
            raise InputError(f"dla_core must be a DLA core number (0, 1, ...), got {self.dla_core!r}")
        if self.dla_core is not None and self.precision == "fp32":
            raise InputError("DLA runs FP16 and INT8 only: build at fp16 or int8, or leave out the DLA core")
        for name, lo, opt, hi in self.profiles:
            if not (len(lo) == len(opt) == len(hi)) or not all(1 <= a <= b <= c for a, b, c in zip(lo, opt, hi)):
                raise InputError(f"profile of {name!r}: need min <= opt <= max, each dimension >= 1, "
                                 f"got {list(lo)}, {list(opt)}, {list(hi)}")
        for attr in ("timing_cache_dir", "calibration_cache"):
            value = getattr(self, attr)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, attr, Path(value).expanduser())


@dataclass(frozen=True)
class EngineArtifact:
    engine: Path
    manifest: Path
    key: dict
    build_seconds: float


@dataclass(frozen=True)
class OnnxGraph:
    """What the builder needs to know of an ONNX file before TensorRT sees it: its inputs and outputs (name, shape
    with the dynamic axes' names, dtype) and the precision it carries (int8: QDQ nodes; fp16: float16 tensors)."""

    inputs: tuple[dict, ...]
    outputs: tuple[dict, ...]
    precision: str


def inspect_onnx(path: str | Path) -> OnnxGraph:
    """Read the graph (not its external weights) of an ONNX file."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, OSError ... for a file that is not ONNX
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path.name} is not a readable ONNX model ({reason})") from None
    graph = model.graph
    weights = {t.name for t in graph.initializer}

    def rows(values):
        return tuple({"name": v.name,
                      "shape": [d.dim_param or (d.dim_value if d.dim_value > 0 else "?")
                                for d in v.type.tensor_type.shape.dim],
                      "dtype": _ONNX_DTYPES.get(v.type.tensor_type.elem_type, str(v.type.tensor_type.elem_type))}
                     for v in values if v.name not in weights)

    ops = {n.op_type for n in all_nodes(graph)}
    if ops & {"QuantizeLinear", "DequantizeLinear"}:
        precision = "int8"
    elif _carries_fp16(graph):
        precision = "fp16"
    else:
        precision = "fp32"
    return OnnxGraph(rows(graph.input), rows(graph.output), precision)


def all_nodes(graph):
    """Every node of an ONNX graph, those of If/Loop/Scan bodies included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:  # If/Loop/Scan bodies
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from all_nodes(sub)


def _carries_fp16(graph) -> bool:
    fp16 = 10  # onnx.TensorProto.FLOAT16
    if any(t.data_type == fp16 for t in graph.initializer):
        return True
    if any(v.type.tensor_type.elem_type == fp16 for v in (*graph.input, *graph.output, *graph.value_info)):
        return True
    return any(n.op_type == "Cast" and any(a.name == "to" and a.i == fp16 for a in n.attribute)
               for n in all_nodes(graph))


def resolve_profile(spec: EngineSpec, graph: OnnxGraph) -> dict[str, dict[str, list[int]]]:
    """The optimisation profile: input name -> {"min", "opt", "max"} shapes, for every input with a dynamic axis
    (explicit `spec.profiles` rows first). A dynamic axis the defaults cannot fill is an InputError."""
    explicit = {name: (lo, opt, hi) for name, lo, opt, hi in spec.profiles}
    unknown = sorted(set(explicit) - {row["name"] for row in graph.inputs})
    if unknown:
        raise InputError(f"profile for {unknown[0]!r}: the graph has no such input "
                         f"(inputs: {', '.join(r['name'] for r in graph.inputs)})")
    profile = {}
    for row in graph.inputs:
        shape, name = row["shape"], row["name"]
        if name in explicit:
            lo, opt, hi = explicit[name]
            if len(lo) != len(shape) or any(isinstance(d, int) and not lo[i] == opt[i] == hi[i] == d
                                            for i, d in enumerate(shape)):
                raise InputError(f"profile of {name!r} does not fit its shape {shape}")
            profile[name] = {"min": list(lo), "opt": list(opt), "max": list(hi)}
            continue
        if all(isinstance(d, int) for d in shape):
            continue
        lo, opt, hi = [], [], []
        for axis, d in enumerate(shape):
            if isinstance(d, int):
                lo.append(d), opt.append(d), hi.append(d)
            elif axis == 0:
                lo.append(1), opt.append(1), hi.append(spec.max_batch)
            elif axis == 1:
                lo.append(1), opt.append(spec.max_frames), hi.append(spec.max_frames)
            else:
                raise InputError(f"input {name!r} has a dynamic axis {axis} ({d!r}) that is neither batch nor "
                                 "time: give its profile explicitly")
        profile[name] = {"min": lo, "opt": opt, "max": hi}
    return profile


@dataclass(frozen=True)
class TrtFeatures:
    version: str
    fp16_flag: bool  # BuilderFlag.FP16 (TensorRT < 11)
    implicit_int8: bool  # BuilderFlag.INT8 with an IInt8Calibrator (TensorRT 8.5 .. 10.x)


def trt_features(version: str) -> TrtFeatures:
    """What a TensorRT version can build (the one place that compares TensorRT versions). Older than 10.0 or not a
    version: InputError."""
    try:
        supported = version_satisfies(version, f">={MIN_TENSORRT}")
        old = version_satisfies(version, "<11")
    except ValueError:
        raise InputError(f"TensorRT reports version {version!r}, which cannot be compared; {INSTALL_HINT}") from None
    if not supported:
        raise InputError(f"TensorRT {version} is too old: {INSTALL_HINT}")
    return TrtFeatures(version, fp16_flag=old, implicit_int8=old)


@dataclass(frozen=True)
class BuildPlan:
    strongly_typed: bool
    flags: tuple[str, ...]  # BuilderFlag names to set
    implicit_int8: bool


def plan_build(spec: EngineSpec, graph_precision: str, features: TrtFeatures) -> BuildPlan:
    """How to build `spec` for a graph that carries `graph_precision` with this TensorRT; InputError when it cannot."""
    v, asked = features.version, spec.precision
    flags = ("GPU_FALLBACK",) if spec.dla_core is not None else ()
    if graph_precision != "fp32":
        if asked != graph_precision:
            raise InputError(f"the graph carries {graph_precision} (built as it is, strongly typed): build it with "
                             f"--precision {graph_precision}, or start from the FP32 graph for {asked}")
        if spec.calibration_cache is not None:
            raise InputError("a calibration cache serves an FP32 graph built at int8 (implicit INT8); this graph "
                             f"carries {graph_precision} already: leave out the calibration cache")
        return BuildPlan(True, flags, False)
    if asked == "fp32":
        if spec.calibration_cache is not None:
            raise InputError("a calibration cache is only for --precision int8")
        return BuildPlan(True, flags, False)
    if asked == "fp16":
        if not features.fp16_flag:
            raise InputError(f"TensorRT {v} has no FP16 builder flag (removed in 11): convert the graph to FP16 "
                             "first (`ergoedge calibrate` writes <stem>_fp16.onnx) and build that")
        if spec.calibration_cache is not None:
            raise InputError("a calibration cache is only for --precision int8")
        return BuildPlan(False, ("FP16", *flags), False)
    if not features.implicit_int8:
        raise InputError(f"TensorRT {v} has no implicit INT8 calibration (removed in 11): build the INT8 QDQ graph "
                         "that `ergoedge calibrate` writes (<stem>_int8.onnx) instead")
    if spec.calibration_cache is None:
        raise InputError("an FP32 graph at int8 needs --calibration-cache (TensorRT's implicit INT8), or build the "
                         "INT8 QDQ graph that `ergoedge calibrate` writes")
    return BuildPlan(False, ("INT8", *flags), True)


def build_host(trt: Any) -> dict:
    """The facts an engine is tied to: TensorRT and CUDA versions, GPU name and compute capability, L4T/JetPack and
    board where this is a Jetson."""
    cuda = _cuda_facts()
    l4t = l4t_version()
    return {"tensorrt": str(trt.__version__), "cuda": cuda.get("cuda"),
            "device": cuda.get("device") or board_name() or "unknown GPU",
            "compute_capability": cuda.get("compute_capability"), "l4t": l4t, "jetpack": jetpack_version(l4t),
            "board": board_name()}


def _cuda_facts() -> dict:
    """CUDA version, device 0's name and compute capability from cuda-python or pycuda; {} when neither answers."""
    try:
        try:
            from cuda.bindings import runtime as rt
        except ImportError:
            from cuda import cudart as rt
        err, props = rt.cudaGetDeviceProperties(0)
        err2, version = rt.cudaRuntimeGetVersion()
        if int(err) == 0 and int(err2) == 0:
            name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
            return {"device": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}",
                    "cuda": f"{version // 1000}.{version % 1000 // 10}"}
    except Exception:  # absent, or no driver: try pycuda, then record what is known
        pass
    try:
        import pycuda.driver as drv

        drv.init()
        dev = drv.Device(0)
        return {"device": dev.name(), "compute_capability": "{}.{}".format(*dev.compute_capability()),
                "cuda": ".".join(str(x) for x in drv.get_version()[:2])}
    except Exception:
        return {}


def engine_key(onnx_sha256: str, spec: EngineSpec, profile: dict, host: dict,
               calibration_sha256: str | None = None) -> dict:
    """What an engine depends on; an engine is reused only while every field matches (edge.inference.engine_cache)."""
    return {"onnx_sha256": onnx_sha256, "precision": spec.precision, "profile": profile,
            "tensorrt": host["tensorrt"], "device": host["device"], "compute_capability": host["compute_capability"],
            "l4t": host["l4t"], "dla_core": spec.dla_core, "workspace_mb": spec.workspace_mb,
            "calibration_cache_sha256": calibration_sha256}


def engine_name(onnx_path: str | Path, spec: EngineSpec, graph: OnnxGraph, profile: dict) -> str:
    """`<model>_b<max batch>_<precision>.engine`: the batch is the profile's largest (a graph with a fixed batch
    axis: that size); a precision suffix of the ONNX stem (`x_int8.onnx`) is not repeated."""
    stem = re.sub(r"_(fp32|fp16|int8)$", "", Path(onnx_path).stem)
    batches = [profile[r["name"]]["max"][0] if r["name"] in profile else r["shape"][0]
               for r in graph.inputs if r["shape"] and (r["name"] in profile or isinstance(r["shape"][0], int))]
    return f"{stem}_b{max(batches, default=1)}_{spec.precision}.engine"


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTMissing(f"TensorRT's Python bindings are not installed ({exc}): {INSTALL_HINT}") from None
    return trt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "device"


class _TimingCache:
    """The timing cache file of one TensorRT version and device in `directory`, with a JSON record of what made it."""

    def __init__(self, directory: Path, host: dict) -> None:
        self.record = {k: host[k] for k in ("tensorrt", "device", "compute_capability", "cuda")}
        name = f"timing_trt{host['tensorrt']}_{_slug(host['device'])}_sm{host['compute_capability'] or 'na'}"
        self.path = directory / f"{name}.cache"
        self.sidecar = directory / f"{name}.json"

    def attach(self, config: Any) -> None:
        """Load the cache into `config` (an empty one when there is none yet); a stale one is an InputError."""
        data = b""
        if self.path.is_file():
            try:
                made = json.loads(self.sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                made = None
            if made != self.record:
                raise InputError(f"stale timing cache {self.path}: made by {made or 'an unknown build'}, this is "
                                 f"{self.record}; delete it (a new one is made on the next build)")
            data = self.path.read_bytes()
        cache = config.create_timing_cache(data)
        if cache is None or not config.set_timing_cache(cache, False):
            raise InputError(f"TensorRT {self.record['tensorrt']} refuses the timing cache {self.path} (another "
                             "TensorRT version or device); delete it")

    def save(self, config: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, bytes(config.get_timing_cache().serialize()))
        atomic_write(self.sidecar, json.dumps(self.record, indent=1) + "\n")


def _calibration_cache(path: Path) -> tuple[bytes, str]:
    """The bytes of a TensorRT calibration cache and its algorithm (from its first line, `TRT-<v>-<algorithm>`)."""
    if not path.is_file():
        raise InputError(f"calibration cache not found: {path}")
    data = path.read_bytes()
    first = data.split(b"\n", 1)[0].decode("ascii", errors="replace").strip()
    match = re.fullmatch(r"TRT-\d+-(\w+)", first)
    if not match or match.group(1) not in _CALIBRATORS:
        raise InputError(f"{path} is not a TensorRT calibration cache (first line {first[:60]!r}, want "
                         f"TRT-<version>-<{'|'.join(_CALIBRATORS)}>)")
    return data, match.group(1)


def _cache_only_calibrator(trt: Any, data: bytes, algorithm: str) -> Any:
    """An IInt8Calibrator of the cache's own algorithm that hands TensorRT the cache and never a batch: scales come
    from the cache only, so nothing is calibrated on the device."""
    base = getattr(trt, _CALIBRATORS[algorithm])

    class CacheOnly(base):
        def __init__(self):
            base.__init__(self)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            return None

        def read_calibration_cache(self):
            return data

        def write_calibration_cache(self, cache):
            return None

    return CacheOnly()


def _source_manifest(onnx_path: Path) -> dict:
    """The manifest beside the ONNX (`<stem>.json`), {} when there is none; unreadable is an InputError."""
    path = onnx_path.with_suffix(".json")
    if not path.is_file():
        return {}
    manifest = read_sidecar(onnx_path, "export or calibrate the model again")
    if manifest.get("onnx_sha256") not in (None, sha256_file(onnx_path)):
        raise InputError(f"{onnx_path}: the file does not match its manifest {path.name} (changed or renamed)")
    return manifest


def _calibration_record(source: dict, cache: Path | None, algorithm: str | None) -> dict | None:
    """How the INT8 scales were made: from the calibration cache (implicit INT8), else from the ONNX's manifest
    (a QDQ graph from `ergoedge calibrate` records its `calibration`: method, samples, digest, source)."""
    if cache is not None:
        return {"source": "tensorrt calibration cache", "file": cache.name, "sha256": sha256_file(cache),
                "method": algorithm}
    made = source.get("calibration")
    if not isinstance(made, dict):
        return None
    return {"method": made.get("method"), "samples": made.get("samples"), "sha256": made.get("digest"),
            "source": made.get("source")}


def build_engine(onnx_path: str | Path, spec: EngineSpec, out_dir: str | Path) -> EngineArtifact:
    """Build `onnx_path` as `spec` says into `out_dir`: `<model>_b<N>_<precision>.engine` and its manifest
    `<model>_b<N>_<precision>.json` (written last, so a manifest always describes a complete engine)."""
    onnx_path = Path(onnx_path).expanduser()
    if not onnx_path.is_file():
        raise InputError(f"ONNX file not found: {onnx_path}")
    out = output_dir(out_dir)
    trt = import_tensorrt()
    features = trt_features(str(trt.__version__))
    graph = inspect_onnx(onnx_path)
    plan = plan_build(spec, graph.precision, features)
    profile = resolve_profile(spec, graph)
    source = _source_manifest(onnx_path)
    calib = _calibration_cache(spec.calibration_cache) if plan.implicit_int8 else None
    host = build_host(trt)
    onnx_sha = sha256_file(onnx_path)
    calib_sha = sha256_file(spec.calibration_cache) if calib else None
    key = engine_key(onnx_sha, spec, profile, host, calib_sha)

    started = time.monotonic()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        first = errors[0] if errors else None
        where = f" at node {first.node_name()!r} ({first.node_operator()})" if first is not None else ""
        raise InputError(f"TensorRT {features.version}'s ONNX parser rejects {onnx_path.name}{where}: "
                         f"{first.desc() if first is not None else 'no reason given'}")
    config = _configure(trt, builder, spec, plan, profile, calib)
    timing = _TimingCache(spec.timing_cache_dir, host) if spec.timing_cache_dir is not None else None
    if timing is not None:
        timing.attach(config)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InputError(f"TensorRT {features.version} could not build {onnx_path.name} at {spec.precision} "
                         "(its log above says why)")
    seconds = time.monotonic() - started
    out.mkdir(parents=True, exist_ok=True)
    engine = out / engine_name(onnx_path, spec, graph, profile)
    atomic_write(engine, bytes(serialized))
    if timing is not None:
        timing.save(config)
    manifest = _manifest(engine, onnx_path, spec, plan, graph, profile, host, key, source,
                         _calibration_record(source, spec.calibration_cache if calib else None,
                                             calib[1] if calib else None), seconds)
    manifest_file = engine.with_suffix(".json")
    atomic_write(manifest_file, json.dumps(manifest, indent=1) + "\n")
    log.info("built %s in %.1f s", engine, seconds)
    return EngineArtifact(engine, manifest_file, key, seconds)


def _configure(trt: Any, builder: Any, spec: EngineSpec, plan: BuildPlan, profile: dict,
               calib: tuple[bytes, str] | None) -> Any:
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if profile:
        opt = builder.create_optimization_profile()
        for name, shapes in profile.items():
            opt.set_shape(name, tuple(shapes["min"]), tuple(shapes["opt"]), tuple(shapes["max"]))
        config.add_optimization_profile(opt)
        if calib is not None:
            config.set_calibration_profile(opt)
    if spec.dla_core is not None:
        cores = int(builder.num_DLA_cores)
        if spec.dla_core >= cores:
            raise InputError(f"DLA core {spec.dla_core} asked for; this device has {cores} DLA core(s)"
                             + (" (DLA is on Jetson AGX/NX Orin)" if cores == 0 else ""))
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = spec.dla_core
    if calib is not None:
        config.int8_calibrator = _cache_only_calibrator(trt, *calib)
    return config


def _manifest(engine: Path, onnx_path: Path, spec: EngineSpec, plan: BuildPlan, graph: OnnxGraph, profile: dict,
              host: dict, key: dict, source: dict, calibration: dict | None, seconds: float) -> dict:
    """The engine's manifest: the ONNX manifest's fields (so the device reads an engine of a streaming step as it
    reads its ONNX), then how the engine was made."""
    manifest = dict(source)
    manifest.update({
        "format": source.get("format", MANIFEST_FORMAT), "kind": source.get("kind", ARTIFACT), "artifact": ARTIFACT,
        "model": source.get("model", engine.stem.rsplit("_b", 1)[0]),
        "engine": engine.name, "engine_sha256": sha256_file(engine),
        "onnx": onnx_path.name, "onnx_sha256": key["onnx_sha256"],
        "inputs": list(graph.inputs), "outputs": list(graph.outputs),
        "precision": spec.precision, "graph_precision": graph.precision, "strongly_typed": plan.strongly_typed,
        "builder_flags": list(plan.flags), "profile": profile,
        "workspace_mb": spec.workspace_mb, "dla_core": spec.dla_core, "gpu_fallback": spec.dla_core is not None,
        "tensorrt": host["tensorrt"], "cuda": host["cuda"], "l4t": host["l4t"], "jetpack": host["jetpack"],
        "device": host["device"], "compute_capability": host["compute_capability"], "board": host["board"],
        "calibration": calibration, "preprocessing": source.get("preprocessing"), "layout": source.get("layout"),
        "ergo_edge_version": __version__, "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 3), "cache_key": key,
    })
    return manifest
