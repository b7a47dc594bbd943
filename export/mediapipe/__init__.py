"""The default pose model, BlazePose, taken out of the pinned mediapipe wheel (`fetch`) and converted from TFLite
to ONNX by the project's own converter (`tflite_onnx`, run in an isolated tools environment)."""
