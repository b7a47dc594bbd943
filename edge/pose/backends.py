"""Inference backends behind one interface (`edge.pose.types.InferenceBackend`): ONNX Runtime, OpenVINO and
TensorRT 10.

    backend = open_backend("rtmo-s.onnx")                       # .onnx -> OpenVINO if installed, else ONNX Runtime
    backend = open_backend("rtmo-s.onnx", "onnxruntime")        # or name the runtime
    backend = open_backend("rtmo-s_b1_fp16.engine")             # .engine / .plan -> TensorRT
    outputs = backend.infer({"input": array})                   # dict name -> ndarray, in and out

All backends expose `input_specs` (name -> (shape, dtype), None for a dynamic dimension), `output_specs` (the same
for outputs, as far as the model declares them) and `output_names`. Inputs must arrive with the declared dtype; a
wrong dtype or a missing input is an `InputError`, never a silent cast.

Nothing heavy is imported at module import: onnxruntime, openvino, tensorrt and cuda-python are imported by the
constructors,
and a missing package raises an `InputError` that says what to install.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputError

__all__ = ["BACKENDS", "OpenVinoBackend", "OrtBackend", "TensorRTBackend", "open_backend"]

Spec = tuple[tuple[int | None, ...], np.dtype]

# ONNX Runtime's type strings -> numpy dtypes (only types a pose model plausibly uses).
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _existing_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    return path


def _check_inputs(specs: dict[str, Spec], inputs: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Inputs as C-contiguous arrays of the declared dtype and rank; InputError names any mismatch."""
    missing = [name for name in specs if name not in inputs]
    extra = [name for name in inputs if name not in specs]
    if missing or extra:
        raise InputError(f"{where}: inputs {sorted(inputs)} do not match the model's {sorted(specs)}")
    out = {}
    for name, (shape, dtype) in specs.items():
        arr = np.asarray(inputs[name])
        if arr.dtype != dtype:
            raise InputError(f"{where}: input {name!r} has dtype {arr.dtype}, the model wants {np.dtype(dtype)}")
        if arr.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, arr.shape)):
            raise InputError(f"{where}: input {name!r} has shape {list(arr.shape)}, the model wants "
                             f"{[d if d is not None else '?' for d in shape]}")
        out[name] = np.ascontiguousarray(arr)
    return out


def _wanted_outputs(backend: Any, names) -> list[str]:
    """The requested output names in the model's order; an unknown name is an InputError."""
    unknown = sorted(set(names) - set(backend.output_specs))
    if unknown:
        raise InputError(f"{backend.path.name}: no output named {unknown[0]!r}")
    return [n for n in backend.output_specs if n in set(names)]


