"""Device memory and streams for the TensorRT backend, from pycuda or from cuda-python, behind one small interface.

    cuda = open_cuda()                   # "auto": pycuda (the Jetson extra installs it), else cuda-python
    stream = cuda.stream_create()
    ptr = cuda.malloc(x.nbytes)
    cuda.h2d(ptr, x, stream)             # host array -> device pointer, on the stream
    ...  context.execute_async_v3(cuda.stream_handle(stream))
    cuda.d2h(y, ptr, stream)
    cuda.stream_sync(stream)
    cuda.free(ptr); cuda.stream_destroy(stream)

Both use the device's primary context, the one the CUDA runtime (and so TensorRT) uses: cuda-python's runtime API
binds it by itself; pycuda retains it and makes it current around each call (`active()`), so the backend may be
used from any thread. Every call's status is checked: a failure is a RuntimeError that names the CUDA error.

Neither binding is imported at module import. pycuda is an sdist that builds against the device's CUDA (on a Jetson,
JetPack's); cuda-python installs anywhere and reports a missing driver when it is first called.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, Iterator, Protocol

import numpy as np

from edge.errors import InputError
from edge.inference.base import first_line

__all__ = ["BINDINGS", "BINDING_MODULES", "INSTALL_HINT", "CudaMemory", "CudaPythonMemory", "PyCudaMemory", "open_cuda"]

BINDINGS = ("pycuda", "cuda-python")
# The modules each binding is imported from (cuda-python >= 12.6 moved its runtime API to cuda.bindings.runtime).
BINDING_MODULES = {"pycuda": ("pycuda.driver",), "cuda-python": ("cuda.bindings.runtime", "cuda.cudart")}
INSTALL_HINT = ("on a Jetson `pip install '.[jetson]'` builds pycuda against JetPack's CUDA; elsewhere "
                "pip install pycuda (needs the CUDA toolkit) or pip install cuda-python (the major version of the "
                "device's CUDA)")


class CudaMemory(Protocol):
    """What the TensorRT backend needs from CUDA. Pointers are ints; a stream is whatever `stream_create` returns."""

    name: str

    def active(self): ...  # a context manager: the device's primary context is current inside it

    def malloc(self, nbytes: int) -> int: ...

    def free(self, ptr: int) -> None: ...

    def h2d(self, dst: int, src: np.ndarray, stream: Any) -> None: ...

    def d2h(self, dst: np.ndarray, src: int, stream: Any) -> None: ...

    def stream_create(self) -> Any: ...

    def stream_handle(self, stream: Any) -> int: ...

    def stream_sync(self, stream: Any) -> None: ...

    def stream_destroy(self, stream: Any) -> None: ...


def _import_pycuda() -> Any:
    import pycuda.driver as driver  # ImportError when absent, or when its extension cannot load libcuda

    return driver


def _import_cudart() -> Any:
    # cuda-python >= 12.6 moved the runtime API to cuda.bindings.runtime; older releases expose cuda.cudart.
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart
    return cudart


def open_cuda(binding: str = "auto", device: int = 0) -> CudaMemory:
    """The CUDA bindings to use: "pycuda", "cuda-python", or "auto" (pycuda when importable, else cuda-python).

    InputError, in one line, when the binding cannot be imported (naming what to install) or finds no usable device.
    """
    if binding not in ("auto", *BINDINGS):
        raise InputError(f"unknown CUDA bindings {binding!r}; choose auto, {', '.join(BINDINGS)}")
    wanted = BINDINGS if binding == "auto" else (binding,)
    missing = []
    for name in wanted:
        try:
            module = _import_pycuda() if name == "pycuda" else _import_cudart()
        except ImportError as exc:
            missing.append(f"{name}: {first_line(exc)}")
            continue
        return PyCudaMemory(module, device) if name == "pycuda" else CudaPythonMemory(module, device)
    what = " or ".join(wanted)
    raise InputError(f"the TensorRT backend needs {what} for device memory and streams, and cannot import "
                     f"{'either' if len(wanted) > 1 else 'it'} ({'; '.join(missing)}): {INSTALL_HINT}")


class CudaPythonMemory:
    """cuda-python's runtime API (`cudaMalloc`, `cudaMemcpyAsync`, streams), every status checked."""

    name = "cuda-python"

    def __init__(self, cudart: Any, device: int = 0) -> None:
        self.rt = cudart
        count = self.call(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount", init=True)
        if int(count) <= device:
            raise InputError(f"cuda-python finds {int(count)} CUDA device(s); device {device} is not there")
        self.call(cudart.cudaSetDevice(device), "cudaSetDevice")

    def call(self, result: Any, what: str = "CUDA call", init: bool = False) -> Any:
        """The values after the status of a cuda-python result tuple; RuntimeError (InputError while initialising)
        naming the error when the status is not cudaSuccess."""
        if not isinstance(result, tuple):
            result = (result,)
        err, rest = result[0], result[1:]
        if err != self.rt.cudaError_t.cudaSuccess:
            try:
                name = self.rt.cudaGetErrorName(err)[1]
                name = name.decode() if isinstance(name, bytes) else str(name)
            except Exception:  # the error name is a nicety; the failure itself is reported either way
                name = str(err)
            if init:
                raise InputError(f"cuda-python cannot use CUDA here ({what}: {name}): no usable NVIDIA GPU or driver")
            raise RuntimeError(f"CUDA call failed: {what}: {name}")
        return rest[0] if len(rest) == 1 else (rest or None)

    def active(self):
        return nullcontext()  # the runtime API makes the primary context current by itself

    def malloc(self, nbytes: int) -> int:
        return int(self.call(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))

    def free(self, ptr: int) -> None:
        self.call(self.rt.cudaFree(ptr), "cudaFree")

    def h2d(self, dst: int, src: np.ndarray, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.call(self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream), "cudaMemcpyAsync")

    def d2h(self, dst: np.ndarray, src: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.call(self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream), "cudaMemcpyAsync")

    def stream_create(self) -> Any:
        return self.call(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def stream_sync(self, stream: Any) -> None:
        self.call(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def stream_destroy(self, stream: Any) -> None:
        self.call(self.rt.cudaStreamDestroy(stream), "cudaStreamDestroy")


class PyCudaMemory:
    """pycuda's driver API on the device's primary context (the CUDA runtime's, so TensorRT's too), made current
    around every call: the same object works from any thread. Allocations are kept until `free` (pycuda frees a
    `DeviceAllocation` when it is garbage collected)."""

    name = "pycuda"

    def __init__(self, driver: Any, device: int = 0) -> None:
        self.drv = driver
        try:
            driver.init()
            self.context = driver.Device(device).retain_primary_context()
        except driver.Error as exc:
            raise InputError(f"pycuda cannot use CUDA here ({first_line(exc)}): no usable NVIDIA GPU or driver, "
                             f"or no device {device}") from None
        self._allocations: dict[int, Any] = {}

    @contextmanager
    def active(self) -> Iterator[None]:
        self.context.push()
        try:
            yield
        finally:
            self.drv.Context.pop()

    @contextmanager
    def _checked(self, what: str) -> Iterator[None]:
        try:
            with self.active():
                yield
        except self.drv.Error as exc:
            raise RuntimeError(f"CUDA call failed: {what}: {first_line(exc)}") from None

    def malloc(self, nbytes: int) -> int:
        with self._checked("mem_alloc"):
            allocation = self.drv.mem_alloc(max(int(nbytes), 1))
        ptr = int(allocation)
        self._allocations[ptr] = allocation
        return ptr

    def free(self, ptr: int) -> None:
        allocation = self._allocations.pop(ptr)
        with self._checked("free"):
            allocation.free()

    def h2d(self, dst: int, src: np.ndarray, stream: Any) -> None:
        with self._checked("memcpy_htod_async"):
            self.drv.memcpy_htod_async(dst, src, stream)

    def d2h(self, dst: np.ndarray, src: int, stream: Any) -> None:
        with self._checked("memcpy_dtoh_async"):
            self.drv.memcpy_dtoh_async(dst, src, stream)

    def stream_create(self) -> Any:
        with self._checked("Stream"):
            return self.drv.Stream()

    def stream_handle(self, stream: Any) -> int:
        return int(stream.handle)

    def stream_sync(self, stream: Any) -> None:
        with self._checked("Stream.synchronize"):
            stream.synchronize()

    def stream_destroy(self, stream: Any) -> None:
        # pycuda destroys a stream when its last reference goes; finish its work here, in the right context.
        self.stream_sync(stream)
