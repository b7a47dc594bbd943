"""CPU stand-ins for what cannot exist on a machine without an NVIDIA GPU: TensorRT 10, cuda-python's runtime API and
pycuda's driver API, just enough to exercise the TensorRT backend's binding logic. "Device" memory is host memory;
the "engine" computes y = 2 x + 1 for x of shape (1..8, 3). Each function returns the modules to put in sys.modules.
"""

from __future__ import annotations

import ctypes
import enum
import types

import numpy as np

STREAM = 77  # the one stream handle the stand-ins hand out; the engine checks it is the one it runs on


class CudaError(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2
    cudaErrorNoDevice = 100


def fake_cuda_python(fail_malloc: bool = False, devices: int = 1) -> dict[str, types.ModuleType]:
    """cuda-python >= 12.6 (`cuda.bindings.runtime`): every call returns (status, values...)."""
    rt = types.ModuleType("cuda.bindings.runtime")
    rt.memory = {}
    rt.cudaError_t = CudaError
    rt.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    def malloc(n):
        if fail_malloc:
            return (CudaError.cudaErrorMemoryAllocation, 0)
        buf = np.zeros(n, np.uint8)
        rt.memory[buf.ctypes.data] = buf
        return (CudaError.cudaSuccess, buf.ctypes.data)

    def free(ptr):
        del rt.memory[ptr]
        return (CudaError.cudaSuccess,)

    def memcpy(dst, src, n, kind, stream):
        assert kind in (1, 2) and stream == STREAM
        ctypes.memmove(dst, src, n)
        return (CudaError.cudaSuccess,)

    rt.cudaMalloc, rt.cudaFree, rt.cudaMemcpyAsync = malloc, free, memcpy
    rt.cudaGetDeviceCount = lambda: ((CudaError.cudaSuccess, devices) if devices else (CudaError.cudaErrorNoDevice, 0))
    rt.cudaSetDevice = lambda d: (CudaError.cudaSuccess,)
    rt.cudaStreamCreate = lambda: (CudaError.cudaSuccess, STREAM)
    rt.cudaStreamSynchronize = lambda s: (CudaError.cudaSuccess,)
    rt.cudaStreamDestroy = lambda s: (CudaError.cudaSuccess,)
    rt.cudaGetErrorName = lambda e: (CudaError.cudaSuccess, e.name.encode())
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = rt
    cuda = types.ModuleType("cuda")
    cuda.bindings = bindings
    return {"cuda": cuda, "cuda.bindings": bindings, "cuda.bindings.runtime": rt}


def fake_pycuda(fail_malloc: bool = False, devices: int = 1) -> dict[str, types.ModuleType]:
    """pycuda.driver: init, Device(n).retain_primary_context(), Context push/pop, mem_alloc, the async copies and
    Stream. Every memory and stream call checks that the primary context is current (`driver.stack`)."""
    drv = types.ModuleType("pycuda.driver")
    drv.memory, drv.stack = {}, []

    class Error(Exception):  # pycuda.driver.Error, the base of every error pycuda raises
        pass

    class Context:
        def push(self):
            drv.stack.append(self)

        @staticmethod
        def pop():
            drv.stack.pop()

    primary = Context()

    def current():
        if not drv.stack or drv.stack[-1] is not primary:
            raise Error("cuCtxGetCurrent failed: invalid device context")

    class Device:
        def __init__(self, number):
            if number >= devices:
                raise Error("cuDeviceGet failed: invalid device ordinal")

        def retain_primary_context(self):
            return primary

    class DeviceAllocation:
        def __init__(self, n):
            self.buf = np.zeros(n, np.uint8)
            drv.memory[int(self)] = self.buf

        def __int__(self):
            return self.buf.ctypes.data

        def free(self):
            current()
            del drv.memory[int(self)]

    def mem_alloc(n):
        current()
        if fail_malloc:
            raise Error("cuMemAlloc failed: out of memory")
        return DeviceAllocation(n)

    class Stream:
        handle = STREAM

        def synchronize(self):
            current()

    def htod(dst, src, stream):
        current()
        assert stream.handle == STREAM
        ctypes.memmove(dst, src.ctypes.data, src.nbytes)

    def dtoh(dst, src, stream):
        current()
        assert stream.handle == STREAM
        ctypes.memmove(dst.ctypes.data, src, dst.nbytes)

    def init():
        if not devices:
            raise Error("cuInit failed: no CUDA-capable device is detected")

    drv.Error, drv.Context, drv.Device, drv.Stream = Error, Context, Device, Stream
    drv.init, drv.mem_alloc, drv.memcpy_htod_async, drv.memcpy_dtoh_async = init, mem_alloc, htod, dtoh
    pycuda = types.ModuleType("pycuda")
    pycuda.driver = drv
    return {"pycuda": pycuda, "pycuda.driver": drv}


def fake_tensorrt() -> types.ModuleType:
    """TensorRT 10's Runtime / ICudaEngine / IExecutionContext, as far as the backend calls them."""
    trt = types.ModuleType("tensorrt")
    trt.TensorIOMode = types.SimpleNamespace(INPUT="input", OUTPUT="output")
    trt.nptype = lambda dt: {"FLOAT": np.float32}[dt]

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class Context:
        def __init__(self):
            self.shape, self.addr = None, {}

        def set_input_shape(self, name, shape):
            ok = len(shape) == 2 and 1 <= shape[0] <= 8 and shape[1] == 3
            self.shape = tuple(shape) if ok else None
            return ok

        def get_tensor_shape(self, name):
            return self.shape if self.shape else (-1, 3)

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr
            return True

        def execute_async_v3(self, stream_handle):
            assert stream_handle == STREAM
            n = int(np.prod(self.shape))
            x = np.ctypeslib.as_array((ctypes.c_float * n).from_address(self.addr["x"]))
            y = np.ctypeslib.as_array((ctypes.c_float * n).from_address(self.addr["y"]))
            y[:] = 2 * x + 1
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ["x", "y"][i]

        def get_tensor_mode(self, name):
            return "input" if name == "x" else "output"

        def get_tensor_shape(self, name):
            return (-1, 3)

        def get_tensor_dtype(self, name):
            return "FLOAT"

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if data.startswith(b"FAKE") else None

    trt.Logger, trt.Runtime = Logger, Runtime
    return trt
