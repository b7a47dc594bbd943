"""ergo-edge core: skeletons, kinematics, ergonomic methods (REBA, RULA, NIOSH, L5/S1), scoring, pose estimation,
inference backends and data sets. It never imports `runtime`, `export` or `calibration` (its CLI aside).

Importing this package loads numpy only; torch, GStreamer and TensorRT are never imported here.
"""

__version__ = "0.1.0"
