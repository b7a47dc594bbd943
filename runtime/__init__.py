"""The device runtime: GStreamer camera pipeline -> pose -> risk -> on-device alerts.

Depends on `edge` only; GStreamer (gi), TensorRT and GPIO are imported inside the functions that need them.
"""
