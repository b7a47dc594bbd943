"""BlazePose (GHUM "full") on any inference backend: person detector + landmark model, multi-person, tracked.

The pipeline follows MediaPipe's published graph for the same model files, re-implemented in numpy/OpenCV:

1. Detector (only when a track is missing, and every `redetect_every` frames while there is room for more people):
   the frame is letterboxed into a 224x224 square (black bars), scaled to [-1, 1]; 2254 SSD anchors
   (strides 8, 16, 32, 32, 32; two per cell, fixed size) decode boxes and four keypoints; sigmoid scores above
   `detection_threshold`; weighted non-maximum suppression (IoU `nms_iou`). While people are missing, also on a
   few overlapping squares of the frame (`detector_tiles`, edge.pose.finding), where faceless people score higher.
2. Region of interest per person: centre = detector keypoint 0 (hip centre); side = 2 x |kp1 - kp0| x 1.25;
   rotated so that kp0 -> kp1 points up.
3. Landmark model on the ROI warped to 256x256 (RGB in [0, 1], border replicated): 39 landmarks (33 body points +
   2 auxiliary + 4 unused), pose presence, 64x64 heatmaps, world landmarks. Each landmark is refined by the
   sigmoid-weighted centroid of a 7x7 heatmap window when that window's peak is at least 0.5. Landmarks go back to
   the frame through the inverse warp; world landmarks are rotated back by the ROI rotation.
4. Tracking: the next frame's ROI comes from auxiliary landmarks 33 (centre) and 34 (scale and rotation) the same
   way, so the detector is skipped while the presence score stays above `presence_threshold`. A lost track's last
   ROI is tried again for `reacquire_frames` frames, and a detection over it revives it under its id. A person
   found again later, within `remember_lost_s`, gets the id of the lost person they fit by position, size and
   torso colours (edge.pose.tracking.LostPeople), and the detector looks where a lost person should be first.

World landmarks are metres, origin between the hips, in a camera-aligned frame (x right, y down, z away from the
camera as the model reports them): gravity is not known here (see scene calibration).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.inference.base import InferenceBackend
from edge.pose import separation
from edge.pose.tracking import LostPeople, ReidConfig
from edge.pose.types import Person, PersonMask, Roi

NUM_LANDMARKS = 33
_ALL_LANDMARKS = 39
_DETECTOR_SIZE = 224
_LANDMARK_SIZE = 256
_HEATMAP_KERNEL = 7
_HEATMAP_MIN_CONFIDENCE = 0.5
_ROI_SCALE = 1.25


@dataclass(frozen=True)
class BlazePoseConfig:
    max_people: int = 1
    detection_threshold: float = 0.5
    nms_iou: float = 0.3
    presence_threshold: float = 0.5
    # Frames between detector runs that look for more people while fewer than max_people are tracked.
    redetect_every: int = 15
    # Which people to keep when more are seen than max_people: "largest" ROI first, or nearest the "center".
    priority: str = "largest"
    # A new detection whose ROI overlaps a tracked one by more than this IoU is the same person.
    track_iou: float = 0.3
    heatmap_refinement: bool = True
    # One Euro smoothing of the tracking points before they set the next crop, as MediaPipe's graph always does:
    # a steady crop gives steady keypoints, and the crops then match MediaPipe's own to a fraction of a pixel.
    smooth_tracking_roi: bool = True
    # Each time the detector runs, also run it on this many overlapping squares of the frame, taken in turn from
    # edge.pose.finding.tile_squares, until max_people are found: a person whose face is covered or turned away
    # scores too low in the whole letterboxed frame. 0: the whole frame only.
    detector_tiles: int = 2
    # Frames a lost track's last ROI is tried again (one landmark run a frame) before it is forgotten; a person
    # found there, or re-detected over it, keeps the id. 0: forgotten at once.
    reacquire_frames: int = 15
    # Seconds a forgotten track's id waits for its person (counted from when they were last seen, or last hidden
    # behind someone tracked): a new track that fits them by position, size and torso colours takes the id back.
    # 0: a person found again after `reacquire_frames` is a new person.
    remember_lost_s: float = 1.5
    # Keep the landmark model's segmentation output and give each Person its mask (`Person.mask`): off by default,
    # since the segmentation head is about 40 % of the landmark model's time on CPU (ort_backend.use_outputs).
    segmentation: bool = False
    # Tell overlapping people apart by the pixels they cover (segmentation masks, or bodies drawn from keypoints;
    # edge.pose.separation): "duplicates" drops a skeleton on pixels someone found this frame covers; "all" also
    # looks for more people with the tracked ones painted out by their body instead of skipped by their box.
    # Measured on composed footage (benchmarks/multi_person_compose.py): "duplicates" took the second skeletons on a
    # person from 14 skeleton-frames to 2 (0 with masks) at recall 0.9885 -> 0.9864; "all" found no more people.
    separate_people: str = "duplicates"

    def __post_init__(self):
        if self.max_people < 1:
            raise InputError(f"max_people must be at least 1, got {self.max_people}")
        check_number(self.detector_tiles, "detector_tiles", integer=True, minimum=0, maximum=8)
        check_number(self.reacquire_frames, "reacquire_frames", integer=True, minimum=0, maximum=300)
        check_number(self.remember_lost_s, "remember_lost_s", minimum=0, maximum=60)
        if self.priority not in ("largest", "center"):
            raise InputError(f"priority must be 'largest' or 'center', got {self.priority!r}")
        if self.separate_people not in separation.MODES:
            raise InputError(f"separate_people must be one of {', '.join(separation.MODES)}, "
                             f"got {self.separate_people!r}")


def _normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray, scale: float = _ROI_SCALE) -> Roi:
    """ROI from an alignment pair: centre, and a point whose distance sets the size and direction the rotation."""
    dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
    rotation = _normalize_radians(math.pi / 2 - math.atan2(-dy, dx))
    side = 2.0 * math.hypot(dx, dy) * scale
    return Roi(float(centre[0]), float(centre[1]), side, rotation)


@functools.lru_cache(maxsize=1)
def ssd_anchors() -> np.ndarray:
    """The detector's 2254 anchor centres, normalised to the 224x224 input, in output order."""
    strides = (8, 16, 32, 32, 32)
    centres = []
    i = 0
    while i < len(strides):
        # Layers that share a stride share one feature map: their anchors interleave per cell.
        same = 1
        while i + same < len(strides) and strides[i + same] == strides[i]:
            same += 1
        cells = math.ceil(_DETECTOR_SIZE / strides[i])
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, 2 * same, axis=1).reshape(-1, 2))  # 2 anchors (scale + interpolated)
        i += same
    return np.concatenate(centres).astype(np.float32)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, threshold: float):
    """Boxes (N, 4: cx, cy, w, h), keypoints (N, 4, 2) and scores (N,), normalised to the detector input."""
    anchors = ssd_anchors()
    raw_boxes = raw_boxes.reshape(-1, 12)
    scores = _sigmoid(np.clip(raw_scores.reshape(-1), -100.0, 100.0))
    keep = scores >= threshold
    raw, anc = raw_boxes[keep] / _DETECTOR_SIZE, anchors[keep]
    boxes = np.concatenate([raw[:, :2] + anc, raw[:, 2:4]], axis=1)
    keypoints = raw[:, 4:].reshape(-1, 4, 2) + anc[:, None, :]
    return boxes, keypoints, scores[keep]


