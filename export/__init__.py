"""Model export: today the default pose model's TFLite -> ONNX conversion (`mediapipe/`); next, trained models
(torch -> ONNX -> FP16/INT8 TensorRT engines, each with a JSON manifest beside it).

Depends on `edge` only; meets `calibration` and `runtime` through files (ONNX, engine, manifest JSON).
"""
