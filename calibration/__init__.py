"""The calibration stage: INT8 (QDQ) and FP16 versions of exported models, calibrated on real data.

`readers` (skeleton sequences -> `CalibrationSet`, held-out sequences), `frames` (BlazePose's video frames),
`quantize` (INT8 QDQ for TensorRT's parser, FP16), `trt_cache` (TensorRT's calibration cache, keyed by content),
`report` (FP32 vs FP16 vs INT8 with the task metric), `stage` (`ergoedge calibrate`, `calibrate()`), `cli`.

Depends on `edge` only; meets `export` and `runtime` through files.
"""