def box_iou_cxcywh(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    a1, a2 = box[:2] - box[2:] / 2, box[:2] + box[2:] / 2
    b1, b2 = boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(axis=1)
    union = box[2:].prod() + boxes[:, 2:].prod(axis=1) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float):
    """Weighted non-maximum suppression: each kept detection is the score-weighted mean of its overlapping group,
    with the group's best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out_boxes, out_kps, out_scores = [], [], []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        group = remaining & (box_iou_cxcywh(boxes[i], boxes) > iou)
        group[i] = True
        w = scores[group][:, None]
        out_boxes.append((boxes[group] * w).sum(axis=0) / w.sum())
        out_kps.append((keypoints[group] * w[:, :, None]).sum(axis=0) / w.sum())
        out_scores.append(scores[i])
        remaining &= ~group
    if not out_scores:
        return np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0)
    return np.array(out_boxes), np.array(out_kps), np.array(out_scores)


def crop_roi(frame: np.ndarray, roi: Roi, size: int, replicate_border: bool = True):
    """Warp the ROI to a size x size image (border replicated, or black); also returns the 2x3 crop->frame
    affine."""
    import cv2

    src = roi.corners().astype(np.float32)
    dst = np.array([[0, 0], [size, 0], [0, size]], dtype=np.float32)
    to_crop = cv2.getAffineTransform(src, dst)
    border = cv2.BORDER_REPLICATE if replicate_border else cv2.BORDER_CONSTANT
    crop = cv2.warpAffine(frame, to_crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=border,
                          borderValue=0)
    to_frame = cv2.invertAffineTransform(to_crop)
    return crop, to_frame


def refine_with_heatmap(xy_norm: np.ndarray, heatmap: np.ndarray, kernel: int = _HEATMAP_KERNEL,
                        min_confidence: float = _HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """Replace each landmark (normalised crop coords) by the sigmoid-weighted centroid of its heatmap window when
    the window's peak confidence reaches `min_confidence`. heatmap: (H, W, K) logits."""
    h, w, k = heatmap.shape
    cols = np.floor(xy_norm[:, 0] * w).astype(int)
    rows = np.floor(xy_norm[:, 1] * h).astype(int)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    half = (kernel - 1) // 2
    offsets = np.arange(-half, half + 1)
    rr = rows[:, None] + offsets[None, :]  # (K, kernel)
    cc = cols[:, None] + offsets[None, :]
    row_ok = (rr >= 0) & (rr < h)
    col_ok = (cc >= 0) & (cc < w)
    idx = np.arange(k)[:, None, None]
    values = heatmap[np.clip(rr, 0, h - 1)[:, :, None], np.clip(cc, 0, w - 1)[:, None, :], idx]
    conf = 1.0 / (1.0 + np.exp(-values.astype(np.float64)))
    conf = conf * (row_ok[:, :, None] & col_ok[:, None, :])  # the window shrinks at the heatmap's edge
    total = conf.sum(axis=(1, 2))
    peak = conf.max(axis=(1, 2))
    refine = inside & (peak >= min_confidence) & (total > 0)
    out = xy_norm.astype(np.float64).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (conf * cc[:, None, :]).sum(axis=(1, 2)) / total / w
        y = (conf * rr[:, :, None]).sum(axis=(1, 2)) / total / h
    out[refine, 0] = x[refine]
    out[refine, 1] = y[refine]
    return out


