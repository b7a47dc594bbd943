"""ONNX Runtime backend: an `InferenceSession` behind `edge.inference.base.InferenceBackend`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputError
from edge.inference.base import Spec, check_inputs, existing_file, first_line, wanted_outputs
from edge.inference.telemetry import quiet_onnxruntime

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


def default_ort_providers() -> tuple[str, ...]:
    """CUDA first where this onnxruntime build can use it, then CPU (CPU alone when onnxruntime is missing: the
    backend then says what to install)."""
    quiet_onnxruntime()
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
    allow_spinning: off by default; on shared cores spin-waiting threads multiply latency.
    """

    def __init__(self, model_path: str | Path, providers: tuple | list | None = None,
                 intra_op_threads: int = 0, allow_spinning: bool = False) -> None:
        path = existing_file(model_path, "ONNX model")
        if providers is None:
            providers = default_ort_providers()
        if isinstance(providers, str):
            providers = (providers,)
        providers = tuple(providers)
        if not providers:
            raise InputError("OrtBackend: give at least one execution provider")
        if int(intra_op_threads) < 0:
            raise InputError(f"OrtBackend: intra_op_threads must be >= 0, got {intra_op_threads}")
        quiet_onnxruntime()
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
            raise InputError(f"cannot load ONNX model {path}: {first_line(exc)}") from None

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
        feed = check_inputs(self.input_specs, inputs, self.path.name)
        values = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, values))

    def use_outputs(self, names) -> None:
        """Compute only these outputs from now on. ONNX Runtime runs every node of a session whatever outputs are
        asked for, so the session is rebuilt from the model cut down to what these outputs need (for BlazePose's
        landmark model, dropping the unused segmentation head took 17.4 -> 10.1 ms per call, measured here)."""
        wanted = wanted_outputs(self, names)
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

    def recurrence(self, feed_input: str, pairs, initial, outputs) -> "OrtRecurrence | None":
        """One stream through this model as a recurrent step (`OrtRecurrence`): `feed_input` takes each step's
        new data, `pairs` are (state input, state output) names, `initial` the state arrays before the first step,
        `outputs` what each step returns. None where a returned output's shape is not fixed (declared dynamic
        beyond the stream axis): the caller then feeds the state itself through `infer`."""
        batch = np.asarray(initial[0]).shape[0] if len(initial) else 1
        shapes = {}
        for name, (shape, dtype) in [(feed_input, self.input_specs[feed_input]),
                                     *((name, self.output_specs[name]) for name in outputs)]:
            if any(d is None for d in shape[1:]):
                return None
            shapes[name] = ((batch, *shape[1:]) if shape else (), dtype)
        return OrtRecurrence(self.session, feed_input, pairs, initial, shapes)

    def __repr__(self) -> str:
        return f"OrtBackend({str(self.path)!r}, provider={self.provider!r})"


class OrtRecurrence:
    """One stream through a recurrent ONNX step whose state stays in ONNX Runtime's buffers between steps.

    Two sets of state buffers, bound once (IOBinding): a step reads one set and writes the next state into the
    other, and the next step the other way round, so no state tensor crosses into Python. `session.run` instead
    copies every state input in and every state output out at each step: on `edge_stream`'s 17-class step (32
    state tensors, 0.2 MB) that was about a quarter of the step's time (benchmarks/bench_edge_stream.py).
    `run(data)` returns the asked outputs as new arrays (the buffers they were written to are reused).
    """

    def __init__(self, session, feed_input: str, pairs, initial, shapes: dict) -> None:
        """shapes: name -> (shape, dtype) of `feed_input` and of each returned output, for this stream."""
        import onnxruntime as ort

        self._feed_shape, self._feed_dtype = shapes.pop(feed_input)
        self._feed = ort.OrtValue.ortvalue_from_numpy(np.zeros(self._feed_shape, self._feed_dtype))
        ping = [ort.OrtValue.ortvalue_from_numpy(np.array(v, copy=True, order="C")) for v in initial]
        pong = [ort.OrtValue.ortvalue_from_numpy(np.zeros_like(np.asarray(v), order="C")) for v in initial]
        self._outputs = {name: ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype)
                         for name, (shape, dtype) in shapes.items()}
        self._bindings = []
        for reads, writes in ((ping, pong), (pong, ping)):
            binding = session.io_binding()
            binding.bind_ortvalue_input(feed_input, self._feed)
            for (state_in, state_out), src, dst in zip(pairs, reads, writes):
                binding.bind_ortvalue_input(state_in, src)
                binding.bind_ortvalue_output(state_out, dst)
            for name, value in self._outputs.items():
                binding.bind_ortvalue_output(name, value)
            self._bindings.append(binding)
        self._session, self._sets, self._turn = session, (ping, pong), 0

    def run(self, data: np.ndarray) -> dict[str, np.ndarray]:
        data = np.asarray(data)
        if data.dtype != self._feed_dtype or data.shape != self._feed_shape:
            raise InputError(f"step input has shape {list(data.shape)} and dtype {data.dtype}, the model wants "
                             f"{list(self._feed_shape)} of {np.dtype(self._feed_dtype)}")
        self._feed.update_inplace(np.ascontiguousarray(data))
        self._session.run_with_iobinding(self._bindings[self._turn])
        self._turn ^= 1
        return {name: np.array(value.numpy(), copy=True) for name, value in self._outputs.items()}

    def state(self) -> tuple[np.ndarray, ...]:
        """The state the next step reads, as arrays (copies)."""
        return tuple(np.array(v.numpy(), copy=True) for v in self._sets[self._turn])
