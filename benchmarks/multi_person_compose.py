"""Benchmark: finding and keeping several people, faces visible or not, on footage composed from real clips.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multi_person_compose.py [--max-people 3] [--segmentation]
        [--set field=value ...]

(`--segmentation`: BlazePose's person masks on, as `--set segmentation=true`.
`--set separate_people=none|duplicates|all` (default duplicates): overlapping people told apart by their masks, or by
bodies drawn from keypoints without them; see edge/pose/separation.py.)

Ground truth: BlazePose alone (max_people 1) on each single-person pose2sim clip (build/footage/pose2sim/cam0N.mp4,
1080x1920, 100 frames at 60 fps). Each person's region over the whole clip (keypoint box plus a margin) is cut out,
scaled and pasted into a 640x480 grey frame, so its keypoints map into the composed frame by one scale and offset.
Clips play forward then backward (`--loops` times) so a scenario lasts longer than the 1.7 s source; each person
starts at a different source frame so they do not move in step. Scenarios: people side by side at different scales,
one walking across another (pasted in front, occluding it), two walking past each other, people covered whole for
a moment (by a grey box, as a passer-by close to the camera would), and faces masked with a solid box over the face
keypoints (a visor or a head turned away: the detector finds people by their face).

Metrics per scenario and overall, for `BlazePose(max_people=N)` with the config given:
- recall: true people-frames matched by a skeleton (a true person counts in a frame when at least half its limb
  keypoints are inside the frame and not covered by someone pasted in front);
- id switches per person-minute: a true person's matched track id changing between frames it is matched in;
- false people per minute: skeletons appearing on nobody (no true person, covered ones included, within 0.5 of
  their height), the skeleton-frames they make, the longest run one false track id is held (seconds) and how
  many false track ids were held longer than 1 s (issue 14 asks for none); a skeleton on a true person but too far
  off to match (mostly a half-covered person) is an imprecise skeleton-frame, and a duplicate one when it lies within
  `DUPLICATE` of a true person that another skeleton matches (a second skeleton on the same person);
- fps: frames / time inside BlazePose's call (composition and matching excluded); it moves with whatever else the
  machine runs, so the detector and landmark runs (overall: a frame) are given too, the cost free of that noise.
A skeleton matches a true person when the median distance of their limb keypoints (true visibility >= 0.5; the
skeleton also tried mirrored) is below 0.2 of the true person's height; pairs are taken best first.
Prints JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS = 640, 480, 60.0
LIMBS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
MIRRORED = [12, 11, 14, 13, 16, 15, 24, 23, 26, 25, 28, 27]  # LIMBS with left and right swapped
FACE = list(range(11))
MATCH = 0.2
FALSE = 0.5  # a skeleton this far (in true heights) from every true person is on nobody
# An unmatched skeleton this near a matched true person is a second one on them (measured: such duplicates lie
# 0.10-0.19 from the person; the skeleton of someone covered by a passer-by, 0.43 or more from the passer-by).
DUPLICATE = 0.3
GREY = 114


@dataclass(frozen=True)
class Placement:
    clip: int  # 0..3: cam01..cam04
    height: float  # pasted patch height, fraction of the frame height
    x: tuple[float, float]  # patch centre x (fraction of frame width) at the start and at the end
    mask_face: bool = False
    offset: int = 0  # source frame the person starts at
    hidden: tuple[tuple[int, int], ...] = ()  # frame ranges [start, end) the person is covered whole (a passer-by)


SCENARIOS = {
    "two_side_by_side": [Placement(0, 0.95, (0.27, 0.27)), Placement(1, 0.7, (0.75, 0.75), offset=40)],
    "two_one_masked": [Placement(0, 0.95, (0.27, 0.27)), Placement(1, 0.7, (0.75, 0.75), True, 40)],
    "three_one_masked": [Placement(2, 0.55, (0.16, 0.16), offset=20), Placement(0, 0.95, (0.5, 0.5), True),
                         Placement(3, 0.7, (0.84, 0.84), offset=60)],
    "three_two_masked": [Placement(2, 0.55, (0.16, 0.16), True, 20), Placement(0, 0.95, (0.5, 0.5)),
                         Placement(3, 0.7, (0.84, 0.84), True, 60)],
    "brief_occlusion": [Placement(0, 0.9, (0.27, 0.27), hidden=((100, 112), (250, 270))),
                        Placement(1, 0.7, (0.75, 0.75), True, 20, hidden=((180, 190),))],
    "crossing_masked": [Placement(1, 0.6, (0.5, 0.5), True, 30), Placement(0, 0.95, (0.12, 0.88), offset=0)],
    # Both walking, the faceless one behind: they pass each other halfway.
    "crossing_walking_masked": [Placement(1, 0.65, (0.85, 0.15), True, 10), Placement(0, 0.95, (0.1, 0.9))],
}


def clip_frames(footage: Path, clip: int) -> list[np.ndarray]:
    from edge.pose.frames import video_frames

    return [f for _, _, f, _ in video_frames(footage / "pose2sim" / f"cam0{clip + 1}.mp4")]


def ground_truth(pose, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (T, 33, 2) and visibility (T, 33) of the one person in each frame (NaN / 0 where not found)."""
    pose.reset()
    kps = np.full((len(frames), 33, 2), np.nan)
    vis = np.zeros((len(frames), 33))
    for i, frame in enumerate(frames):
        people = pose(frame, i / FPS)
        if people:
            kps[i], vis[i] = people[0].keypoints, people[0].scores
    return kps, vis


