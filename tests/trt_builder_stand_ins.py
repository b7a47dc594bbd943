"""A CPU stand-in for TensorRT's builder side (Builder, network, OnnxParser, builder config, optimisation profile,
timing cache, INT8 calibrators), just enough to check what `edge/inference/tensorrt_build.py` asks TensorRT for.

The "parser" reads the ONNX's inputs with onnx and rejects the op types in `UNSUPPORTED`; the "engine" is
b"FAKE engine\\n" followed by a JSON record of how it was built (network flags, builder flags, profile shapes, DLA,
workspace, the timing cache it started from, what the calibrator handed over), so a test reads back every setting.
It starts with "FAKE", so tests/trt_stand_ins.py's runtime also deserialises it. Version 11 and later lack the FP16
and INT8 builder flags and the implicit-INT8 calibrators, as TensorRT 11 does.
"""

from __future__ import annotations

import enum
import json
import types

from packaging.version import Version

from trt_stand_ins import fake_cuda_python, fake_tensorrt

UNSUPPORTED = {"Unique"}


class TimingCache:
    def __init__(self, data: bytes, header: bytes):
        self.data, self.header = data, header

    def serialize(self):
        return memoryview(self.data if self.data else self.header + b"entries")


class Profile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, lo, opt, hi):
        self.shapes[name] = [list(lo), list(opt), list(hi)]


class Network:
    def __init__(self, flags):
        self.flags, self.inputs = flags, []

class ParserError:
    def __init__(self, node, op):
        self._node, self._op = node, op

    def node_name(self):
        return self._node

    def node_operator(self):
        return self._op

    def desc(self):
        return f"No importer registered for op: {self._op}"

class OnnxParser:
    def __init__(self, network, logger):
        self.network, self.errors = network, []

    def parse_from_file(self, path):
        import onnx

        model = onnx.load(path, load_external_data=False)
        self.errors = [ParserError(n.name, n.op_type) for n in model.graph.node if n.op_type in UNSUPPORTED]
        self.network.inputs = [i.name for i in model.graph.input]
        return not self.errors

    @property
    def num_errors(self):
        return len(self.errors)

    def get_error(self, i):
        return self.errors[i]


class Config:
    """The builder config of the stand-in `trt` module, whose timing caches start with `header`."""

    def __init__(self, trt, header: bytes):
        self.trt, self.header = trt, header
        self.flags, self.pools, self.profiles = set(), {}, []
        self.timing, self.calibration_profile, self.int8_calibrator = None, None, None
        self.default_device_type, self.DLA_core = trt.DeviceType.GPU, -1

    def set_memory_pool_limit(self, pool, size):
        self.pools[pool] = size

    def set_flag(self, flag):
        assert isinstance(flag, self.trt.BuilderFlag)
        self.flags.add(flag.name)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile):
        self.calibration_profile = profile

    def create_timing_cache(self, data):
        return TimingCache(bytes(data), self.header)

    def set_timing_cache(self, cache, ignore_mismatch):
        assert ignore_mismatch is False
        if cache.data and not cache.data.startswith(self.header):
            return False                                 # another TensorRT's cache
        self.timing = cache
        return True

    def get_timing_cache(self):
        return self.timing


def fake_cuda_device(name: str = "Orin", capability: tuple[int, int] = (8, 7), runtime: int = 12060) -> dict:
    """tests/trt_stand_ins.py's cuda-python stand-in plus what the builder reads of the device and the runtime."""
    modules = fake_cuda_python()
    rt = modules["cuda.bindings.runtime"]
    props = types.SimpleNamespace(name=name.encode() + b"\x00" * 4, major=capability[0], minor=capability[1])
    rt.cudaGetDeviceProperties = lambda device: (rt.cudaError_t.cudaSuccess, props)
    rt.cudaRuntimeGetVersion = lambda: (rt.cudaError_t.cudaSuccess, runtime)
    return modules


def fake_tensorrt_builder(version: str = "10.3.0", dla_cores: int = 0, build_fails: bool = False):
    """A `tensorrt` module of `version` with the builder side (and the runtime side of tests/trt_stand_ins.py)."""
    trt = fake_tensorrt()
    trt.__version__ = version
    modern = Version(version) >= Version("11")
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 1})
    flags = ["GPU_FALLBACK", "TF32"] + ([] if modern else ["FP16", "INT8"])
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", flags)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.DeviceType = types.SimpleNamespace(GPU="gpu", DLA="dla")
    trt.Logger.WARNING = 2
    if not modern:
        for name in ("IInt8EntropyCalibrator2", "IInt8MinMaxCalibrator", "IInt8EntropyCalibrator",
                     "IInt8LegacyCalibrator"):
            setattr(trt, name, type(name, (), {"__init__": lambda self: None, "algorithm": name}))
    header = f"TIMING-{version}|".encode()

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return Network(flags)

        def create_builder_config(self):
            return Config(trt, header)

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            if build_fails:
                return None
            calibrator = config.int8_calibrator
            record = {
                "strongly_typed": bool(network.flags & (1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))),
                "flags": sorted(config.flags), "workspace": config.pools.get(trt.MemoryPoolType.WORKSPACE),
                "profiles": [p.shapes for p in config.profiles],
                "calibration_profile": config.calibration_profile.shapes if config.calibration_profile else None,
                "device": config.default_device_type, "dla_core": config.DLA_core,
                "timing_cache_in": config.timing.data.decode() if config.timing else None,
                "calibrator": None if calibrator is None else {
                    "algorithm": calibrator.algorithm, "batch": calibrator.get_batch(["x"]),
                    "cache": bytes(calibrator.read_calibration_cache()).decode()},
            }
            if config.timing is not None:                     # the build adds what it timed
                config.timing = TimingCache((config.timing.data or header) + b"+timed", header)
            return memoryview(b"FAKE engine\n" + json.dumps(record).encode())

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt


def built_record(engine_path) -> dict:
    """How the stand-in built an engine file."""
    return json.loads(engine_path.read_bytes().split(b"\n", 1)[1])
