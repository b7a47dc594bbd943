"""An exported streaming model on the device: the file of its step (ONNX, or an engine), run through
`edge.inference`, and the JSON manifest beside it (`export/onnx_stream.py` writes both) that says what the step
takes and gives. No torch here: the device reaches the model through files only.

    model = open_stream_model("edge_stream_step.onnx")   # manifest read and checked, backend opened
    state = model.initial_state()                          # one stream, all zeros
    outputs, state = model.step(state, joints)             # joints (J, 3), normalised as in training

    stream = model.new_stream()                            # the same, the state kept by the stream: what the
    outputs = stream.step(joints)                          # device runs (on ONNX Runtime without copying it)

The manifest `<name>.json` beside `<name>.onnx` holds: format, kind ("streaming_step"), model, ergo_edge_version,
onnx (file name) and onnx_sha256, opset, inputs and outputs (name, shape with "batch" for the stream axis,
dtype), joints_input, state (per pair: input, output, shape of one stream, dtype; zeros before a stream's first
frame), layout, classes, partials, fps, normalisation (`edge.train.config.NormConfig`: root, scale), delay_frames
(the step's outputs label the frame that many steps back; absent in older manifests: 0), and how it was made
(checkpoint, exporter versions, parity with torch).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.artifacts import read_sidecar, sha256_file
from edge.config import from_mapping
from edge.errors import InputError
from edge.skeletons import get_layout
from edge.train.config import NormConfig

MANIFEST_FORMAT = 1
KIND = "streaming_step"
_HEADS = ("activity_logits", "reba", "reba_partials")
# How many step times the model keeps for its speed figures (a bounded reservoir: flat memory over weeks).
_TIMES_KEPT = 4096


def manifest_path(model_path: str | Path) -> Path:
    """Where the manifest of a model file lies: beside it, `<stem>.json`."""
    return Path(model_path).with_suffix(".json")


@dataclass(frozen=True)
class StatePair:
    """One state tensor: fed as `input`, returned as `output` for the next step; `shape` of one stream."""

    input: str
    output: str
    shape: tuple[int, ...]


def read_manifest(model_path: str | Path) -> dict:
    """The checked manifest beside `model_path`: every field the device reads is present and well typed, and an
    ONNX file matches its recorded sha256. Any problem is one `InputError` that says what to run."""
    path = Path(model_path)
    where = manifest_path(path)
    hint = "export it again: ergoedge export RUN --out DIR --streaming"
    manifest = read_sidecar(path, hint)
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("kind") != KIND:
        raise InputError(f"{where}: not a streaming-model manifest of this ergo-edge (format {MANIFEST_FORMAT}); "
                         f"{hint}")
    wanted = {"layout": str, "classes": list, "partials": list, "fps": (int, float), "normalisation": dict,
              "joints_input": str, "state": list, "outputs": list, "onnx": str, "onnx_sha256": str}
    for key, kind in wanted.items():
        if not isinstance(manifest.get(key), kind):
            raise InputError(f"{where}: field {key!r} is missing or malformed; {hint}")
    delay_frames(manifest, f"{where}", hint)
    if path.suffix.lower() == ".onnx":
        if manifest["onnx"] != path.name or sha256_file(path) != manifest["onnx_sha256"]:
            raise InputError(f"{path}: the file does not match its manifest (changed or renamed); {hint}")
    return manifest


def delay_frames(manifest: dict, where: str = "the manifest", hint: str = "") -> int:
    """A streaming manifest's delay_frames (0 when absent, as in older exports), checked: a whole number of
    frames >= 0, else one `InputError` (naming `where`, ending with `hint`)."""
    delay = manifest.get("delay_frames", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        raise InputError(f"{where}: field 'delay_frames' must be a whole number of frames >= 0, got {delay!r}"
                         + (f"; {hint}" if hint else ""))
    return delay


def stepped_frames(count: int, delay: int) -> list[int]:
    """The frame each step takes when a stream of `count` frames is run to its end through a model that labels
    each frame `delay` steps late: every frame, then the last one `delay` more times (as the whole-sequence run
    pads it); the outputs of step delay + k are frame k's."""
    return [min(t, count - 1) for t in range(count + delay)]


