"""TensorRT 10 backend: a serialized engine run with `execute_async_v3` on its own CUDA stream.

`tensorrt` (JetPack) and the CUDA bindings (pycuda or cuda-python, `edge.inference.cuda_memory`) are imported when a
backend is made, never at module import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.inference.base import Spec, check_inputs, existing_file
from edge.inference.cuda_memory import open_cuda


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise InputError(
            f"TensorRT's Python bindings are not importable ({exc}): on Jetson install them with JetPack "
            "(apt install python3-libnvinfer), on a desktop GPU from NVIDIA's TensorRT packages; "
            "or run the .onnx model with the onnxruntime backend") from None
    return trt


class TensorRTBackend:
    """A serialized TensorRT 10 engine (.engine / .plan) run with `execute_async_v3` on its own CUDA stream.

    Needs `tensorrt` (JetPack) and CUDA bindings: `cuda` is "auto" (pycuda, which the `jetson` extra installs, else
    cuda-python), "pycuda" or "cuda-python"; `cuda_bindings` says which one runs. Device buffers are allocated per
    tensor and grown when a dynamic input shape needs more room; inputs must lie inside the engine's optimisation
    profile 0. Host copies use pageable numpy memory (simple and safe; pinned buffers would save a copy on large
    tensors). Call `close()` to release device memory early; it also runs on garbage collection.
    """

    def __init__(self, engine_path: str | Path, cuda: str = "auto") -> None:
        path = existing_file(engine_path, "TensorRT engine")
        trt = _import_tensorrt()
        cuda = open_cuda(cuda)
        self.cuda_bindings = cuda.name
        self.path = path
        self._trt = trt
        self._cuda = cuda
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)
        self._stream = None

        self._logger = trt.Logger(trt.Logger.WARNING)
        with cuda.active():  # TensorRT allocates in the context the CUDA bindings use
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
        self._stream = cuda.stream_create()

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
        feed = check_inputs(self.input_specs, inputs, self.path.name)
        with self._cuda.active():
            return self._run(feed)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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
        if not ctx.execute_async_v3(cuda.stream_handle(stream)):
            raise RuntimeError(f"{self.path.name}: TensorRT execution failed (see the TensorRT log above)")
        for name, host in outputs.items():
            cuda.d2h(host, self._buffers[name][0], stream)
        cuda.stream_sync(stream)
        return outputs

    def close(self) -> None:
        cuda = getattr(self, "_cuda", None)
        if cuda is None:
            return
        for ptr, _ in self._buffers.values():
            cuda.free(ptr)
        self._buffers = {}
        if self._stream is not None:
            cuda.stream_destroy(self._stream)
            self._stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown or a dead CUDA context: nothing left to release
            pass

    def __repr__(self) -> str:
        return f"TensorRTBackend({str(self.path)!r})"
