"""From what a pose model saw to joints that can be scored: metric world keypoints where the model gives them,
else the 2D keypoints placed in the image plane (until a learned 2D -> 3D lifter takes this place)."""

from __future__ import annotations

import numpy as np

from edge.pose.types import Person

# Without metric keypoints, the person's box is taken as this tall, so that lengths come out near metres.
_ASSUMED_STATURE_M = 1.7
# 2D keypoints below this confidence are treated as not seen.
_MIN_KEYPOINT_SCORE = 0.3
# Image y grows downwards: up in the image plane.
IMAGE_UP = (0.0, -1.0, 0.0)


def scoring_joints(person: Person, world_up) -> tuple[np.ndarray, np.ndarray]:
    """(joints (J, 3) in metres, up vector) for scoring `person`.

    With world keypoints: those, with the scene's up vector `world_up` (`edge.pose.scene`). Without: the 2D
    keypoints as pseudo-3D joints in the image plane, scaled so the person's box is about 1.7 m tall, up = image
    up. Angles are then projections onto the image plane, which a report must say.
    """
    if person.world is not None:
        return person.world, np.asarray(world_up)
    height_px = max(float(person.box[3] - person.box[1]), 1.0)
    xy = person.keypoints.astype(np.float64) * (_ASSUMED_STATURE_M / height_px)
    joints = np.concatenate([xy, np.zeros((len(xy), 1))], axis=1)
    joints[person.scores < _MIN_KEYPOINT_SCORE] = np.nan
    return joints, np.array(IMAGE_UP)
