"""INT8 calibration (not yet built): calibration readers over real data, QDQ ONNX, and content-keyed caches checked
before reuse.

Depends on `edge` only; meets `export` and `runtime` through files.
"""
