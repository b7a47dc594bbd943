"""Pose estimation: frames -> people with 2D keypoints, 3D world keypoints and track ids.

Backends (ONNX Runtime, TensorRT) sit behind one interface (`edge.inference.backends`); pre- and post-processing are
numpy/OpenCV. Nothing heavy is imported here.
"""
