"""INT8 for BlazePose's detector and landmark model: the chosen settings as data, and the one function that applies
them to a calibration set (`calibration.frames.read_pose_frames`).

    path = quantize_pose_model(model_path("pose_landmark_full"), frames.landmarks, RECIPES["landmarks_cpu"],
                               "out/pose_landmark_full_int8_cpu.onnx")

Why these settings (measured by benchmarks/bench_int8_pose.py on held-out real frames, 2 shared cores):
- Two graph forms. TensorRT's parser wants QDQ with symmetric int8 activations (`form="tensorrt"`). On CPUs,
  symmetric int8 activations are the slow choice: after every ReLU6 the Clip cannot be folded into the quantizer
  (its range is not [0, 6]), ONNX Runtime then runs float Clip nodes between its int8 convolutions and took longer
  than FP32; half of the int8 range also goes unused after each ReLU6. The CPU form (`form="cpu"`) is QDQ with
  asymmetric uint8 activations and symmetric int8 weights, the layout ONNX Runtime's and OpenVINO's VNNI kernels
  take directly; OpenVINO runs it fastest.
- The CPU form's weights depend on the CPU calibrate-pose runs on (`weights = "auto"`, `cpu_weights`): int8 where
  the CPU has VNNI (or is not x86), uint8 (symmetric about 128) on x86 CPUs without it. Those (AVX2 only, as the
  AMD EPYC machines here) multiply uint8 activations by int8 weights with an instruction that saturates pairs of
  products at 16 bits: there the int8-weight graph moved landmarks by 8-9 px median in the crop (found nobody in
  the run), while uint8 x uint8 takes a path that does not saturate (1.35-1.41 px) but is no faster than FP32
  (0.89-0.97x); int8 weights in 7 bits (`"int8_7bit"`) were 1.25-1.34x faster there at 2.2-3.4 px. On CPUs with
  VNNI int8 weights gave 0.82-1.23 px at 1.8x (README). So calibrate on the machine (or the kind of CPU) that runs
  the models.
- Per-channel weights are required: per-tensor scales move landmarks by 100 px (the depthwise convolutions' channels
  differ in range by orders of magnitude).
- MinMax calibration for the CPU form: percentile (99.999) was no better there and takes 60 s instead of 7 s; the
  TensorRT form uses percentile (1.95 px against 2.20 px with minmax).
- Kept in float: the output heads (the last convolution on every path to an output: landmark coordinates in
  pixels, world metres, presence, heatmap logits; for the detector the box and score regressors) and the first two
  convolutions (`conv_2d_3`, `depthwise_conv_2d_6`, 128x128 stem). A per-layer sensitivity pass (each node alone
  in int8) ranked the stem first by 3-5x over any other layer; keeping these two in float halved the landmark shift
  and cost little speed (the other two stem layers `conv_2d_12`, `depthwise_conv_2d_22` gained nothing more and
  cost speed).
- The landmark model is first cut to the outputs the run reads (landmarks, presence, heatmap, world), as
  `OrtBackend.use_outputs` does at run time: the segmentation head is never computed, so it is not quantized.

Measured and not chosen: OpenVINO's NNCF quantizer (`nncf.quantize`, the same layers ignored, OpenVINO IR) made the
landmark model 1.52x faster on OpenVINO with a 1.26 px median shift, against 1.83x and 0.82 px for the CPU form.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from calibration.quantize import output_heads
from edge.errors import InputError
from edge.paths import atomic_path, atomic_write

FORMS = ("tensorrt", "cpu")
CPU_WEIGHTS = ("auto", "int8", "uint8", "int8_7bit")
RUNTIMES = ("tensorrt", "openvino", "onnxruntime")
MODELS = ("pose_landmark_full", "pose_detection")
# Output shapes (without batch) the run reads from the landmark model (edge/pose/blazepose.py).
_LANDMARK_OUTPUTS_USED = {(195,), (1,), (117,), (64, 64, 39)}


@dataclass(frozen=True)
class PoseRecipe:
    """How to make one INT8 BlazePose model.

    form: "tensorrt" (QDQ, int8 symmetric activations and weights, float biases: what TensorRT's parser takes) or
        "cpu" (QDQ, uint8 asymmetric activations, int8 symmetric weights, int32 biases: ONNX Runtime / OpenVINO).
    Both are written by ONNX Runtime's quantize_static (the TensorRT form through calibration.quantize.quantize_int8).
    runtime: where the result is meant to run (recorded; the benchmark measures it on every CPU runtime).
    exclude_first_convs / exclude_heads / exclude_nodes / exclude_op_types: what stays in float.
    weights: the CPU form's weight type (module doc): "auto" (`cpu_weights` of the CPU quantizing), "int8" (right
        only on CPUs with VNNI, or not x86), "uint8" (right on every CPU, no faster than FP32 without VNNI) or
        "int8_7bit" (int8 weights in 7 bits, ONNX Runtime's reduce_range: the 16-bit sums do not saturate, at a
        precision cost). The TensorRT form's weights are always int8.
    """

    model: str
    form: str = "cpu"
    runtime: str = "openvino"
    method: str = "minmax"
    per_channel: bool = True
    exclude_first_convs: int = 2
    exclude_heads: bool = True
    exclude_nodes: tuple[str, ...] = ()
    exclude_op_types: tuple[str, ...] = ()
    weights: str = "auto"

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.model, MODELS, "model"), (self.form, FORMS, "form"),
                                     (self.runtime, RUNTIMES, "runtime"), (self.weights, CPU_WEIGHTS, "weights")):
            if value not in allowed:
                raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
        if self.exclude_first_convs < 0:
            raise InputError(f"exclude_first_convs must be >= 0, got {self.exclude_first_convs}")


RECIPES = {
    # The graph shipped for TensorRT (QDQ the parser accepts). Symmetric int8 activations waste half their range
    # after every ReLU6; percentile ranges (99.999) win some back. Exact QDQ arithmetic, held-out crops, median
    # shift: minmax 2.20 px (cam04 1.22, vtest 3.59), 4 stem layers in float 2.08, percentile 1.95 (cam04 1.00,
    # vtest 3.52); residual Adds in float changed nothing.
    "landmarks_tensorrt": PoseRecipe("pose_landmark_full", form="tensorrt", runtime="tensorrt", method="percentile"),
    # The fastest CPU graph: run by OpenVINO (ONNX Runtime runs it too, a little slower).
    "landmarks_cpu": PoseRecipe("pose_landmark_full", form="cpu", runtime="openvino"),
    "detector_tensorrt": PoseRecipe("pose_detection", form="tensorrt", runtime="tensorrt"),
    "detector_cpu": PoseRecipe("pose_detection", form="cpu", runtime="openvino"),
    # The CPU form's weight types side by side (benchmarks/bench_int8_pose.py --recipes); "auto" picks one.
    "landmarks_cpu_int8": PoseRecipe("pose_landmark_full", form="cpu", runtime="openvino", weights="int8"),
    "landmarks_cpu_uint8": PoseRecipe("pose_landmark_full", form="cpu", runtime="openvino", weights="uint8"),
    "landmarks_cpu_int8_7bit": PoseRecipe("pose_landmark_full", form="cpu", runtime="openvino", weights="int8_7bit"),
    "detector_cpu_int8": PoseRecipe("pose_detection", form="cpu", runtime="openvino", weights="int8"),
    "detector_cpu_uint8": PoseRecipe("pose_detection", form="cpu", runtime="openvino", weights="uint8"),
}


def cpu_weights(weights: str, machine: str, cpu_flags: frozenset[str]) -> str:
    """The CPU form's weight type for `weights` (PoseRecipe) on a CPU (edge.device.cpu_facts): "auto" is uint8
    where int8 weights saturate (edge.device.int8_weights_saturate: x86 without VNNI), else int8 (module doc); any
    other choice stands."""
    from edge.device import int8_weights_saturate

    if weights != "auto":
        return weights
    return "uint8" if int8_weights_saturate(machine, cpu_flags) else "int8"


def excluded_nodes(model, recipe: PoseRecipe) -> list[str]:
    """Node names the recipe keeps in float, resolved on this graph (unknown explicit names are an error)."""
    names = [n.name for n in model.graph.node]
    unknown = [n for n in recipe.exclude_nodes if n not in set(names)]
    if unknown:
        raise InputError(f"no node named {', '.join(map(repr, unknown))} in {recipe.model}")
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]  # graph order is topological
    chosen = set(recipe.exclude_nodes) | set(convs[:recipe.exclude_first_convs])
    if recipe.exclude_heads:
        chosen |= set(output_heads(model, ("Conv",)))
    return [n for n in names if n in chosen]


def used_outputs(model, model_name: str) -> list[str]:
    """The outputs the run reads: for the landmark model all but the segmentation mask."""
    if model_name != "pose_landmark_full":
        return [o.name for o in model.graph.output]
    keep = []
    for out in model.graph.output:
        shape = tuple(d.dim_value for d in out.type.tensor_type.shape.dim[1:])
        if shape in _LANDMARK_OUTPUTS_USED:
            keep.append(out.name)
    if len(keep) != len(_LANDMARK_OUTPUTS_USED):
        raise InputError(f"{model_name}: not a BlazePose landmark model (outputs {len(keep)} of 4 found)")
    return keep


def prepare_fp32(onnx_path: str | Path, recipe: PoseRecipe, out_path: str | Path) -> Path:
    """The FP32 graph the INT8 one is made from: cut to the outputs the run reads. Also the benchmark's FP32."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.load(str(onnx_path))
    outputs = used_outputs(model, recipe.model)
    if outputs != [o.name for o in model.graph.output]:
        model = Extractor(model).extract_model([i.name for i in model.graph.input], outputs)
    with atomic_path(out_path, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return Path(out_path)


def _cpu_qdq(source: Path, calib, recipe: PoseRecipe, weights: str, exclude: list[str], out: Path) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QDQRegistry

    from calibration.quantize import PERCENTILE, calibration_method, quiet_quantizer, feed_reader

    extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if recipe.method == "percentile":
        extra["CalibPercentile"] = PERCENTILE
    ops = sorted(set(QDQRegistry) - set(recipe.exclude_op_types))
    with atomic_path(out, suffix=".onnx") as tmp, quiet_quantizer():
        quantize_static(str(source), str(tmp), feed_reader(calib.feeds), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=ops, per_channel=recipe.per_channel, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QUInt8 if weights == "uint8" else QuantType.QInt8,
                        reduce_range=weights == "int8_7bit", nodes_to_exclude=exclude,
                        calibrate_method=calibration_method(recipe.method), extra_options=extra)


def _check_runs(path: Path, feed: dict) -> None:
    """The written model loads in ONNX Runtime and gives finite outputs for one real sample."""
    from calibration.readers import open_session

    outputs = open_session(path).run(None, feed)
    if not all(np.isfinite(np.asarray(o)).all() for o in outputs):
        raise InputError(f"{path.name}: non-finite outputs for a calibration sample")


def quantize_pose_model(onnx_path: str | Path, calib, recipe: PoseRecipe, out_path: str | Path, *,
                        allow_small: bool = False, min_samples: int = 64) -> Path:
    """The INT8 model of `onnx_path` (FP32 BlazePose ONNX) calibrated on `calib` (a CalibrationSet of that model's
    real inputs) by `recipe`, written to `out_path` (.onnx) with a manifest `<out>.json` beside it (its
    "weights" say which weight type "auto" chose here)."""
    import onnx

    from calibration.quantize import QuantSpec, check_calibration, check_qdq, quantize_int8
    from edge.device import cpu_facts

    out = Path(out_path)
    if out.suffix != ".onnx":
        raise InputError(f"give an .onnx output path, not {out.name}")
    spec = QuantSpec(method=recipe.method, per_channel=recipe.per_channel, min_samples=min_samples,
                     allow_small=allow_small, exclude_op_types=recipe.exclude_op_types)
    check_calibration(calib, spec)
    # The TensorRT form's weights are int8 whatever the CPU; the CPU form's are chosen for this one (module doc).
    weights = "int8" if recipe.form == "tensorrt" else cpu_weights(recipe.weights, *cpu_facts())
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        source = prepare_fp32(onnx_path, recipe, Path(tmp) / f"{recipe.model}_fp32.onnx")
        exclude = excluded_nodes(onnx.load(str(source)), recipe)
        if recipe.form == "tensorrt":
            quantize_int8(source, calib, QuantSpec(**{**asdict(spec), "exclude_nodes": tuple(exclude)}), out)
            check_qdq(out)
        else:
            _cpu_qdq(source, calib, recipe, weights, exclude, out)
    _check_runs(out, calib.feeds[0])
    _write_manifest(onnx_path, calib, recipe, weights, exclude, out)
    return out


def _versions(recipe: PoseRecipe) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("onnxruntime", "onnx"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _write_manifest(source, calib, recipe: PoseRecipe, weights: str, exclude: list[str], out: Path) -> None:
    from edge.artifacts import sha256_file

    activations = "int8 symmetric" if recipe.form == "tensorrt" else "uint8 asymmetric"
    described = {"uint8": "uint8 symmetric", "int8": "int8 symmetric", "int8_7bit": "int8 symmetric in 7 bits"}[
        weights]
    manifest = {"precision": "int8", "model": recipe.model, "recipe": asdict(recipe),
                "onnx": out.name, "onnx_sha256": sha256_file(out), "graph": "onnx_qdq",
                "activations": activations, "weights": described + (" per-channel" if recipe.per_channel else ""),
                "weight_type": weights,
                "bias": "float" if recipe.form == "tensorrt" else "int32",
                "excluded_nodes": exclude, "source_onnx": str(source), "source_sha256": sha256_file(source),
                "calibration": {"digest": calib.digest, "source": calib.source, "samples": len(calib.feeds),
                                "method": recipe.method},
                "quantizer_versions": _versions(recipe)}
    atomic_write(out.with_suffix(".json"), json.dumps(manifest, indent=2) + "\n")


__all__ = ["RECIPES", "PoseRecipe", "excluded_nodes", "prepare_fp32", "quantize_pose_model"]
