"""Loaders for the published skeleton data sets, each returning one `Sequence` per video or recording.

No data set ships with the project; users bring their own copies and these loaders read the published layouts.
Every loader checks what it reads and raises a one-line `InputError` that names the missing or bad file. Every
sequence carries metadata: `source`, ids (video, subject...) and the paths it came from. One module per data set,
imported from that module (nothing is re-exported here):

- `uwiom.load_uwiom(root)`: UW-IOM as released with the MTL-ERA code (`Data/UW`).
- `generic.load_generic(root, layout, fps, up)`: a folder of per-video pose arrays with optional frame label files.
- `tum_kitchen.load_tum_kitchen(root, layout=...)`: TUM Kitchen after export to one of our layouts (CSV, mm).
- `kimore.load_kimore(root)`: KIMORE Kinect v2 recordings with clinical total scores as quality.
- `ui_prmd.load_ui_prmd(root, modality=...)`: UI-PRMD segmented repetitions, correct (quality 1) and incorrect (0).
- `readers`: the checked file readers and frame-label encoding they share.
"""