@dataclass
class Source:
    frames: list[np.ndarray]
    kps: np.ndarray
    vis: np.ndarray
    crop: tuple[int, int, int, int]  # x1, y1, x2, y2 of the person's region in the source frame


def make_source(pose, frames: list[np.ndarray]) -> Source:
    """The person's region: their keypoint box over the clip, tight sideways (the 5th to 95th percentile of the
    keypoints' x) so that bystanders in the source's background stay out of the composed frame."""
    kps, vis = ground_truth(pose, frames)
    pts = kps[vis >= 0.5]
    h, w = frames[0].shape[:2]
    top, bottom = pts[:, 1].min(), pts[:, 1].max()
    left, right = np.percentile(pts[:, 0], [5, 95])
    pad = 0.06 * (bottom - top)
    x1, y1 = max(0, int(left - pad)), max(0, int(top - pad))
    x2, y2 = int(min(w, right + pad)), int(min(h, bottom + pad))
    return Source(frames, kps, vis, (x1, y1, x2, y2))


def _source_index(n: int, t: int, offset: int) -> int:
    """Forward then backward through the clip (ping-pong), starting at `offset`."""
    k = (t + offset) % (2 * n - 2)
    return k if k < n else 2 * n - 2 - k


def compose(sources: list[Source], placements: list[Placement], frames: int):
    """Yields (frame, truths) with truths a list per person of (keypoints (33, 2), visibility (33,), shown) where
    `shown` says the person counts for recall in this frame."""
    import cv2

    for t in range(frames):
        canvas = np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)
        truths = []
        layers = []
        for p in placements:
            src = sources[p.clip]
            i = _source_index(len(src.frames), t, p.offset)
            x1, y1, x2, y2 = src.crop
            scale = p.height * HEIGHT / (y2 - y1)
            pw, ph = max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))
            frac = t / max(1, frames - 1)
            cx = (p.x[0] + (p.x[1] - p.x[0]) * frac) * WIDTH
            ox, oy = round(cx - pw / 2), HEIGHT - ph
            kp = (src.kps[i] - [x1, y1]) * scale + [ox, oy]
            layers.append((src.frames[i][y1:y2, x1:x2], scale, ox, oy, pw, ph, kp, src.vis[i], p.mask_face, p.hidden))
        # Pasted back to front: later placements cover earlier ones.
        for patch, _scale, ox, oy, pw, ph, kp, vis, mask, hidden in layers:
            patch = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA)
            if mask and np.isfinite(kp[FACE]).all():
                _mask_face(patch, kp[FACE] - [ox, oy])
            cx1, cy1, cx2, cy2 = max(0, ox), max(0, oy), min(WIDTH, ox + pw), min(HEIGHT, oy + ph)
            canvas[cy1:cy2, cx1:cx2] = patch[cy1 - oy:cy2 - oy, cx1 - ox:cx2 - ox]
            for truth in truths:  # this layer covers the people behind it
                truth[2][cy1:cy2, cx1:cx2] = True
            cover = np.zeros((HEIGHT, WIDTH), bool)
            if any(start <= t < end for start, end in hidden):
                canvas[cy1:cy2, cx1:cx2] = GREY
                cover[:] = True
            truths.append((kp, vis, cover))
        yield canvas, [(kp, vis, _shown(kp, vis, cover)) for kp, vis, cover in truths]


def _mask_face(patch: np.ndarray, face: np.ndarray) -> None:
    import cv2

    lo, hi = face.min(axis=0), face.max(axis=0)
    size = max(hi - lo) * 1.6 + 4
    centre = (lo + hi) / 2
    p1 = np.round(centre - size / 2).astype(int)
    p2 = np.round(centre + size / 2).astype(int)
    cv2.rectangle(patch, tuple(int(v) for v in p1), tuple(int(v) for v in p2), (60, 60, 60), thickness=-1)


