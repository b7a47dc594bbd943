"""Skeleton graphs for graph convolutions, from a layout's bones (`edge.skeletons`).

`spatial_partitions(layout)` is the spatial configuration partitioning of ST-GCN (Yan et al., AAAI 2018), which the
WACV 2021 multi-task model and the dual-stream STGCN use: three normalised adjacency matrices, for each joint itself,
its neighbours nearer the body's centre (centripetal) and its neighbours farther from it (centrifugal). Distances
are hops along the bones from the centre joint.
"""

from __future__ import annotations

import numpy as np

from edge.skeletons import Layout, get_layout

# The joint a layout's graph is centred on: the first of these the layout has, else joint 0.
CENTRE_JOINTS = ("spine_mid", "pelvis", "mid_hip", "neck")


def adjacency(layout: Layout | str) -> np.ndarray:
    """(J, J) 0/1 matrix of the layout's bones, symmetric, without self-loops."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    a = np.zeros((layout.num_joints, layout.num_joints), dtype=np.float32)
    for i, j in layout.edges:
        a[i, j] = a[j, i] = 1.0
    return a


def hop_distances(a: np.ndarray, source: int) -> np.ndarray:
    """Hops along the bones from `source` to every joint (inf where unreachable)."""
    dist = np.full(a.shape[0], np.inf)
    dist[source] = 0
    frontier = [source]
    while frontier:
        nxt = []
        for i in frontier:
            for j in np.flatnonzero(a[i]):
                if dist[j] == np.inf:
                    dist[j] = dist[i] + 1
                    nxt.append(j)
        frontier = nxt
    return dist


def centre_joint(layout: Layout) -> int:
    return next((layout.index(name) for name in CENTRE_JOINTS if name in layout.joints), 0)


def spatial_partitions(layout: Layout | str) -> np.ndarray:
    """(3, J, J) float32: self, centripetal and centrifugal neighbours, as ST-GCN applies them (features (.., J)
    times A: column j is the joint that receives, row i the neighbour it receives from). Entry [i, j] of partition
    1 is a neighbour i nearer the centre than j, of partition 2 one farther; each column is divided by joint j's
    degree with its self-loop (A D^-1), so that a graph convolution averages over j's neighbourhood."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    a = adjacency(layout)
    dist = hop_distances(a, centre_joint(layout))
    n = layout.num_joints
    parts = np.zeros((3, n, n), dtype=np.float32)
    parts[0] = np.eye(n, dtype=np.float32)
    for i, j in zip(*np.nonzero(a)):  # j receives from i
        parts[1 if dist[i] < dist[j] else 2][i, j] = 1.0
    degree = (a + np.eye(n)).sum(axis=0)
    return (parts / degree[None, None, :]).astype(np.float32)
