"""Several calibrated cameras, one 3D skeleton per person: people matched across views, each joint triangulated
from the views that see it, weighted by confidence, with views that disagree dropped.

`triangulate_people(rig, views, config)` is the entry point: each camera's people (2D keypoints with scores, as
`edge.pose` gives them) in, 3D people in the rig's world frame (metres, `rig.up` against gravity) out, ready for
`edge.scoring.stream.PersonStream(layout, rig.up)` as one camera's world keypoints are.

Per joint (`triangulate`): the keypoints are undistorted (OpenCV) into normalised coordinates; views that read the
person mirrored (left and right arms, legs or face exchanged) are relabelled; a linear DLT least-squares solve
whose rows are weighted by the keypoint's score and by f / depth (so that the algebraic error it minimises is a
pixel error) gives the point; a few Gauss-Newton steps then minimise the weighted reprojection error. A view whose
reprojection error exceeds `max_reprojection_px` is dropped (the worst first) and the joint re-triangulated, down
to `min_views`; with `ransac`, the view pair whose point most other views agree with is found first. People are
matched (`match_people`) by the symmetric epipolar distance of their confident keypoints, greedily, at most one
person per view in a group. Temporal smoothing and bone lengths are `edge.pose.skeleton_filter`'s.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.pose.cameras import Camera, CameraRig
from edge.pose.types import Person


@dataclass(frozen=True)
class TriangulationConfig:
    """How joints are triangulated and people matched (defaults measured on the 4-view pose2sim clip)."""

    min_score: float = 0.3  # keypoints below this confidence are not used
    score_power: float = 1.0  # row weight = score ** score_power
    max_reprojection_px: float = 25.0  # a view further than this from the point is dropped
    min_views: int = 2
    ransac: bool = False  # start from the view pair most other views agree with
    refine_steps: int = 3  # Gauss-Newton steps on the weighted reprojection error after the DLT
    # A view whose left and right arms (or legs, or face) fit the other views better exchanged is corrected: a
    # person facing the camera is often read mirrored.
    fix_swaps: bool = True
    swap_gain: float = 0.6  # exchanged when its error is below this share of the error as read
    match_max_px: float = 40.0  # people further apart (median symmetric epipolar distance) are not matched
    match_min_joints: int = 4  # confident keypoints two views of a person must share to be compared

    def __post_init__(self) -> None:
        check_number(self.min_score, "min_score", minimum=0.0, maximum=1.0)
        check_number(self.score_power, "score_power", minimum=0.0, maximum=8.0)
        check_number(self.max_reprojection_px, "max_reprojection_px", positive=True)
        check_number(self.min_views, "min_views", integer=True, minimum=2, maximum=64)
        check_number(self.refine_steps, "refine_steps", integer=True, minimum=0, maximum=50)
        check_number(self.swap_gain, "swap_gain", minimum=0.0, maximum=1.0)
        check_number(self.match_max_px, "match_max_px", positive=True)
        check_number(self.match_min_joints, "match_min_joints", integer=True, minimum=1, maximum=1000)


@dataclass(frozen=True, eq=False)
class Triangulation:
    """Joints triangulated from V views: points (J, 3) world metres (NaN where fewer than min_views agree),
    used (V, J) which views made each point, errors (V, J) each view's reprojection error in pixels (NaN where
    the view had no keypoint or no point was made), order (V, J) the keypoint each view gave each joint."""

    points: np.ndarray
    used: np.ndarray
    errors: np.ndarray
    order: np.ndarray | None = None  # (V, J): view v's joint j is its keypoint order[v, j] (swaps corrected)


@dataclass(frozen=True, eq=False)
class Person3D:
    """One person seen by several cameras. joints (J, 3) world metres; scores (J,) mean score of the views used;
    views: camera name -> index of the person in that camera's list; track_ids: camera name -> its track id."""

    joints: np.ndarray
    scores: np.ndarray
    layout: str
    views: dict[str, int]
    track_ids: dict[str, int]
    triangulation: Triangulation = field(repr=False)

    @property
    def person_id(self) -> str:
        """A name that lasts while the per-view tracks do: the first camera's name and track id."""
        name = sorted(self.track_ids)[0]
        return f"{name}:{self.track_ids[name]}"