def _shown(kp: np.ndarray, vis: np.ndarray, cover: np.ndarray) -> bool:
    limbs = [j for j in LIMBS if vis[j] >= 0.5 and np.isfinite(kp[j]).all()]
    if len(limbs) < 4:
        return False
    xy = np.round(kp[limbs]).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < WIDTH) & (xy[:, 1] >= 0) & (xy[:, 1] < HEIGHT)
    free = inside.copy()
    free[inside] = ~cover[xy[inside, 1], xy[inside, 0]]
    return free.mean() >= 0.5


def person_distance(pred: np.ndarray, kp: np.ndarray, vis: np.ndarray) -> float:
    """Median limb-keypoint distance over the true person's height (inf when it cannot be measured), the smaller
    of the skeleton as it is and mirrored: a person found with left and right swapped is still found."""
    ok = np.array([vis[j] >= 0.5 and np.isfinite(kp[j]).all() for j in LIMBS])
    if ok.sum() < 4:
        return float("inf")
    good = vis >= 0.5
    height = max(float(np.ptp(kp[good, 1])) if good.sum() >= 2 else 1.0, 1.0)
    truth = kp[LIMBS][ok]
    return min(float(np.median(np.linalg.norm(pred[idx][ok] - truth, axis=1))) / height for idx in (LIMBS, MIRRORED))


def match(people, truths) -> dict[int, int]:
    """Skeleton index -> true person index, best pairs first."""
    pairs = sorted((person_distance(p.keypoints, kp, vis), i, j)
                   for i, p in enumerate(people) for j, (kp, vis, _) in enumerate(truths))
    out, used = {}, set()
    for d, i, j in pairs:
        if d >= MATCH:
            break
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def _is_duplicate(person, truths, matched: dict[int, int]) -> bool:
    """Whether an unmatched skeleton lies on a true person another skeleton matches (see `DUPLICATE`)."""
    return any(person_distance(person.keypoints, truths[j][0], truths[j][1]) < DUPLICATE for j in matched.values())


def run_scenario(pose, sources, placements, frames: int) -> dict:
    pose.reset()
    shown = found = false = false_frames = imprecise = duplicates = switches = 0
    last_id: dict[int, int] = {}
    false_run: dict[int, int] = {}
    longest_false = 0
    held_long: set[int] = set()  # false track ids held longer than 1 s
    elapsed = 0.0
    runs = (pose.stats.detector_runs, pose.stats.landmark_runs)
    for t, (frame, truths) in enumerate(compose(sources, placements, frames)):
        start = time.perf_counter()
        people = pose(frame, t / FPS)
        elapsed += time.perf_counter() - start
        matched = match(people, truths)
        for j, (_, _, is_shown) in enumerate(truths):
            shown += bool(is_shown)
        for i, j in matched.items():
            found += bool(truths[j][2])
            tid = people[i].track_id
            if j in last_id and last_id[j] != tid:
                switches += 1
            last_id[j] = tid
        unmatched = [p for i, p in enumerate(people) if i not in matched]
        false_ids = {p.track_id for p in unmatched
                     if all(person_distance(p.keypoints, kp, vis) >= FALSE for kp, vis, _ in truths)}
        imprecise += len(unmatched) - len(false_ids)
        duplicates += sum(_is_duplicate(p, truths, matched) for p in unmatched if p.track_id not in false_ids)
        false_frames += len(false_ids)
        false += len(false_ids - set(false_run))  # a false person appears
        held_long |= {tid for tid, run in false_run.items() if tid not in false_ids and run > FPS}
        false_run = {tid: false_run.get(tid, 0) + 1 for tid in false_ids}
        longest_false = max([longest_false, *false_run.values()])
    held_long |= {tid for tid, run in false_run.items() if run > FPS}
    person_minutes = shown / FPS / 60.0
    minutes = frames / FPS / 60.0
    return {"people_frames": shown, "found": found, "recall": round(found / max(shown, 1), 4),
            "id_switches": switches, "id_switches_per_person_min": round(switches / max(person_minutes, 1e-9), 2),
            "false_people": false, "false_people_per_min": round(false / minutes, 1),
            "false_skeleton_frames": false_frames, "imprecise_skeleton_frames": imprecise,
            "duplicate_skeleton_frames": duplicates, "longest_false_s": round(longest_false / FPS, 2),
            "false_held_over_1s": len(held_long),
            "fps": round(frames / elapsed, 1),
            "detector_runs": pose.stats.detector_runs - runs[0], "landmark_runs": pose.stats.landmark_runs - runs[1],
            "frames": frames, "_elapsed": elapsed}


