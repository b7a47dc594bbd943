"""The person type shared by pose models, filters, trackers and drawing.

`Person` is what every pose adapter returns, one per detected person, in the coordinates of the ORIGINAL frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError


# eq=False: the generated __eq__ would compare numpy arrays element-wise and raise on truth testing; people are
# compared by identity (or explicitly with numpy) instead.
@dataclass(frozen=True, eq=False)
class Person:
    """One person in one frame.

    keypoints: (J, 2) float32 image pixels (x, y) in the original frame; NaN marks a keypoint reported as missing.
    scores: (J,) float32 confidence/visibility in [0, 1] (0 for a missing keypoint).
    layout: skeleton layout name (`edge.skeletons.LAYOUTS`), e.g. "coco17" or "blazepose33".
    box: (4,) float32 x1, y1, x2, y2 in pixels of the original frame.
    score: person/detection confidence.
    world: (J, 3) float32 metres in a model-specific camera-aligned frame, or None for 2D-only models.
    track_id: -1 until a tracker assigns one.

    Arrays are converted to float32 and their shapes checked on construction.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    layout: str
    box: np.ndarray
    score: float
    world: np.ndarray | None = None
    track_id: int = -1

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 2 or kp.shape[1] != 2:
            raise InputError(f"Person.keypoints must have shape (J, 2), got {kp.shape}")
        joints = kp.shape[0]
        sc = np.asarray(self.scores, dtype=np.float32)
        if sc.shape != (joints,):
            raise InputError(f"Person.scores must have shape ({joints},), got {sc.shape}")
        box = np.asarray(self.box, dtype=np.float32)
        if box.shape != (4,):
            raise InputError(f"Person.box must have shape (4,), got {box.shape}")
        world = self.world
        if world is not None:
            world = np.asarray(world, dtype=np.float32)
            if world.shape != (joints, 3):
                raise InputError(f"Person.world must have shape ({joints}, 3), got {world.shape}")
        # Frozen dataclass: normalised values go in through object.__setattr__, once, at construction.
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "scores", sc)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "world", world)
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "track_id", int(self.track_id))

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[0])
