"""Separating overlapping people by the pixels they cover (`BlazePoseConfig.separate_people`).

Two uses of a person's body pixels: BlazePose's segmentation (`Person.mask`, when `segmentation` is on), or without
it a rough body drawn from the keypoints (bones as thick lines, the torso filled):

- `is_duplicate`: a skeleton whose body covers mostly the same pixels as a person already found this frame is that
  person seen again (the landmark model run on someone else's crop slid onto them). Boxes and points miss it when
  the second skeleton is tilted: measured on composed footage (benchmarks/multi_person_compose.py), a duplicate lay
  15-90 degrees off upright on the front person of a crossing, its box overlapping theirs by IoU 0.25-0.42 only.
- `hide_people`: the frame the detector looks for more people in, with the people tracked painted out by their
  body (dilated a little), not by their box: a person partly behind someone tracked keeps the parts that show, and
  the detector's non-maximum suppression no longer merges them with the person in front.

Measured on the 7 composed scenarios: "duplicates" (the default) took second skeletons on a person from 14
skeleton-frames to 0, at recall 0.9885 -> 0.9864 and no id switch or false person either way; "all" found no more
people and let in skeletons on what the painting left of someone (false people 0 -> 7, imprecise skeleton-frames
67 -> 145), so it stays a choice. A small person wholly behind a large one shares most of their pixels in the image:
compared by keypoints they would count as one (two people at the same depth side by side shared at most 0.24).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from edge.pose.types import Person, PersonMask, Roi

# BlazePoseConfig.separate_people: nothing, duplicates dropped, and also the detector's frame painted.
MODES = ("none", "duplicates", "all")
# Pixels of a segmentation mask at or above this probability belong to the person.
_INSIDE = 0.5
# Bones drawn this thick, in the skeleton's extent (its box's longer side): about a limb's width.
_LIMB_WIDTH = 0.08
# A body covering at least this fraction of the smaller of two bodies: the same person. Measured on composed footage:
# a second skeleton on a person 0.84-0.99 (segmentation) and 0.80-0.99 (keypoints), different people at most 0.24.
DUPLICATE_OVERLAP = 0.7
# People are painted out of the detector's frame with their body grown by this fraction of their height: the mask
# is from the last frame, and its edge is soft.
HIDE_MARGIN = 0.04
# A detection in the painted frame whose ROI overlaps a tracked person's this much is what is left of them.
SAME_ROI_IOU = 0.6
# Bodies drawn from keypoints are compared on a grid of this many grid pixels a frame pixel: a sixteenth of the cost.
_GRID = 0.25
_TORSO = ("left_shoulder", "right_shoulder", "right_hip", "left_hip")


def keypoint_mask(person: Person, shape, scale: float = 1.0) -> PersonMask | None:
    """A rough body from the keypoints (those scored >= 0.5, or all when fewer than 2 are): the layout's bones as
    lines `_LIMB_WIDTH` of the skeleton's extent thick and the torso filled, over the frame of `shape`; None when
    nothing of it lies in the frame. `scale` < 1 draws it on a coarser grid (pixel = 1/scale frame pixels, origin
    and size in that grid too): at 0.25 it costs a sixteenth of the pixels, and two bodies drawn alike compare alike."""
    import cv2

    from edge.skeletons import get_layout

    kp, scores = person.keypoints.astype(np.float64) * scale, person.scores
    ok = np.isfinite(kp).all(axis=1)
    if (ok & (scores >= 0.5)).sum() >= 2:
        ok &= scores >= 0.5
    if ok.sum() < 2:
        return None
    pts = kp[ok]
    extent = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))
    width = max(2, round(_LIMB_WIDTH * extent))
    h, w = math.ceil(shape[0] * scale), math.ceil(shape[1] * scale)
    x0, y0 = max(0, math.floor(pts[:, 0].min() - width)), max(0, math.floor(pts[:, 1].min() - width))
    x1, y1 = min(w, math.ceil(pts[:, 0].max() + width) + 1), min(h, math.ceil(pts[:, 1].max() + width) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = np.round(np.where(np.isfinite(kp), kp, 0.0) - (x0, y0)).astype(np.int32)
    layout = get_layout(person.layout)
    edges = _edges(person.layout)
    bones = local[edges[ok[edges[:, 0]] & ok[edges[:, 1]]]]
    if len(bones):  # one call for all bones (thick lines end round)
        cv2.polylines(canvas, list(bones), False, 255, width)
    torso = [layout.index(n) for n in _TORSO if n in layout.joints]
    if len(torso) == len(_TORSO) and ok[torso].all():
        cv2.fillConvexPoly(canvas, cv2.convexHull(local[torso]), 255)
    return PersonMask(x0, y0, canvas)


@functools.lru_cache(maxsize=16)
def _edges(layout_name: str) -> np.ndarray:
    from edge.skeletons import get_layout

    return np.array(get_layout(layout_name).edges, dtype=np.intp).reshape(-1, 2)


def mask_overlap(a: PersonMask, b: PersonMask) -> float:
    """The pixels two bodies share, as a fraction of the smaller body (0: none, 1: one lies inside the other)."""
    ina, inb = a.inside(_INSIDE), b.inside(_INSIDE)
    area = min(int(ina.sum()), int(inb.sum()))
    if area == 0:
        return 0.0
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + ina.shape[1], b.x + inb.shape[1]), min(a.y + ina.shape[0], b.y + inb.shape[0])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    both = ina[y0 - a.y:y1 - a.y, x0 - a.x:x1 - a.x] & inb[y0 - b.y:y1 - b.y, x0 - b.x:x1 - b.x]
    return float(both.sum()) / area


def _bodies(people: list[Person], shape) -> tuple[list[PersonMask | None], float]:
    """Each person's body and the grid it is on (frame pixels per grid pixel): the segmentation where every one of
    them has it (1), else all from keypoints on the coarse grid `_GRID` (two kinds of body would not compare)."""
    if all(p.mask is not None for p in people):
        return [p.mask for p in people], 1.0
    return [keypoint_mask(p, shape, _GRID) for p in people], _GRID


def _boxes_meet(a: Person, b: Person) -> bool:
    """Whether two people's masks' rectangles (both with masks) or boxes (else) overlap: bodies that can share
    pixels (a body drawn from keypoints leaves its box by half a bone, too little to make a duplicate)."""
    if a.mask is not None and b.mask is not None:
        ra, rb = (np.array([m.x, m.y, m.x + m.probability.shape[1], m.y + m.probability.shape[0]])
                  for m in (a.mask, b.mask))
    else:
        ra, rb = a.box, b.box
    return bool((np.minimum(ra[2:], rb[2:]) > np.maximum(ra[:2], rb[:2])).all())


def is_duplicate(person: Person, people: list[Person], shape) -> bool:
    """Whether `person` covers mostly the same pixels (`DUPLICATE_OVERLAP` of the smaller body) as one of `people`
    (those already found in this frame, in a frame of `shape`). People whose boxes do not meet cost nothing."""
    near = [p for p in people if _boxes_meet(person, p)]
    if not near:
        return False
    (mine, *theirs), _grid = _bodies([person, *near], shape)
    return mine is not None and any(b is not None and mask_overlap(mine, b) >= DUPLICATE_OVERLAP for b in theirs)


def duplicate_landmarks(result: dict, box: np.ndarray, people: list[Person], shape) -> bool:
    """`is_duplicate` for one landmark-model result of BlazePose (pixels, visibility, mask) with its box."""
    person = Person(result["pixels"][:33], result["visibility"][:33], "blazepose33", box, 0.0,
                    mask=result.get("mask"))
    return is_duplicate(person, people, shape)


def same_track(found: Roi, tracked: Roi, separating: bool) -> bool:
    """Whether a detection's ROI that overlaps a tracked person's ROI (by BlazePoseConfig.track_iou) is that person.
    Looking in the whole frame, it is; in a frame with the people tracked painted out (`hide_people`), only when it
    overlaps by `SAME_ROI_IOU`: what shows of someone behind them is another person."""
    if not separating:
        return True
    a, b = found.bounds(), tracked.bounds()
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    union = (a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter
    return bool(union > 0 and inter / union > SAME_ROI_IOU)


def hide_people(frame_bgr: np.ndarray, people: list[Person]) -> np.ndarray:
    """A copy of the frame with each person's body (grown by `HIDE_MARGIN` of their height) painted black, as the
    detector's letterbox bars are; the frame itself when there is nobody to hide."""
    import cv2

    if not people:
        return frame_bgr
    out = frame_bgr.copy()
    h, w = out.shape[:2]
    bodies, grid = _bodies(people, frame_bgr.shape)
    for person, body in zip(people, bodies):
        if body is None:
            continue
        grow = max(1, round(HIDE_MARGIN * max(float(person.box[3] - person.box[1]), 1.0) * grid))
        inside = cv2.copyMakeBorder(body.inside(_INSIDE).astype(np.uint8), grow, grow, grow, grow,
                                    cv2.BORDER_CONSTANT, value=0)
        inside = cv2.dilate(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
        x0, y0 = round((body.x - grow) / grid), round((body.y - grow) / grid)
        if grid != 1.0:  # back to frame pixels
            size = (round(inside.shape[1] / grid), round(inside.shape[0] / grid))
            inside = cv2.resize(inside, size, interpolation=cv2.INTER_NEAREST)
        cx0, cy0 = max(0, x0), max(0, y0)
        cx1, cy1 = min(w, x0 + inside.shape[1]), min(h, y0 + inside.shape[0])
        if cx1 > cx0 and cy1 > cy0:
            out[cy0:cy1, cx0:cx1][inside[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0].astype(bool)] = 0
    return out


__all__ = ["DUPLICATE_OVERLAP", "MODES", "duplicate_landmarks", "hide_people", "is_duplicate", "keypoint_mask",
           "mask_overlap", "same_track"]
