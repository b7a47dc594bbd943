"""Exported streaming models on the device, one frame at a time (numpy and `edge.inference`; no torch): `model`
(the step's file, its manifest and its state) and `activity` (a tracked person's frames prepared as training
prepared sequences, and the activity, learned REBA and lifts that come out)."""