def _write_clip(path: Path, sources, placements, seconds: float) -> None:
    """The scenario as a 30 fps video: the end-to-end run (`ergoedge run`) measured on composed people."""
    import cv2

    from edge.paths import atomic_path

    frames = int(seconds * 30)
    with atomic_path(path, suffix=".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (WIDTH, HEIGHT))
        for frame, _ in compose(sources, placements, frames):
            writer.write(frame)
        writer.release()


def _config(args):
    from edge.pose.blazepose import BlazePoseConfig

    fields = {f.name: f for f in dataclasses.fields(BlazePoseConfig)}
    values = {"max_people": args.max_people, "segmentation": args.segmentation}
    for item in args.set:
        key, _, raw = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown BlazePoseConfig field {key!r}")
        default = getattr(BlazePoseConfig(), key)
        values[key] = type(default)(raw) if not isinstance(default, bool) else raw.lower() in ("1", "true", "yes")
    return BlazePoseConfig(**values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", default=str(REPO / "build" / "footage"))
    parser.add_argument("--max-people", type=int, default=3)
    parser.add_argument("--loops", type=int, default=2, help="forward+backward passes through each source clip")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--segmentation", action="store_true",
                        help="BlazePose's person masks on (segmentation=true): measures their cost, and what "
                             "separate_people does with them")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a BlazePoseConfig field for the tested pose (repeatable)")
    parser.add_argument("--write-clip", metavar="FILE.mp4",
                        help="only write the first of --scenarios as a 640x480, 30 fps clip (--clip-seconds long, "
                             "e.g. for `ergoedge run --max-people 3`) and stop")
    parser.add_argument("--clip-seconds", type=float, default=20.0)
    args = parser.parse_args()

    from edge.artifacts import model_path
    from edge.inference.ort_backend import OrtBackend
    from edge.pose.blazepose import BlazePose, BlazePoseConfig

    def backend(name):
        return OrtBackend(model_path(name), intra_op_threads=1, allow_spinning=False)

    det, lm = backend("pose_detection"), backend("pose_landmark_full")
    # Ground truth from today's single-person pipeline, whatever the defaults become.
    truth_pose = BlazePose(det, lm, BlazePoseConfig(max_people=1, detector_tiles=0, reacquire_frames=0))
    footage = Path(args.footage)
    sources = [make_source(truth_pose, clip_frames(footage, c)) for c in range(4)]
    if args.write_clip:
        _write_clip(Path(args.write_clip), sources, SCENARIOS[args.scenarios.split(",")[0]], args.clip_seconds)
        return 0
    config = _config(args)
    pose = BlazePose(det, lm, config)
    frames = args.loops * (2 * 100 - 2)
    result = {"config": {k: v for k, v in dataclasses.asdict(config).items()}, "scenarios": {}}
    totals = {"people_frames": 0, "found": 0, "id_switches": 0, "false_people": 0, "false_skeleton_frames": 0,
              "imprecise_skeleton_frames": 0, "duplicate_skeleton_frames": 0, "frames": 0, "_elapsed": 0.0,
              "longest_false_s": 0.0, "detector_runs": 0, "landmark_runs": 0, "false_held_over_1s": 0}
    for name in args.scenarios.split(","):
        r = run_scenario(pose, sources, SCENARIOS[name], frames)
        for key, total in totals.items():
            totals[key] = max(total, r[key]) if key == "longest_false_s" else total + r[key]
        r.pop("_elapsed")
        result["scenarios"][name] = r
    minutes = totals["frames"] / FPS / 60
    result["overall"] = {
        "recall": round(totals["found"] / max(totals["people_frames"], 1), 4),
        "id_switches_per_person_min": round(totals["id_switches"] / (totals["people_frames"] / FPS / 60), 2),
        "false_people_per_min": round(totals["false_people"] / minutes, 1),
        "false_skeleton_frames": totals["false_skeleton_frames"],
        "imprecise_skeleton_frames": totals["imprecise_skeleton_frames"],
        "duplicate_skeleton_frames": totals["duplicate_skeleton_frames"],
        "longest_false_s": totals["longest_false_s"],
        "false_held_over_1s": totals["false_held_over_1s"],
        "fps": round(totals["frames"] / totals["_elapsed"], 1),
        # Noise-free cost: model runs a frame (the fps above moves with whatever else the machine runs).
        "detector_runs_per_frame": round(totals["detector_runs"] / totals["frames"], 3),
        "landmark_runs_per_frame": round(totals["landmark_runs"] / totals["frames"], 3),
    }
    print(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
