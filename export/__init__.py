"""Model export: torch checkpoints -> ONNX (FP32/FP16) -> TensorRT engines, each with a JSON manifest beside it.

Depends on `edge` only; meets `calibration` and `runtime` through files (ONNX, engine, manifest JSON).
"""
