"""Pose estimation: frames -> people with 2D keypoints, 3D world keypoints where the model has them, and track ids.

`estimator.open_estimator` builds the estimator: BlazePose (`blazepose`) or a model you bring, read through an
adapter (`adapters/`); keypoint smoothing (`filters`), track ids for per-frame models (`tracking`), gravity per
camera (`scene`), the joints scoring uses (`lifting`), drawing (`draw`), and `ergoedge pose` on a file
(`estimate_file`). Models run through `edge.inference`; pre- and post-processing are numpy/OpenCV.
"""