def default_ort_providers() -> tuple[str, ...]:
    """CUDA first where this onnxruntime build can use it, then CPU (CPU alone when onnxruntime is missing: the
    backend then says what to install)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return ("CPUExecutionProvider",)
    available = ort.get_available_providers()
    return tuple(p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available) or (
        "CPUExecutionProvider",)


class OrtBackend:
    """ONNX Runtime session.

    providers: execution providers in order of preference, names or (name, options dict) pairs as ONNX Runtime
        takes them. None (the default): CUDA where this build can use it (onnxruntime-gpu, NVIDIA's Jetson wheel),
        then CPU. TensorRT's provider is never picked by default: it builds an engine at every start, which takes
        minutes on a Jetson; use a prebuilt .engine with the tensorrt backend instead. An unknown name is an
        InputError; a known provider that cannot run here (e.g. CUDA without a GPU) makes ONNX Runtime fall back,
        which is reported as a RuntimeWarning and recorded: `providers` is what actually runs (from
        `session.get_providers()`), `provider` its first.
    intra_op_threads: 0 lets ONNX Runtime choose.
    allow_spinning: off by default; on shared cores spin-waiting threads multiply latency (notes/platform.md).
    """

    def __init__(self, model_path: str | Path, providers: tuple | list | None = None,
                 intra_op_threads: int = 0, allow_spinning: bool = False) -> None:
        path = _existing_file(model_path, "ONNX model")
        if providers is None:
            providers = default_ort_providers()
        if isinstance(providers, str):
            providers = (providers,)
        providers = tuple(providers)
        if not providers:
            raise InputError("OrtBackend: give at least one execution provider")
        if int(intra_op_threads) < 0:
            raise InputError(f"OrtBackend: intra_op_threads must be >= 0, got {intra_op_threads}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise InputError(f"ONNX Runtime is not importable ({exc}); pip install onnxruntime "
                             "(or onnxruntime-gpu / JetPack's build on a GPU machine, never both)") from None

        # A name no ONNX Runtime build knows is a typo: refuse it. A real provider missing from this build (CUDA on a
        # CPU machine) makes ONNX Runtime fall back; that is reported below.
        names = [p if isinstance(p, str) else p[0] for p in providers]
        unknown = [n for n in names if n not in ort.get_all_providers()]
        if unknown:
            raise InputError(f"unknown ONNX Runtime provider(s) {unknown}; this build has "
                             f"{ort.get_available_providers()}")

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_threads)
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        try:
            with warnings.catch_warnings():
                # ORT warns about compiled-out providers itself; we report the outcome once, below.
                warnings.simplefilter("ignore", UserWarning)
                session = ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
        except Exception as exc:  # ORT's own exception types derive from Exception only
            raise InputError(f"cannot load ONNX model {path}: {_first_line(exc)}") from None

        self.path = path
        self._options, self._providers = options, list(providers)
        self.requested_providers = tuple(names)
        self.providers: tuple[str, ...] = tuple(session.get_providers())
        self.provider = self.providers[0]
        if self.provider != names[0]:
            warnings.warn(f"{path.name}: ONNX Runtime runs on {self.provider}, not the requested {names[0]} "
                          "(provider unavailable on this machine)", RuntimeWarning, stacklevel=2)
        self.session = session
        self.input_specs: dict[str, Spec] = {i.name: self._spec(i) for i in session.get_inputs()}
        self.output_specs: dict[str, Spec] = {o.name: self._spec(o) for o in session.get_outputs()}
        self.output_names: list[str] = [o.name for o in session.get_outputs()]

    @staticmethod
    def _spec(arg: Any) -> Spec:
        # Symbolic ("batch") and unknown dimensions both become None.
        shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
        dtype = _ORT_DTYPES.get(arg.type)
        if dtype is None:
            raise InputError(f"model tensor {arg.name!r} has unsupported type {arg.type}")
        return shape, np.dtype(dtype)

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = _check_inputs(self.input_specs, inputs, self.path.name)
        values = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, values))

    def use_outputs(self, names) -> None:
        """Compute only these outputs from now on. ONNX Runtime runs every node of a session whatever outputs are
        asked for, so the session is rebuilt from the model cut down to what these outputs need (for BlazePose's
        landmark model, dropping the unused segmentation head took 17.4 -> 10.1 ms per call, measured here)."""
        wanted = _wanted_outputs(self, names)
        if wanted == self.output_names:
            return
        import onnx
        from onnx.utils import Extractor

        model = onnx.load(str(self.path))
        pruned = Extractor(model).extract_model(list(self.input_specs), wanted)
        import onnxruntime as ort

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.session = ort.InferenceSession(pruned.SerializeToString(), sess_options=self._options,
                                                providers=self._providers)
        self.output_names = wanted

    def __repr__(self) -> str:
        return f"OrtBackend({str(self.path)!r}, provider={self.provider!r})"


class OpenVinoBackend:
    """OpenVINO Runtime, reading the same .onnx file (CPU by default).

    On x86 CPUs OpenVINO compiles the graph into oneDNN kernels that run BlazePose's small convolutions about twice
    faster than ONNX Runtime's (figures in benchmarks/bench_pose.py).

    device: an OpenVINO device name ("CPU", "GPU", "AUTO").
    threads: inference threads, 0 lets OpenVINO choose (one latency stream over all cores).
    precision: "f32" (default) matches ONNX Runtime to rounding. OpenVINO's own default on CPUs with bfloat16
        support is "bf16", which moved BlazePose's raw outputs by up to 25 units (of 137) here: opt-in only.
    """

    def __init__(self, model_path: str | Path, device: str = "CPU", threads: int = 0, precision: str = "f32") -> None:
        path = _existing_file(model_path, "ONNX model")
        if int(threads) < 0:
            raise InputError(f"OpenVinoBackend: threads must be >= 0, got {threads}")
        if precision not in ("f32", "bf16", "f16"):
            raise InputError(f"OpenVinoBackend: precision must be f32, bf16 or f16, got {precision!r}")
        try:
            import openvino as ov
        except ImportError as exc:
            raise InputError(f"OpenVINO is not importable ({exc}); pip install openvino, "
                             "or use the onnxruntime backend") from None
        core = ov.Core()
        virtual = device.split(":")[0] in ("AUTO", "MULTI", "HETERO")
        if not virtual and device not in core.available_devices:
            raise InputError(f"OpenVINO device {device!r} is not available here; this machine has "
                             f"{core.available_devices}")
        try:
            # The ONNX front end only: read_model would try every framework's parser in turn, and TensorFlow's logs
            # parse errors to stderr for any file that is not a model.
            from openvino.frontend import FrontEndManager

            frontend = FrontEndManager().load_by_framework("onnx")
            model = frontend.convert(frontend.load(str(path)))
        except Exception as exc:  # OpenVINO raises its own exception types with multi-line messages
            detail = "not an ONNX model it can parse" if "can't be parsed" in str(exc) else _first_line(exc)
            raise InputError(f"cannot load ONNX model {path}: {detail}") from None
        self.path = path
        self._core, self._model, self._device = core, model, device
        self._config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        if int(threads):
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self.input_specs: dict[str, Spec] = {p.get_any_name(): self._spec(p) for p in model.inputs}
        self.output_specs: dict[str, Spec] = {p.get_any_name(): self._spec(p) for p in model.outputs}
        self.output_names: list[str] = list(self.output_specs)
        self.providers = (f"OpenVINO:{device}",)
        self.provider = self.providers[0]
        self._compile(model)

    @staticmethod
    def _spec(port: Any) -> Spec:
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        return shape, np.dtype(port.get_element_type().to_dtype())

    def _compile(self, model: Any) -> None:
        compiled = self._core.compile_model(model, self._device, self._config)
        self._request = compiled.create_infer_request()
        self._ports = {name: compiled.output(name) for name in self.output_names}

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = _check_inputs(self.input_specs, inputs, self.path.name)
        # share_inputs: the request reads the caller's arrays in place (the call is synchronous); outputs are copied
        # out of the request's buffers, which the next call overwrites.
        result = self._request.infer(feed, share_inputs=True)
        return {name: np.array(result[port]) for name, port in self._ports.items()}

    def use_outputs(self, names) -> None:
        """Compute only these outputs from now on: the model is recompiled with just their subgraph."""
        wanted = _wanted_outputs(self, names)
        if wanted == self.output_names:
            return
        import openvino as ov

        pruned = ov.Model([self._model.output(name) for name in wanted], self._model.get_parameters(), "pruned")
        self.output_names = wanted
        self._compile(pruned)

    def __repr__(self) -> str:
        return f"OpenVinoBackend({str(self.path)!r}, device={self._device!r})"


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise InputError(
            f"TensorRT's Python bindings are not importable ({exc}): on Jetson install them with JetPack "
            "(apt install python3-libnvinfer), on a desktop GPU from NVIDIA's TensorRT packages; "
            "or run the .onnx model with the onnxruntime backend") from None
    return trt


def _import_cudart():
    # cuda-python >= 12.6 moved the runtime API to cuda.bindings.runtime; older releases expose cuda.cudart.
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as exc:
            raise InputError(f"cuda-python is not importable ({exc}); pip install cuda-python "
                             "(the TensorRT backend uses it for device memory and streams)") from None
    return cudart


class _Cuda:
    """The few CUDA runtime calls the TensorRT backend needs, with every status checked."""

    def __init__(self, cudart: Any) -> None:
        self.rt = cudart

    def call(self, result: Any) -> Any:
        if not isinstance(result, tuple):
            result = (result,)
        err, rest = result[0], result[1:]
        if err != self.rt.cudaError_t.cudaSuccess:
            try:
                name = self.rt.cudaGetErrorName(err)[1]
                name = name.decode() if isinstance(name, bytes) else str(name)
            except Exception:  # the error name is a nicety; the failure itself is reported either way
                name = str(err)
            raise RuntimeError(f"CUDA call failed: {name}")
        return rest[0] if len(rest) == 1 else (rest or None)

    def malloc(self, nbytes: int) -> int:
        return int(self.call(self.rt.cudaMalloc(max(int(nbytes), 1))))

    def free(self, ptr: int) -> None:
        self.call(self.rt.cudaFree(ptr))

    def h2d(self, dst: int, src: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.call(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream))

    def d2h(self, dst: np.ndarray, src: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.call(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream))


class TensorRTBackend:
    """A serialized TensorRT 10 engine (.engine / .plan) run with `execute_async_v3` on its own CUDA stream.

    Needs `tensorrt` (JetPack) and `cuda-python`. Device buffers are allocated per tensor and grown when a dynamic
    input shape needs more room; inputs must lie inside the engine's optimisation profile 0. Host copies use
    pageable numpy memory (simple and safe; pinned buffers would save a copy on large tensors). Call `close()` to
    release device memory early; it also runs on garbage collection.
    """

    def __init__(self, engine_path: str | Path) -> None:
        path = _existing_file(engine_path, "TensorRT engine")
        trt = _import_tensorrt()
        cuda = _Cuda(_import_cudart())
        self.path = path
        self._trt = trt
        self._cuda = cuda
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)
        self._stream = None

        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise InputError(f"TensorRT cannot deserialize {path}: not an engine, or built by another TensorRT "
                             "version or for another GPU (engines are not portable; rebuild it on this device)")
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise RuntimeError(f"TensorRT could not create an execution context for {path} (out of GPU memory?)")

        self.input_specs: dict[str, Spec] = {}
        self.output_specs: dict[str, Spec] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(int(d) if int(d) >= 0 else None for d in engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.input_specs[name] = (shape, dtype)
            else:
                self.output_specs[name] = (shape, dtype)
        self.output_names: list[str] = list(self.output_specs)
        self.providers = ("TensorRT",)
        self.provider = "TensorRT"
        self._stream = cuda.call(cuda.rt.cudaStreamCreate())

    def _device(self, name: str, nbytes: int) -> int:
        ptr, capacity = self._buffers.get(name, (0, 0))
        if nbytes > capacity:
            if ptr:
                self._cuda.free(ptr)
                del self._buffers[name]
            ptr = self._cuda.malloc(nbytes)
            self._buffers[name] = (ptr, max(int(nbytes), 1))
        return ptr

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = _check_inputs(self.input_specs, inputs, self.path.name)
        ctx, cuda, stream = self._context, self._cuda, self._stream
        for name, arr in feed.items():
            if not ctx.set_input_shape(name, tuple(arr.shape)):
                raise InputError(f"{self.path.name}: input {name!r} shape {list(arr.shape)} is outside the "
                                 "engine's optimisation profile")
            ptr = self._device(name, arr.nbytes)
            cuda.h2d(ptr, arr, stream)
            ctx.set_tensor_address(name, ptr)
        outputs: dict[str, np.ndarray] = {}
        for name in self.output_names:
            shape = tuple(int(d) for d in ctx.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise RuntimeError(f"{self.path.name}: output {name!r} has a data-dependent shape {list(shape)}, "
                                   "which this backend does not support")
            host = np.empty(shape, dtype=self.output_specs[name][1])
            ctx.set_tensor_address(name, self._device(name, host.nbytes))
            outputs[name] = host
        if not ctx.execute_async_v3(int(stream)):
            raise RuntimeError(f"{self.path.name}: TensorRT execution failed (see the TensorRT log above)")
        for name, host in outputs.items():
            cuda.d2h(host, self._buffers[name][0], stream)
        cuda.call(cuda.rt.cudaStreamSynchronize(stream))
        return outputs

    def close(self) -> None:
        cuda = getattr(self, "_cuda", None)
        if cuda is None:
            return
        for ptr, _ in self._buffers.values():
            cuda.free(ptr)
        self._buffers = {}
        if self._stream is not None:
            cuda.call(cuda.rt.cudaStreamDestroy(self._stream))
            self._stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown or a dead CUDA context: nothing left to release
            pass

    def __repr__(self) -> str:
        return f"TensorRTBackend({str(self.path)!r})"


BACKENDS = {"onnxruntime": OrtBackend, "openvino": OpenVinoBackend, "tensorrt": TensorRTBackend}
_SUFFIXES = {".onnx": "onnx", ".engine": "tensorrt", ".plan": "tensorrt"}


def onnx_runtime_for_auto() -> str:
    """The runtime "auto" gives an .onnx file: OpenVINO where it is installed (x86 machines get it from the
    project's dependencies; it runs BlazePose about 1.2-1.9x faster than ONNX Runtime on CPU), else ONNX Runtime."""
    import importlib.util

    return "openvino" if importlib.util.find_spec("openvino") is not None else "onnxruntime"


def open_backend(path: str | Path, backend: str = "auto", **kw: Any) -> OrtBackend | OpenVinoBackend | TensorRTBackend:
    """Open a model file: backend "auto" picks by suffix (.engine/.plan -> tensorrt; .onnx -> openvino where it is
    installed, else onnxruntime). When OpenVINO cannot read an .onnx model that "auto" gave it, ONNX Runtime gets
    the file instead, with a RuntimeWarning.

    Keyword options go to the chosen backend's constructor; one it does not take is an InputError naming it.
    """
    path = Path(path)
    auto = backend == "auto"
    if auto:
        backend = _SUFFIXES.get(path.suffix.lower(), "")
        if not backend:
            raise InputError(f"cannot tell the backend from {path.name!r}: use a .onnx, .engine or .plan file, "
                             f"or pass backend= one of {', '.join(BACKENDS)}")
        if backend == "onnx":
            backend = onnx_runtime_for_auto()
    cls = BACKENDS.get(backend)
    if cls is None:
        raise InputError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "model_path", "engine_path"}
    unknown = sorted(set(kw) - accepted)
    if unknown:
        raise InputError(f"backend {backend!r} takes no option(s) {unknown}; it takes {sorted(accepted) or 'none'}")
    if auto and backend == "openvino":
        try:
            return cls(path, **kw)
        except InputError as exc:
            if not path.is_file():
                raise
            fallback = OrtBackend(path)  # when ONNX Runtime cannot read it either, its error is the one reported
            warnings.warn(f"OpenVINO cannot run {path.name} ({exc}); using ONNX Runtime", RuntimeWarning,
                          stacklevel=2)
            return fallback
    return cls(path, **kw)
