"""The device runtime: camera -> pose -> risk -> on-device alerts, at the camera's frame rate.

`session` runs a camera (`video/`) through the pose and scoring stages of `edge` into the alert stage (`alerts/`);
`config` is the run configuration, `telemetry` what a run measures, `report` what it leaves behind, `cli` its
subcommands. Depends on `edge` only; GStreamer (gi), TensorRT and GPIO are imported inside the functions that
need them.
"""
