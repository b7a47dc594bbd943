"""Inference backends behind one interface (`base.InferenceBackend`): ONNX Runtime, OpenVINO and TensorRT.

Every model the product runs (pose models today, trained models next) goes through `backends.open_backend`. Nothing
heavy is imported here: each runtime is imported by the backend that uses it.
"""