def _rgb(crop_bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 crop as RGB. Crops are warped from the BGR frame and converted afterwards: the warp is linear per
    channel, so the result is identical to converting the whole frame first, at a fraction of the cost. The
    callers scale it to float32 in one pass into one new array: casting numpy's reversed-channel view and then
    scaling (two fresh 0.8 MB arrays for a 256x256 landmark crop) took a median 0.48 ms a crop between the pose
    model's runs on a 2-core x86 VM (1.3 ms in a tight loop, mostly page faults), this 0.12 ms (0.07), with the
    same values to the bit."""
    import cv2

    return cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


class _AlignmentSmoother:
    """One Euro smoothing of the two tracking points (33, 34) before they become the next ROI, with the parameters
    of the graph inside mediapipe 0.10.21 (min_cutoff 0.01 Hz, beta 10, derivative cutoff 1 Hz). Speed is measured
    in object sizes per second, the object size being the side of the unscaled alignment square, 2 x |p1 - p0|.
    A still person gets a nearly fixed crop, a moving one a crop that follows."""

    def __init__(self, min_cutoff: float = 0.01, beta: float = 10.0, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._raw = self._smooth = self._speed = None
        self._time = None

    @staticmethod
    def _alpha(cutoff, dt):
        return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))

    def __call__(self, points: np.ndarray, time_s: float) -> np.ndarray:
        scale = 2.0 * float(np.hypot(*(points[1] - points[0])))
        if self._time is None or scale < 1e-6:
            self._raw, self._smooth, self._speed, self._time = points, points, np.zeros_like(points), time_s
            return points
        if time_s <= self._time:  # a repeated or out-of-order time: nothing to pace the filter with
            return points
        dt = time_s - self._time
        speed = (points - self._raw) / scale / dt
        self._speed = self._speed + self._alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._smooth = self._smooth + self._alpha(cutoff, dt) * (points - self._smooth)
        self._raw, self._time = points, time_s
        return self._smooth


@dataclass
class _Track:
    track_id: int
    roi: Roi
    age: int = 0
    smoother: _AlignmentSmoother | None = None
    missed: int = 0  # frames since the landmark model last found the person (reacquire_frames)


@dataclass
class BlazePoseStats:
    frames: int = 0
    detector_runs: int = 0
    landmark_runs: int = 0


class BlazePose:
    """Frames (BGR uint8) -> people. Keeps tracks between calls; `reset()` forgets them."""

    DETECTOR_INPUT = (1, _DETECTOR_SIZE, _DETECTOR_SIZE, 3)
    LANDMARK_INPUT = (1, _LANDMARK_SIZE, _LANDMARK_SIZE, 3)

    def __init__(self, detector: InferenceBackend, landmarks: InferenceBackend,
                 config: BlazePoseConfig = BlazePoseConfig()):
        self.detector = detector
        self.landmarks = landmarks
        self.config = config
        self._det_input = _single_input(detector, self.DETECTOR_INPUT, "detector")
        self._lm_input = _single_input(landmarks, self.LANDMARK_INPUT, "landmark model")
        self._det_outputs = _outputs_by_shape(detector, {(2254, 12): "boxes", (2254, 1): "scores"}, "detector")
        roles = {(195,): "landmarks", (1,): "presence", (117,): "world", (64, 64, 39): "heatmap"}
        if config.segmentation:
            roles[(_LANDMARK_SIZE, _LANDMARK_SIZE, 1)] = "segmentation"
        self._lm_outputs = _outputs_by_shape(landmarks, roles, "landmark model")
        if hasattr(landmarks, "use_outputs"):  # skip the segmentation head unless it was asked for
            landmarks.use_outputs(list(self._lm_outputs.values()))
        self.stats = BlazePoseStats()
        self._pool = None  # threads for landmark calls side by side (`_landmarks_all`), made on first use
        self.reset()

    def reset(self) -> None:
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._since_detection = 0
        self._tile_turn = 0
        self._tile_count = 0
        self._sweep = 0  # detector runs still to come on the next frames: a turn through the tiles after a find
        self._lost = LostPeople(ReidConfig(keep_s=self.config.remember_lost_s))
        self._people: list[Person] = []  # the last frame's (separate_people hides them from the detector)

    # -- detector -------------------------------------------------------------------------------------------
    def track_roi(self, track_id: int) -> Roi | None:
        """The ROI the track `track_id` will be read from in the next frame (from this frame's landmarks); None
        for a track that is not (or no longer) kept."""
        return next((t.roi for t in self._tracks if t.track_id == track_id), None)

    def detect(self, frame_bgr: np.ndarray, region: Roi | None = None) -> list[tuple[Roi, float]]:
        """Person ROIs and scores from the detector on the whole frame, or on an upright square `region` of it,
        best first."""
        h, w = frame_bgr.shape[:2]
        # The frame fitted into a square with black bars: the detector was trained on letterboxed frames (with
        # replicated borders instead, keypoints moved by 2-3 px against MediaPipe's own output).
        square = region or Roi(w / 2.0, h / 2.0, float(max(h, w)), 0.0)
        crop, _ = crop_roi(frame_bgr, square, _DETECTOR_SIZE, replicate_border=False)
        tensor = np.multiply(_rgb(crop), np.float32(2.0 / 255.0), dtype=np.float32)  # [-1, 1], in place below
        tensor -= np.float32(1.0)
        tensor = tensor[None]
        out = self.detector.infer({self._det_input: tensor})
        boxes, kps, scores = decode_detections(out[self._det_outputs["boxes"]], out[self._det_outputs["scores"]],
                                               self.config.detection_threshold)
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.config.nms_iou)
        self.stats.detector_runs += 1
        # Detector coordinates are normalised to the square: back to frame pixels.
        to_px = lambda p: (p - 0.5) * square.size + np.array([square.cx, square.cy])  # noqa: E731
        return [(roi_from_points(to_px(k[0]), to_px(k[1])), float(s)) for k, s in zip(kps, scores)]

    # -- landmarks ------------------------------------------------------------------------------------------
    def landmarks_in(self, frame_bgr: np.ndarray, roi: Roi) -> dict | None:
        """Run the landmark model on one ROI; None when the presence score is below the threshold."""
        crop, to_frame = crop_roi(frame_bgr, roi, _LANDMARK_SIZE)
        out = self.landmarks.infer({self._lm_input: np.divide(_rgb(crop), np.float32(255.0), dtype=np.float32)[None]})
        self.stats.landmark_runs += 1
        presence = float(np.asarray(out[self._lm_outputs["presence"]]).reshape(-1)[0])
        if presence < self.config.presence_threshold:
            return None
        raw = np.asarray(out[self._lm_outputs["landmarks"]], dtype=np.float32).reshape(_ALL_LANDMARKS, 5)
        xy = raw[:, :2] / _LANDMARK_SIZE
        if self.config.heatmap_refinement:
            heatmap = np.asarray(out[self._lm_outputs["heatmap"]]).reshape(64, 64, _ALL_LANDMARKS)
            xy = refine_with_heatmap(xy, heatmap)
        pixels = xy * _LANDMARK_SIZE @ to_frame[:, :2].T + to_frame[:, 2]
        world = np.asarray(out[self._lm_outputs["world"]], dtype=np.float64).reshape(_ALL_LANDMARKS, 3)
        c, s = math.cos(roi.rotation), math.sin(roi.rotation)
        world_xy = world[:, :2] @ np.array([[c, s], [-s, c]])
        world = np.concatenate([world_xy, world[:, 2:]], axis=1)
        return {
            "pixels": pixels,
            "visibility": _sigmoid(raw[:, 3]),
            "presence_per_point": _sigmoid(raw[:, 4]),
            "world": world,
            "presence": presence,
            "alignment": pixels[33:35],
            "mask": (_mask_in_frame(out[self._lm_outputs["segmentation"]], to_frame, roi, frame_bgr.shape)
                     if self.config.segmentation else None),
        }

    def _landmarks_all(self, frame_bgr: np.ndarray, rois: list[Roi]) -> list[dict | None]:
        """`landmarks_in` on each ROI, in order; on a thread pool when the landmark backend says it runs several
        calls at once (`concurrency`, e.g. one inference request per thread: on 2 cores two one-thread calls side
        by side took less CPU time than one two-thread call after another)."""
        concurrency = int(getattr(self.landmarks, "concurrency", 1))
        if min(concurrency, len(rois)) <= 1:
            return [self.landmarks_in(frame_bgr, roi) for roi in rois]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="landmarks")
        runs = self.stats.landmark_runs  # counted here: `+=` from several threads could lose a count
        results = list(self._pool.map(lambda roi: self.landmarks_in(frame_bgr, roi), rois))
        self.stats.landmark_runs = runs + len(rois)
        return results

    # -- the frame loop -------------------------------------------------------------------------------------
    def __call__(self, frame_bgr: np.ndarray, time_s: float | None = None) -> list[Person]:
        """People in one frame. `time_s` (seconds, increasing) paces the tracking-ROI smoothing; frames are taken
        as 1/30 s apart when it is not given."""
        frame_bgr = _check_frame(frame_bgr)
        if time_s is None:
            time_s = self.stats.frames / 30.0

        self.stats.frames += 1
        cfg = self.config
        self._since_detection += 1
        seen = sum(t.missed == 0 for t in self._tracks)
        if not seen or (seen < cfg.max_people and (self._since_detection >= cfg.redetect_every or self._sweep)):
            self._since_detection = 0
            self._add_tracks(frame_bgr, time_s)

        people: list[Person] = []
        kept: list[_Track] = []
        # Tracks seen last frame first: a lost track tried again must not take a person another track holds.
        order = sorted(self._tracks, key=lambda t: t.missed > 0)
        # Every track's crop is read before any is judged (the crops come from the last frame): several at once
        # where the backend can run calls side by side.
        for track, result in zip(order, self._landmarks_all(frame_bgr, [t.roi for t in order])):
            box = None if result is None else _keypoint_box(result["pixels"][:NUM_LANDMARKS],
                                                             result["visibility"][:NUM_LANDMARKS])
            # Lost, or converged on a person an older track holds (boxes overlapping, or the upper bodies on the
            # same points: a partial skeleton found again in a tile): kept to be tried again (reacquire_frames).
            if box is None or any(_box_iou(box, p.box) > 0.5 or _same_points(result["pixels"], p) for p in people) \
                    or (cfg.separate_people != "none"
                        and separation.duplicate_landmarks(result, box, people, frame_bgr.shape)):
                track.missed += 1
                if track.missed <= cfg.reacquire_frames:
                    kept.append(track)
                else:
                    self._lost.lose(track.track_id)
                continue
            track.missed = 0
            if self.config.smooth_tracking_roi:
                track.smoother = track.smoother or _AlignmentSmoother()
                alignment = track.smoother(result["alignment"], time_s)
            else:
                alignment = result["alignment"]
            track.roi = roi_from_points(alignment[0], alignment[1])
            kept.append(track)
            person = Person(
                keypoints=result["pixels"][:NUM_LANDMARKS].astype(np.float32),
                scores=result["visibility"][:NUM_LANDMARKS].astype(np.float32),
                layout="blazepose33",
                box=box.astype(np.float32),
                score=result["presence"],
                world=result["world"][:NUM_LANDMARKS].astype(np.float32),
                track_id=track.track_id,
                mask=result.get("mask"),
            )
            people.append(self._identify(track, person, frame_bgr, time_s))
        self._tracks, self._people = kept, people
        if cfg.remember_lost_s > 0:
            self._lost.update(people, time_s)
        return people

    def _identify(self, track: _Track, person: Person, frame_bgr: np.ndarray, time_s: float) -> Person:
        """A new track: someone lost a moment ago gets their id back (in the track's first `claim_s`, see
        LostPeople.claim), and the detector goes through all its tiles on the next frames (people come in groups,
        and a faceless one is found in one tile only)."""
        track.age += 1
        if track.age == 1 and self.config.detector_tiles:
            self._sweep = math.ceil(self._tile_count / self.config.detector_tiles)
        if self.config.remember_lost_s <= 0:
            return person
        old = self._lost.claim(person, frame_bgr, time_s)
        if old is not None:
            track.track_id = old
            person = dataclasses.replace(person, track_id=old)
        self._lost.observe(person, frame_bgr, time_s)
        return person

    def _add_tracks(self, frame_bgr: np.ndarray, time_s: float) -> None:
        """New tracks from the detector (and its tiles): a detection over a lost track revives it under its id;
        one over a track seen last frame is that person; a lost track gives way to a new person at max_people."""
        from edge.pose.finding import find_people, search_square, tile_squares

        cfg = self.config
        seen = [t.roi for t in self._tracks if t.missed == 0]
        self._sweep = max(self._sweep - 1, 0)
        h, w = frame_bgr.shape[:2]
        tiles = tile_squares(w, h)
        self._tile_count = len(tiles)
        turn = [tiles[(self._tile_turn + i) % len(tiles)] for i in range(min(cfg.detector_tiles, len(tiles)))]
        self._tile_turn = (self._tile_turn + len(turn)) % max(len(tiles), 1)
        if cfg.detector_tiles:  # where people were lost a moment ago first (at most two: each is a detector run)
            lost = self._lost.lost_ids[-2:]
            turn = [search_square(self._lost.predicted_box(t, time_s), w, h) for t in lost] + turn
        hide = cfg.separate_people == "all"
        look = separation.hide_people(frame_bgr, self._people) if hide else frame_bgr
        found = find_people(self, look, turn, seen, cfg.max_people - len(seen))
        for roi, _score in self._prioritise(found, frame_bgr.shape):
            overlapping = [t for t in self._tracks if _box_iou(roi.bounds(), t.roi.bounds()) > cfg.track_iou]
            if any(t.missed == 0 and separation.same_track(roi, t.roi, hide) for t in overlapping):
                continue
            overlapping = [t for t in overlapping if t.missed > 0]
            if overlapping:
                lost = max(overlapping, key=lambda t: _box_iou(roi.bounds(), t.roi.bounds()))
                lost.roi, lost.smoother, lost.missed = roi, None, 0
                continue
            lost = [t for t in self._tracks if t.missed > 0]
            if len(self._tracks) >= cfg.max_people:
                if not lost:
                    break
                gone = max(lost, key=lambda t: t.missed)
                self._tracks.remove(gone)
                self._lost.lose(gone.track_id)
            self._tracks.append(_Track(self._next_id, roi))
            self._next_id += 1

    def _prioritise(self, found: list[tuple[Roi, float]], shape) -> list[tuple[Roi, float]]:
        if self.config.priority == "largest":
            return sorted(found, key=lambda rs: -rs[0].size)
        h, w = shape[:2]
        return sorted(found, key=lambda rs: math.hypot(rs[0].cx - w / 2, rs[0].cy - h / 2))


def _mask_in_frame(logits: np.ndarray, to_frame: np.ndarray, roi: Roi, shape) -> PersonMask | None:
    """The landmark model's segmentation (logits over the 256x256 crop) warped back into the frame, over the ROI's
    bounding box clipped to the frame only; None when the ROI lies outside the frame."""
    import cv2

    h, w = shape[:2]
    x1, y1, x2, y2 = roi.bounds()
    x0, y0 = max(0, math.floor(x1)), max(0, math.floor(y1))
    bw, bh = min(w, math.ceil(x2)) - x0, min(h, math.ceil(y2)) - y0
    if bw <= 0 or bh <= 0:
        return None
    # Sigmoid and uint8 before the warp: a one-channel uint8 warp is the cheapest form, and 1/255 is finer
    # than the model's own 256-pixel resolution needs.
    prob = (_sigmoid(np.asarray(logits, dtype=np.float32).reshape(_LANDMARK_SIZE, _LANDMARK_SIZE)) * 255.0 + 0.5)
    to_box = to_frame.astype(np.float64).copy()
    to_box[:, 2] -= (x0, y0)
    local = cv2.warpAffine(prob.astype(np.uint8), to_box, (bw, bh), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return PersonMask(x0, y0, local)


def _keypoint_box(pixels: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    pts = pixels[visibility >= 0.5] if (visibility >= 0.5).sum() >= 2 else pixels
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def _same_points(pixels: np.ndarray, person: Person) -> bool:
    """Whether a skeleton's upper body (landmarks 0-24) or face (0-10: what the detector found, from a tile that
    cut the body off) lies on another person's: median distance under a tenth of that person's height. People
    overlapping in depth have boxes inside each other, not the same points."""
    height = max(float(person.box[3] - person.box[1]), 1.0)
    distance = np.linalg.norm(pixels[:25] - person.keypoints[:25], axis=1)
    return min(float(np.median(distance)), float(np.median(distance[:11]))) < 0.1 * height


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    union = (a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter
    return float(inter / union) if union > 0 else 0.0


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise InputError(f"expected a colour frame of shape (height, width, 3), got {shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise InputError(f"frame is empty or too small: {frame.shape[1]}x{frame.shape[0]}")
    if frame.dtype != np.uint8:
        raise InputError(f"expected an 8-bit frame, got dtype {frame.dtype}")
    return frame


def _single_input(backend: InferenceBackend, shape: tuple, what: str) -> str:
    specs = backend.input_specs
    if len(specs) != 1:
        raise InputError(f"the BlazePose {what} must have one input, this model has {len(specs)}")
    name, (got, _dtype) = next(iter(specs.items()))
    if tuple(d if isinstance(d, int) else -1 for d in got)[1:] != shape[1:]:
        raise InputError(f"the BlazePose {what} expects input shape {list(shape)}, this model has {list(got)}")
    return name


def _outputs_by_shape(backend: InferenceBackend, roles: dict[tuple, str], what: str) -> dict[str, str]:
    """Map output roles by their shape without the batch dimension (names differ between converters)."""
    found: dict[str, str] = {}
    for name, (shape, _dtype) in backend.output_specs.items():
        role = roles.get(tuple(shape[1:]))
        if role and role not in found:
            found[role] = name
    missing = [role for role in roles.values() if role not in found]
    if missing:
        raise InputError(f"the {what} is not a BlazePose model: no output for {', '.join(missing)}")
    return found


__all__ = ["BlazePose", "BlazePoseConfig", "Roi", "decode_detections", "weighted_nms", "ssd_anchors",
           "refine_with_heatmap", "roi_from_points", "crop_roi", "NUM_LANDMARKS"]
