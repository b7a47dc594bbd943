"""Opening a model file with the right backend (`edge.inference.base.InferenceBackend`): ONNX Runtime, OpenVINO and
TensorRT 10.

    backend = open_backend("rtmo-s.onnx")                       # .onnx -> a cached TensorRT engine where TensorRT
                                                                #   and a GPU are, else OpenVINO if installed, else
                                                                #   ONNX Runtime
    backend = open_backend("rtmo-s.onnx", "onnxruntime")        # or name the runtime
    backend = open_backend("rtmo-s_b1_fp16.engine")             # .engine / .plan -> TensorRT
    outputs = backend.infer({"input": array})                   # dict name -> ndarray, in and out

All backends expose `input_specs` (name -> (shape, dtype), None for a dynamic dimension), `output_specs` (the same
for outputs, as far as the model declares them) and `output_names`. Inputs must arrive with the declared dtype; a
wrong dtype or a missing input is an `InputError`, never a silent cast.

Nothing heavy is imported at module import: onnxruntime, openvino, tensorrt and pycuda/cuda-python are imported by the
constructors, and a missing package raises an `InputError` that says what to install.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.inference.openvino_backend import OpenVinoBackend
from edge.inference.ort_backend import OrtBackend
from edge.inference.tensorrt_backend import TensorRTBackend

__all__ = ["BACKENDS", "open_backend", "onnx_runtime_for_auto"]


BACKENDS = {"onnxruntime": OrtBackend, "openvino": OpenVinoBackend, "tensorrt": TensorRTBackend}
_SUFFIXES = {".onnx": "onnx", ".engine": "tensorrt", ".plan": "tensorrt"}


def onnx_runtime_for_auto() -> str:
    """The runtime "auto" gives an .onnx file: OpenVINO where it is installed (x86 machines get it from the
    project's dependencies; it runs BlazePose about 1.2-1.9x faster than ONNX Runtime on CPU), else ONNX Runtime."""
    import importlib.util

    return "openvino" if importlib.util.find_spec("openvino") is not None else "onnxruntime"


def _engine_for_auto(path: Path, kw: dict) -> Path | None:
    """The TensorRT engine "auto" runs for an .onnx file where TensorRT and a GPU are (built on first start and
    cached: `engine_cache.auto_engine`); None elsewhere (said once in the log), or when the caller's options are
    for a CPU runtime."""
    accepted = set(inspect.signature(TensorRTBackend.__init__).parameters) - {"self", "engine_path"}
    if not path.is_file() or set(kw) - accepted:
        return None
    from edge.inference.engine_cache import auto_engine

    return auto_engine(path, {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}[onnx_runtime_for_auto()])


def open_backend(path: str | Path, backend: str = "auto", **kw: Any) -> OrtBackend | OpenVinoBackend | TensorRTBackend:
    """Open a model file: backend "auto" picks by suffix (.engine/.plan -> tensorrt; .onnx -> a TensorRT engine
    built from it and cached where TensorRT and a GPU are (`edge.inference.engine_cache`), else openvino where it is
    installed, else onnxruntime, with one log line saying why). When OpenVINO cannot read an .onnx model that
    "auto" gave it, ONNX Runtime gets the file instead, with a RuntimeWarning.

    Keyword options go to the chosen backend's constructor; one it does not take is an InputError naming it.
    """
    path = Path(path)
    auto = backend == "auto"
    if auto:
        backend = _SUFFIXES.get(path.suffix.lower(), "")
        if not backend:
            raise InputError(f"cannot tell the backend from {path.name!r}: use a .onnx, .engine or .plan file, "
                             f"or name the backend: one of {', '.join(BACKENDS)}")
        if backend == "onnx":
            engine = _engine_for_auto(path, kw)
            if engine is not None:
                return TensorRTBackend(engine, **kw)
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
