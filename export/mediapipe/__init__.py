"""The default pose model, BlazePose, taken out of the pinned mediapipe wheel (`fetch`) and converted from TFLite
to ONNX by the project's own converter (the script `tflite_onnx` with `tflite_graph`, `onnx_builder` and
`tflite_verify`, run in an isolated tools environment)."""