class StreamModel:
    """A streaming step behind an inference backend, with what its manifest says about it.

    classes, partials: output names of the activity scores and the REBA partials (in output order); layout: the
    skeleton the joints input is in; fps: the rate the model was trained at (one step per 1/fps seconds);
    norm: how its joints were normalised in training; delay_frames: the outputs of a step label the frame that many
    steps back. `step_ms` keeps the latest step times, `steps` counts all.
    """

    def __init__(self, path: str | Path, backend: str = "auto"):
        from edge.inference.backends import open_backend

        self.path = Path(path)
        manifest = read_manifest(self.path)
        self.manifest = manifest
        self.model_name = str(manifest.get("model", self.path.stem))
        self.layout = get_layout(manifest["layout"]).name
        self.classes = tuple(str(c) for c in manifest["classes"])
        self.partials = tuple(str(p) for p in manifest["partials"])
        self.fps = float(manifest["fps"])
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"{manifest_path(self.path)}: fps must be above 0, got {manifest['fps']!r}")
        self.norm = from_mapping(NormConfig, manifest["normalisation"], f"{manifest_path(self.path).name}: "
                                                                        "normalisation")
        self.joints_input = manifest["joints_input"]
        self.delay_frames = delay_frames(manifest)
        try:
            self.state_pairs = tuple(StatePair(s["input"], s["output"], tuple(int(d) for d in s["shape"]))
                                     for s in manifest["state"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{manifest_path(self.path)}: field 'state' is malformed") from None
        self.backend_name, options, runs = _resolve_backend(self.path, backend)
        self.backend = open_backend(runs, self.backend_name, **options)
        self._check_backend()
        self.step_ms: deque[float] = deque(maxlen=_TIMES_KEPT)
        self.steps = 0

    def _check_backend(self) -> None:
        wanted_in = {self.joints_input, *(s.input for s in self.state_pairs)}
        wanted_out = {*(s.output for s in self.state_pairs), "reba"}
        if self.classes:
            wanted_out.add("activity_logits")
        if self.partials:
            wanted_out.add("reba_partials")
        missing = sorted((wanted_in - set(self.backend.input_specs)) | (wanted_out - set(self.backend.output_names)))
        if missing:
            raise InputError(f"{self.path.name}: the model has no tensor(s) {missing} its manifest names")

    def initial_state(self) -> tuple[np.ndarray, ...]:
        """The state before a stream's first frame: zeros (the padding the whole-sequence model sees)."""
        return tuple(np.zeros((1, *s.shape), np.float32) for s in self.state_pairs)

    def step(self, state: tuple[np.ndarray, ...], joints: np.ndarray) -> tuple[dict[str, np.ndarray], tuple]:
        """One frame of normalised joints (J, 3) for one stream -> (that frame's outputs without the stream axis:
        activity_logits (C,), reba (), reba_partials (P,); the next state)."""
        feed = {self.joints_input: np.asarray(joints, np.float32)[None]}
        feed.update((s.input, value) for s, value in zip(self.state_pairs, state))
        start = time.perf_counter()
        result = self.backend.infer(feed)
        self._timed(start)
        return self._heads(result), tuple(result[s.output] for s in self.state_pairs)

    def new_stream(self) -> "Stream":
        """A new stream (state zeros) that keeps its own state between steps: `Stream.step(joints)`."""
        return Stream(self)

    def _timed(self, start: float) -> None:
        self.step_ms.append((time.perf_counter() - start) * 1000.0)
        self.steps += 1

    def _heads(self, result: dict) -> dict[str, np.ndarray]:
        return {name: np.asarray(result[name])[0] for name in _HEADS if name in result}

    def speed(self) -> dict:
        """Step count and step time (median, 90th percentile, ms) over the latest steps, and what ran them."""
        out = {"steps": self.steps, "backend": self.backend_name,
               "provider": getattr(self.backend, "provider", self.backend_name)}
        if self.step_ms:
            times = np.fromiter(self.step_ms, dtype=np.float64)
            median = float(np.median(times))
            out.update(step_median_ms=round(median, 3), step_p90_ms=round(float(np.percentile(times, 90)), 3),
                       steps_per_s_per_stream=round(1000.0 / median) if median > 0 else None)
        return out


class Stream:
    """One stream through a `StreamModel`, its state kept between steps: `step(joints)` gives what
    `StreamModel.step` gives for the same frames. On ONNX Runtime the state stays in ONNX Runtime's buffers
    (`edge.inference.ort_backend.OrtRecurrence`: no state copied in or out, a quarter of the 17-class step's time);
    on other backends it is fed back as arrays."""

    def __init__(self, model: StreamModel):
        self.model = model
        self._state = model.initial_state()
        self._bound = None
        if hasattr(model.backend, "recurrence"):
            self._bound = model.backend.recurrence(model.joints_input,
                                                   [(p.input, p.output) for p in model.state_pairs], self._state,
                                                   [n for n in _HEADS if n in model.backend.output_names])

    def step(self, joints: np.ndarray) -> dict[str, np.ndarray]:
        """One frame of normalised joints (J, 3) -> that frame's outputs (as `StreamModel.step`)."""
        if self._bound is None:
            outputs, self._state = self.model.step(self._state, joints)
            return outputs
        feed = np.asarray(joints, np.float32)[None]
        start = time.perf_counter()
        result = self._bound.run(feed)
        self.model._timed(start)
        return self.model._heads(result)


def _resolve_backend(path: Path, backend: str) -> tuple[str, dict, Path]:
    """The backend, its options and the file it runs. "auto": a .engine/.plan file on TensorRT; an .onnx on its
    cached TensorRT engine where TensorRT and a GPU are (`edge.inference.engine_cache`, built on first start), else
    on ONNX Runtime with one thread. Unlike the pose models, OpenVINO is not the CPU default here: on this small
    recurrent step it ran 4-10x slower than ONNX Runtime (benchmarks/bench_activity.py), and one thread is as fast
    as two while leaving a core to the pose model."""
    if backend == "auto":
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from edge.inference.engine_cache import auto_engine

            engine = auto_engine(path, "ONNX Runtime")
            if engine is not None:
                return "tensorrt", {}, engine
        backend = "tensorrt" if suffix in (".engine", ".plan") else "onnxruntime" if suffix == ".onnx" else ""
        if not backend:
            raise InputError(f"cannot tell the backend from {path.name!r}: use a .onnx or .engine file, or name the "
                             "backend (onnxruntime, openvino, tensorrt)")
    return backend, ({"intra_op_threads": 1} if backend == "onnxruntime" else {}), path


def open_stream_model(path: str | Path, backend: str = "auto") -> StreamModel:
    """The streaming model at `path` with its manifest (`StreamModel`); a missing file is one `InputError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"no streaming model at {path} (ergoedge export RUN --out DIR --streaming makes one)")
    return StreamModel(path, backend)
