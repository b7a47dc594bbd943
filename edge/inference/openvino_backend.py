"""OpenVINO backend: the same .onnx files, compiled by OpenVINO Runtime (CPU by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputError
from edge.inference.base import Spec, check_inputs, existing_file, first_line, wanted_outputs
from edge.inference.telemetry import quiet_openvino


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
        path = existing_file(model_path, "ONNX model")
        if int(threads) < 0:
            raise InputError(f"OpenVinoBackend: threads must be >= 0, got {threads}")
        if precision not in ("f32", "bf16", "f16"):
            raise InputError(f"OpenVinoBackend: precision must be f32, bf16 or f16, got {precision!r}")
        quiet_openvino()
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
            detail = "not an ONNX model it can parse" if "can't be parsed" in str(exc) else first_line(exc)
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
        feed = check_inputs(self.input_specs, inputs, self.path.name)
        # share_inputs: the request reads the caller's arrays in place (the call is synchronous); outputs are copied
        # out of the request's buffers, which the next call overwrites.
        result = self._request.infer(feed, share_inputs=True)
        return {name: np.array(result[port]) for name, port in self._ports.items()}

    def use_outputs(self, names) -> None:
        """Compute only these outputs from now on: the model is recompiled with just their subgraph."""
        wanted = wanted_outputs(self, names)
        if wanted == self.output_names:
            return
        import openvino as ov

        pruned = ov.Model([self._model.output(name) for name in wanted], self._model.get_parameters(), "pruned")
        self.output_names = wanted
        self._compile(pruned)

    def __repr__(self) -> str:
        return f"OpenVinoBackend({str(self.path)!r}, device={self._device!r})"
