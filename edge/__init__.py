"""ergo-edge core: skeletons, kinematics and ergonomic methods (REBA, RULA, NIOSH, L5/S1).

Importing this package loads numpy only; torch, GStreamer and TensorRT are never imported here.
"""

__version__ = "0.1.0"