# -- triangulation -------------------------------------------------------------------------------------------


def _extrinsics(cameras) -> np.ndarray:
    return np.stack([np.hstack([c.R, c.t[:, None]]) for c in cameras])  # (V, 3, 4)


def _solve_dlt(norm: np.ndarray, weights: np.ndarray, Rt: np.ndarray) -> np.ndarray:
    """Points (J, 3) from normalised coordinates (V, J, 2) and row weights (V, J) (0 = unused); NaN where fewer
    than two views have weight."""
    rows_x = norm[..., 0:1] * Rt[:, None, 2, :] - Rt[:, None, 0, :]  # (V, J, 4)
    rows_y = norm[..., 1:2] * Rt[:, None, 2, :] - Rt[:, None, 1, :]
    w = np.where(weights > 0, weights, 0.0)[..., None]
    A = np.concatenate([np.nan_to_num(rows_x) * w, np.nan_to_num(rows_y) * w], axis=0)  # (2V, J, 4)
    # The homogeneous point's last coordinate fixed at 1 (people are never at infinity): least squares through
    # 3x3 normal equations per joint, several times faster than a batched SVD of A.
    M = np.einsum("rji,rjk->jik", A[..., :3], A[..., :3])
    b = -np.einsum("rji,rj->ji", A[..., :3], A[..., 3])
    few = (weights > 0).sum(axis=0) < 2
    M[few] = np.eye(3)
    M += 1e-12 * np.eye(3)  # two rays that coincide: a point on them rather than a singular solve
    points = np.linalg.solve(M, b[..., None])[..., 0]
    points[few] = np.nan
    return points


def _refine(points: np.ndarray, norm: np.ndarray, weights: np.ndarray, Rt: np.ndarray, focal: np.ndarray,
            steps: int) -> np.ndarray:
    """Gauss-Newton on sum_v (w_v f_v |n_v - proj_v(X)|)^2 per joint, vectorised over joints."""
    X = points.copy()
    ok = np.isfinite(X).all(axis=1)
    for _ in range(steps):
        Xc = np.einsum("vij,kj->vki", Rt[:, :, :3], np.where(ok[:, None], X, 0.0)) + Rt[:, None, :, 3]  # (V,J,3)
        z = Xc[..., 2]
        valid = (weights > 0) & (z > 1e-6)
        zs = np.where(valid, z, 1.0)
        proj = Xc[..., :2] / zs[..., None]
        r = (np.nan_to_num(norm) - proj)  # (V, J, 2)
        # d proj / d X = (R[:2] - proj R[2]) / z
        J = (Rt[:, None, :2, :3] - proj[..., :, None] * Rt[:, None, 2:3, :3]) / zs[..., None, None]  # (V,J,2,3)
        s = np.where(valid, weights * focal[:, None], 0.0)[..., None, None]
        Js, rs = J * s, r * s[..., 0]
        H = np.einsum("vjai,vjak->jik", Js, Js) + 1e-12 * np.eye(3)
        g = np.einsum("vjai,vja->ji", Js, rs)
        step = np.linalg.solve(H[ok], g[ok][..., None])[..., 0]
        X[ok] = X[ok] + step
    return X


