"""INT8 calibration: QDQ ONNX from real calibration data, with content-keyed caches that are checked before reuse.

Depends on `edge` only; meets `export` and `runtime` through files.
"""
