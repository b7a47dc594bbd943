"""`ergoedge calibrate`: one FP32 skeleton-model export -> INT8 QDQ and FP16 ONNX with manifests, a TensorRT
calibration cache and the precision report, all in `--out`.

    result = calibrate("models/edge_stream_step.onnx", CalibrateSpec(ReaderSpec("uwiom", "/data/uwiom")), "out/")

Written (stem = the source's): `<stem>_int8.onnx` + `<stem>_int8.json`, `<stem>_fp16.onnx` + `<stem>_fp16.json`
(the source manifest's fields, with this file's name, sha256 and precision, the source ONNX's sha256, how it was
calibrated or converted and by what), `<stem>_trt<version>_<method>.calib` + `.calib.json`
(calibration/trt_cache.py) and `<stem>_calibration_report.json` / `.txt` (calibration/report.py). Everything is
checked before anything is written (model, data, calibration set, TensorRT version); each manifest is written
after its ONNX, so a manifest always describes a complete file. The device opens the INT8 and FP16 steps like the
FP32 one (`edge.streaming.model.open_stream_model`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from calibration.quantize import (
    QUANTIZER,
    QuantSpec,
    check_calibration,
    convert_fp16,
    quantize_int8,
    tensor_ranges,
)
from calibration.readers import ReaderSpec, random_set, read_model, read_skeletons
from calibration.report import precision_report
from calibration.trt_cache import cache_key, cache_name, parse_trt_version, write_cache
from edge import __version__
from edge.artifacts import sha256_file
from edge.errors import InputError
from edge.paths import atomic_write, output_dir

DEFAULT_TRT = "10.3"  # JetPack 6.1/6.2's TensorRT


@dataclass(frozen=True)
class CalibrateSpec:
    """reader: the data to calibrate on and hold out (None: random samples, refused unless quant.allow_random);
    quant: QuantSpec; trt_version: the TensorRT the calibration cache is for; samples: for random data."""

    reader: ReaderSpec | None
    quant: QuantSpec = field(default_factory=QuantSpec)
    trt_version: str = DEFAULT_TRT
    samples: int = 512


@dataclass(frozen=True)
class CalibrationResult:
    int8: Path
    fp16: Path
    trt_cache: Path
    trt_cache_reused: bool
    report: dict
    report_path: Path


def _manifest(source: dict, path: Path, precision: str, made: dict) -> dict:
    out = {k: v for k, v in source.items() if k not in ("path", "streaming", "parity", "created")}
    out.update(onnx=path.name, onnx_sha256=sha256_file(path), precision=precision,
               created=datetime.now(timezone.utc).isoformat(timespec="seconds"), ergo_edge_version=__version__,
               source_onnx={"file": Path(source["path"]).name, "sha256": source["onnx_sha256"]},
               source_parity=source.get("parity"), **made)
    return out


def _versions() -> dict:
    import onnx
    import onnxruntime

    return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}


def _converter() -> dict:
    return {"name": "onnxruntime.transformers.float16.convert_float_to_float16", "keep_io_types": True,
            **_versions()}


def calibrate(onnx_path: str | Path, spec: CalibrateSpec, out_dir: str | Path) -> CalibrationResult:
    """Calibrate, quantize, convert, cache and report (module doc)."""
    out = output_dir(out_dir)
    model = read_model(onnx_path)
    source = Path(model["path"])
    parse_trt_version(spec.trt_version)
    stem = source.stem
    int8, fp16 = out / f"{stem}_int8.onnx", out / f"{stem}_fp16.onnx"
    if source.resolve() in {int8.resolve(), fp16.resolve()}:
        raise InputError(f"{source.name} would be overwritten by its own INT8/FP16 version: rename it")
    if spec.reader is None:
        calib, heldout = random_set(model, spec.samples), []
    else:
        data = read_skeletons(model, spec.reader)
        calib, heldout = data.calibration, data.heldout
    check_calibration(calib, spec.quant)
    out.mkdir(parents=True, exist_ok=True)
    quantize_int8(source, calib, spec.quant, int8)
    convert_fp16(source, fp16, calib.feeds[0])
    key = cache_key(source, calib, spec.quant.method, spec.trt_version)
    cache, reused = write_cache(tensor_ranges(source, calib, spec.quant), key, out / cache_name(stem, key))
    calibration = {"method": spec.quant.method, "samples": len(calib.feeds), "distinct_samples": calib.distinct,
                   "digest": calib.digest, "source": calib.source, "real": calib.real,
                   "input_shapes": calib.input_shapes}
    extra = {"source_onnx": source.name, "calibration": calibration, "settings": spec.quant.settings()}
    report_path = out / f"{stem}_calibration_report.json"
    if heldout:
        report = precision_report({"fp32": source, "fp16": fp16, "int8": int8}, model, heldout, out, stem, extra)
    else:
        report = {"title": f"{stem}: no held-out data (random calibration), accuracy not measured", **extra,
                  "precisions": {}}
        atomic_write(report_path, json.dumps(report, indent=1) + "\n")
        atomic_write(report_path.with_suffix(".txt"), report["title"] + "\n")
    passed = report["precisions"].get("int8", {}).get("bar", {}).get("passed")
    made = {"calibration": calibration, "settings": spec.quant.settings(),
            "quantizer": {"name": QUANTIZER, **_versions()}, "report": report_path.name, "int8_bar_passed": passed,
            "tensorrt_cache": cache.name}
    atomic_write(int8.with_suffix(".json"), json.dumps(_manifest(model, int8, "int8", made), indent=1) + "\n")
    atomic_write(fp16.with_suffix(".json"),
                 json.dumps(_manifest(model, fp16, "fp16", {"converter": _converter(), "report": report_path.name}),
                            indent=1) + "\n")
    return CalibrationResult(int8, fp16, cache, reused, report, report_path)