def _reprojection(cameras, points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    errors = np.stack([np.linalg.norm(c.project(points) - px, axis=-1) for c, px in zip(cameras, pixels)])
    return np.where(np.isfinite(errors), errors, np.inf)


def _fit(cameras, Rt, focal, norm, base_w, use, steps) -> np.ndarray:
    """The DLT, reweighted once by f / depth, then refined."""
    w = np.where(use, base_w, 0.0)
    points = _solve_dlt(norm, w, Rt)
    depth = np.einsum("vj,kj->vk", Rt[:, 2, :3], np.nan_to_num(points)) + Rt[:, 2, 3][:, None]
    scale = focal[:, None] / np.where(depth > 1e-6, depth, np.inf)
    points = _solve_dlt(norm, w * scale / max(float(np.nanmax(scale)), 1e-12), Rt)
    return _refine(points, norm, w, Rt, focal, steps) if steps else points


def triangulate(cameras: list[Camera] | tuple[Camera, ...], keypoints: np.ndarray, scores: np.ndarray,
                config: TriangulationConfig = TriangulationConfig(), layout: str | None = None,
                groups: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Triangulation:
    """Each joint's 3D point from V views: keypoints (V, J, 2) distorted pixels (NaN = not seen), scores (V, J).
    With the skeleton `layout` named, views read mirrored are corrected first (`fix_swaps`; the result's `order`
    says how each view's keypoints were relabelled, and `errors` compare with the relabelled keypoints).
    `groups` replaces `swap_groups(layout)`, e.g. for several frames batched along the joint axis."""
    keypoints = np.array(keypoints, dtype=np.float64)  # a copy: corrected swaps must not reach the caller
    scores = np.array(scores, dtype=np.float64)
    V = len(cameras)
    if keypoints.ndim != 3 or keypoints.shape[0] != V or keypoints.shape[2] != 2 or scores.shape != keypoints.shape[:2]:
        raise InputError(f"expected keypoints ({V}, J, 2) and scores ({V}, J) for {V} cameras, got "
                         f"{keypoints.shape} and {scores.shape}")
    Rt = _extrinsics(cameras)
    focal = np.array([0.5 * (c.K[0, 0] + c.K[1, 1]) for c in cameras])
    norm = np.stack([c.normalise(kp) for c, kp in zip(cameras, keypoints)])
    seen = np.isfinite(norm).all(axis=-1) & (scores >= config.min_score)
    base_w = np.where(seen, np.clip(scores, 1e-6, None) ** config.score_power, 0.0)
    order = np.tile(np.arange(keypoints.shape[1]), (V, 1))
    if groups is None and layout is not None:
        groups = swap_groups(layout)
    if groups and config.fix_swaps and V >= 3:
        swapped = _fix_swaps(cameras, Rt, focal, norm, base_w, keypoints, seen, groups, config)
        for v in range(V):
            order[v] = perm = _permutation(keypoints.shape[1], [g for g, on in zip(groups, swapped[v]) if on])
            keypoints[v], norm[v], base_w[v], seen[v] = keypoints[v][perm], norm[v][perm], base_w[v][perm], \
                seen[v][perm]
    use = seen.copy()
    if config.ransac and V >= 3:
        use = _consensus(cameras, Rt, focal, norm, base_w, keypoints, seen, config)
    steps = config.refine_steps
    points = _fit(cameras, Rt, focal, norm, base_w, use, steps)
    errors = _reprojection(cameras, points, keypoints)
    for _ in range(V):
        # Drop each joint's worst view while it is beyond the threshold and enough views would remain.
        bad_err = np.where(use, errors, -np.inf)
        worst = np.argmax(bad_err, axis=0)
        too_far = bad_err.max(axis=0) > config.max_reprojection_px
        can_drop = use.sum(axis=0) > config.min_views
        drop = too_far & can_drop
        if not drop.any():
            break
        use[worst[drop], np.flatnonzero(drop)] = False
        points = _fit(cameras, Rt, focal, norm, base_w, use, steps)
        errors = _reprojection(cameras, points, keypoints)
    # A joint still beyond the threshold with min_views left has no agreeing views: unknown, never a guess.
    final_far = np.where(use, errors, -np.inf).max(axis=0) > config.max_reprojection_px
    lost = final_far | (use.sum(axis=0) < config.min_views)
    points[lost] = np.nan
    use[:, lost] = False
    errors = np.where(np.isfinite(keypoints).all(axis=-1) & np.isfinite(errors), errors, np.nan)
    return Triangulation(points=points, used=use, errors=errors, order=order)


_SWAP_PARTS = {
    "arms": ("shoulder", "elbow", "wrist", "pinky", "index", "thumb", "hand"),
    "legs": ("hip", "knee", "ankle", "heel", "toe", "foot"),
    "face": ("eye", "ear", "mouth"),
}


@functools.lru_cache(maxsize=16)  # per layout, asked every instant; callers never modify the arrays
def swap_groups(layout: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The layout's left/right pairs grouped by body part (arms with shoulders, legs with hips, face): each group
    (left indices, right indices) is exchanged as a whole when a view reads the person mirrored."""
    from edge.skeletons import get_layout

    lay = get_layout(layout)
    groups = []
    for words in _SWAP_PARTS.values():
        pairs = [(a, b) for a, b in lay.mirror_pairs if any(w in lay.joints[a] for w in words)]
        if pairs:
            groups.append((np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])))
    return groups


def _permutation(num_joints: int, groups) -> np.ndarray:
    perm = np.arange(num_joints)
    for left, right in groups:
        perm[left], perm[right] = right, left
    return perm


def _fix_swaps(cameras, Rt, focal, norm, base_w, pixels, seen, groups, config) -> np.ndarray:
    """(V, G): which groups of which view to exchange. Each view is compared with the point the other views
    make (corrections so far applied), twice round, so that one mirrored view cannot mislead the rest."""
    V, J = seen.shape
    swapped = np.zeros((V, len(groups)), dtype=bool)
    cap = 4.0 * config.max_reprojection_px  # one wild keypoint must not decide a whole group
    members = np.concatenate([np.concatenate([left, right]) for left, right in groups])
    partners = np.concatenate([np.concatenate([right, left]) for left, right in groups])
    starts = np.cumsum([0] + [2 * len(left) for left, _ in groups])[:-1]
    weight = np.where(seen, base_w, 0.0)
    rows = np.arange(V)[:, None]
    for _ in range(2):
        for v in range(V):
            # Relabelled with every correction so far, this view's included.
            perms = np.stack([_permutation(J, [g for g, on in zip(groups, swapped[u]) if on]) for u in range(V)])
            n, w, ok = norm[rows, perms], base_w[rows, perms], seen[rows, perms]
            others = ok.copy()
            others[v] = False
            proj = cameras[v].project(_fit(cameras, Rt, focal, n, w, others, 0))[members]
            costs = []
            for source in (perms[v][members], perms[v][partners]):  # as read now, and exchanged
                d = np.minimum(np.linalg.norm(pixels[v][source] - proj, axis=1), cap)
                wt = np.where(np.isfinite(d), weight[v][source], 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    costs.append(np.add.reduceat(np.nan_to_num(d) * wt, starts) / np.add.reduceat(wt, starts))
            flip = np.isfinite(costs[0]) & (costs[1] < config.swap_gain * costs[0])
            swapped[v, flip] = ~swapped[v, flip]
    return swapped


def _consensus(cameras, Rt, focal, norm, base_w, pixels, seen, config) -> np.ndarray:
    """Per joint, the views that agree with the best view pair's point (RANSAC over all pairs: few cameras)."""
    V, J = seen.shape
    best_use = seen.copy()
    best_score = np.full(J, -np.inf)
    for a, b in itertools.combinations(range(V), 2):
        pair = np.zeros_like(seen)
        pair[[a, b]] = seen[[a, b]]
        points = _fit(cameras, Rt, focal, norm, base_w, pair, 0)
        errors = _reprojection(cameras, points, pixels)
        inliers = seen & (errors <= config.max_reprojection_px)
        # More agreeing confidence wins; the smaller summed error breaks ties.
        score = np.where(inliers, base_w, 0).sum(axis=0) - 1e-6 * np.where(inliers, errors, 0).sum(axis=0)
        better = (pair.sum(axis=0) == 2) & (inliers.sum(axis=0) >= 2) & (score > best_score)
        best_score[better] = score[better]
        best_use[:, better] = inliers[:, better]
    return best_use


# -- matching people across views ---------------------------------------------------------------------------


def _fundamental(a: Camera, b: Camera) -> np.ndarray:
    """F with x_b^T F x_a = 0 for undistorted pixels of camera a and b."""
    R = b.R @ a.R.T
    t = b.t - R @ a.t
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return np.linalg.inv(b.K).T @ tx @ R @ np.linalg.inv(a.K)


def _epipolar_px(F: np.ndarray, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Symmetric epipolar distance (pixels) of matched undistorted points xa, xb (N, 2)."""
    ha = np.hstack([xa, np.ones((len(xa), 1))])
    hb = np.hstack([xb, np.ones((len(xb), 1))])
    la, lb = ha @ F.T, hb @ F  # lines in b, lines in a
    num = np.abs(np.sum(hb * la, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * (num / np.hypot(la[:, 0], la[:, 1]) + num / np.hypot(lb[:, 0], lb[:, 1]))


@functools.lru_cache(maxsize=16)
def _relabellings(layout: str, fix_swaps: bool) -> list[np.ndarray]:
    """Every way of reading a person mirrored by body part (arms, legs, face: each as read or exchanged), the
    identity first; the identity alone without `fix_swaps`."""
    groups = swap_groups(layout) if fix_swaps else []
    J = len(_layout_joints(layout))
    return [_permutation(J, [g for g, on in zip(groups, pick) if on])
            for pick in itertools.product((False, True), repeat=len(groups))]


def _layout_joints(layout: str) -> tuple[str, ...]:
    from edge.skeletons import get_layout

    return get_layout(layout).joints


def _pair_cost(F, pa: Person, pb: Person, ua: np.ndarray, ub: np.ndarray, perms, config) -> tuple[float, int]:
    """The median symmetric epipolar distance of two people's keypoints confident in both, under the relabelling
    of b that fits best (a view that reads someone mirrored must not make them two people), and which one."""
    best = (np.inf, 0)
    for k, perm in enumerate(perms):
        both = (pa.scores >= config.min_score) & (pb.scores[perm] >= config.min_score)
        both &= np.isfinite(ua).all(axis=1) & np.isfinite(ub[perm]).all(axis=1)
        if both.sum() < config.match_min_joints:
            continue
        cost = float(np.median(_epipolar_px(F, ua[both], ub[perm][both])))
        if cost < best[0]:
            best = (cost, k)
    return best


def match_people(rig: CameraRig, views: dict[str, list[Person]],
                 config: TriangulationConfig = TriangulationConfig()) -> list[dict[str, int]]:
    """Groups of the same person across cameras: each a dict camera name -> index into that camera's list, at most
    one person per camera, two cameras at least. Pairs are joined cheapest first (median symmetric epipolar
    distance of keypoints confident in both, read mirrored by body part where that fits better, below
    `match_max_px`) unless that would put two people of one camera into one group; a person alone in its group is
    left out (one view cannot be triangulated)."""
    return _match(rig, views, config)[0]


def _match(rig: CameraRig, views: dict[str, list[Person]], config: TriangulationConfig) \
        -> tuple[list[dict[str, int]], dict[frozenset, np.ndarray]]:
    """`match_people`'s groups, and for each matched pair of people ({(camera, index), (camera, index)}) the
    relabelling of one of them that fit best (a swap of body parts is its own inverse: either side may take it)."""
    names = [n for n in views if views[n]]
    cams = {n: rig.camera(n) for n in names}
    und = {n: [cams[n].undistort(p.keypoints) for p in views[n]] for n in names}
    perms = {layout: _relabellings(layout, config.fix_swaps) for layout in {p.layout for n in names for p in views[n]}}
    edges, fits = [], {}
    for na, nb in itertools.combinations(names, 2):
        F = _fundamental(cams[na], cams[nb])
        for i, pa in enumerate(views[na]):
            for k, pb in enumerate(views[nb]):
                cost, best = _pair_cost(F, pa, pb, und[na][i], und[nb][k], perms[pa.layout], config)
                if cost <= config.match_max_px:
                    edges.append((cost, (na, i), (nb, k)))
                    fits[frozenset(((na, i), (nb, k)))] = perms[pa.layout][best]
    group_of: dict[tuple[str, int], int] = {}
    groups: list[dict[str, int]] = []
    for _cost, a, b in sorted(edges, key=lambda e: e[0]):
        ga, gb = group_of.get(a), group_of.get(b)
        if ga is not None and ga == gb:
            continue
        sides = [groups[g] if g is not None else {n: i} for g, (n, i) in ((ga, a), (gb, b))]
        if set(sides[0]) & set(sides[1]):
            continue  # would hold two people of one camera
        merged = {**sides[0], **sides[1]}
        target = ga if ga is not None else (gb if gb is not None else len(groups))
        if target == len(groups):
            groups.append({})
        groups[target] = merged
        for other in (ga, gb):
            if other is not None and other != target:
                groups[other] = {}
        for key in merged.items():
            group_of[key] = target
    return [g for g in groups if len(g) >= 2], fits


def triangulate_people(rig: CameraRig, views: dict[str, list[Person]],
                       config: TriangulationConfig = TriangulationConfig()) -> list[Person3D]:
    """Every person seen by at least two cameras, as 3D joints in the rig's world frame. `views`: camera name ->
    the people that camera's estimator found in the same instant (one layout throughout)."""
    unknown = set(views) - set(rig.names)
    if unknown:
        raise InputError(f"no camera {', '.join(sorted(unknown))} in the rig; it has {', '.join(rig.names)}")
    layouts = {p.layout for people in views.values() for p in people}
    if len(layouts) > 1:
        raise InputError(f"every view must use one skeleton layout, got {', '.join(sorted(layouts))}")
    out = []
    groups, fits = _match(rig, views, config)
    for group in groups:
        names = sorted(group, key=rig.names.index)
        people = [views[n][group[n]] for n in names]
        keypoints, scores = np.stack([p.keypoints for p in people]), np.stack([p.scores for p in people])
        # With exactly two views, `triangulate` has no third to tell which reads the person mirrored: the second
        # view's keypoints are relabelled as matching found fits best (left and right may then both be exchanged,
        # but the views agree). Three views or more: `triangulate` corrects them itself.
        second = fits[frozenset(group.items())] if len(names) == 2 else None
        if second is not None:
            keypoints[1], scores[1] = keypoints[1][second], scores[1][second]
        tri = triangulate([rig.camera(n) for n in names], keypoints, scores, config, layout=people[0].layout)
        if second is not None:  # the second view's keypoints were relabelled before `triangulate` saw them
            tri = replace(tri, order=np.stack([tri.order[0], second[tri.order[1]]]))
        sc = np.take_along_axis(np.stack([p.scores for p in people]), tri.order, axis=1)
        with np.errstate(invalid="ignore"):
            mean_score = np.where(tri.used, sc, 0).sum(axis=0) / np.maximum(tri.used.sum(axis=0), 1)
        out.append(Person3D(joints=tri.points, scores=mean_score.astype(np.float32), layout=people[0].layout,
                            views={n: group[n] for n in names},
                            track_ids={n: views[n][group[n]].track_id for n in names}, triangulation=tri))
    return out


__all__ = ["TriangulationConfig", "Triangulation", "Person3D", "triangulate", "match_people", "swap_groups",
           "triangulate_people"]
