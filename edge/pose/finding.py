"""Finding people the whole-frame detector misses: BlazePose's detector on overlapping square tiles.

BlazePose's detector keys on the face. Letterboxed whole, a 640x480 frame shrinks to 224x224 (0.35x), and a person
whose face is covered or turned away scores below the threshold; the same person in a tile of the frame's short
side (0.47x, and without the other people in view), or of two thirds of it for smaller people, scores well above
it (measured on composed footage, benchmarks/multi_person_compose.py). A few tiles a time, taken in turn
(`detector_tiles`), bound the cost of one detector run. Tiles run only when the detector runs anyway (nobody
tracked, or every `redetect_every` frames while there is room for more people) and the whole frame did not give
enough people, so a tracked single person, or one the whole frame finds, costs nothing more. Where a person was
lost a moment ago (edge.pose.tracking.LostPeople), a square around where they should be is looked at first
(`search_square`): a person hidden behind a passer-by reappears there, and with a covered face only a tile sees them.
"""

from __future__ import annotations

import math

import numpy as np

from edge.pose.types import Roi

# A person found in a tile fits in it: their ROI (1.25 x the body's height, BlazePose's crop) at most this many tiles.
_MAX_ROI = 1.3
# A detection whose body axis (hips to the point above the head) leans further than this from upright is dropped: a
# worker bends forward at most about 90-120 degrees, and a covered face makes the detector guess the body upside down
# now and then (measured: -179 degrees on composed footage), which the landmark model then tracks upside down.
_MAX_TILT = math.radians(135.0)


def tile_squares(width: int, height: int) -> list[Roi]:
    """The squares the detector may look at beside the whole frame, larger first: the frame's short side, then two
    thirds of it (where a person of a fifth of the frame height gets a detectable face), each size overlapping by
    half a square and spread evenly from edge to edge."""
    short = min(width, height)
    tiles = []
    for side in (short, short * 2.0 / 3.0):
        cols = math.ceil((width - side) / (side / 2) - 1e-9) + 1
        rows = math.ceil((height - side) / (side / 2) - 1e-9) + 1
        if side == short and cols * rows == 1:
            continue  # a square frame: the whole frame already
        for cy in np.linspace(side / 2, height - side / 2, rows):
            for cx in np.linspace(side / 2, width - side / 2, cols):
                tiles.append(Roi(float(cx), float(cy), float(side), 0.0))
    return tiles


def search_square(box: np.ndarray, width: int, height: int) -> Roi:
    """A square to look for a person lost a moment ago, whose box should now be `box` (x1, y1, x2, y2): centred on
    it, 1.6 x its height but at least two thirds of the frame's short side (the tiles' size, at which a faceless
    person scores well) and at most the short side, moved inside the frame."""
    short = min(width, height)
    side = float(min(short, max(1.6 * (box[3] - box[1]), short * 2.0 / 3.0)))
    cx = float(np.clip((box[0] + box[2]) / 2.0, side / 2, width - side / 2))
    cy = float(np.clip((box[1] + box[3]) / 2.0, side / 2, height - side / 2))
    return Roi(cx, cy, side, 0.0)


def roi_iou(a: Roi, b: Roi) -> float:
    """Overlap of the axis-aligned boxes around two ROIs."""
    ba, bb = a.bounds(), b.bounds()
    inter = np.clip(np.minimum(ba[2:], bb[2:]) - np.maximum(ba[:2], bb[:2]), 0, None).prod()
    union = (ba[2:] - ba[:2]).prod() + (bb[2:] - bb[:2]).prod() - inter
    return float(inter / union) if union > 0 else 0.0


def merge_found(found: list[tuple[Roi, float]], iou: float) -> list[tuple[Roi, float]]:
    """One ROI per person from the whole-frame and tile detections: best score first, and a ROI overlapping a
    better one by more than `iou` dropped as the same person seen again."""
    kept: list[tuple[Roi, float]] = []
    for roi, score in sorted(found, key=lambda rs: -rs[1]):
        if all(roi_iou(roi, other) <= iou for other, _ in kept):
            kept.append((roi, score))
    return kept


def find_people(pose, frame_bgr: np.ndarray, tiles: list[Roi], known: list[Roi], wanted: int
                ) -> list[tuple[Roi, float]]:
    """Person ROIs and scores in the frame: the detector on the whole (letterboxed) frame, then on the squares
    `tiles` in turn until `wanted` people not in `known` (the ROIs of people tracked) are found; duplicates merged
    by `pose.config.track_iou`. A frame whose people the whole-frame detector finds costs no tile."""
    iou = pose.config.track_iou
    found = _upright(pose.detect(frame_bgr))
    for tile in tiles:
        new = [roi for roi, _ in found if all(roi_iou(roi, k) <= iou for k in known)]
        if len(new) >= wanted:
            break
        # A person larger than the tile is seen by the whole frame or a larger tile; from a small tile the detector
        # guesses such a body from the face alone, often wrongly.
        in_tile = _upright(pose.detect(frame_bgr, tile))
        inside = [(roi, score) for roi, score in in_tile if roi.size <= _MAX_ROI * tile.size]
        found = merge_found(found + inside, iou)
    return found


def _upright(found: list[tuple[Roi, float]]) -> list[tuple[Roi, float]]:
    return [(roi, score) for roi, score in found if abs(roi.rotation) <= _MAX_TILT]


__all__ = ["find_people", "merge_found", "roi_iou", "search_square", "tile_squares"]
