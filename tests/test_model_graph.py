"""Skeleton graphs for graph convolutions: bones, hop distances and ST-GCN's spatial partitions."""

import numpy as np
import pytest

from edge.models.graph import adjacency, centre_joint, hop_distances, spatial_partitions
from edge.skeletons import LAYOUTS, get_layout


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_partitions_cover_the_bones_once_and_normalise(name):
    layout = get_layout(name)
    a = adjacency(layout)
    parts = spatial_partitions(layout)
    assert parts.shape == (3, layout.num_joints, layout.num_joints)
    # Every bone in one direction is in exactly one of centripetal or centrifugal; self-loops are partition 0.
    np.testing.assert_array_equal((parts[1] > 0) | (parts[2] > 0), a > 0)
    assert not ((parts[1] > 0) & (parts[2] > 0)).any()
    np.testing.assert_array_equal(np.diag(parts[0]) > 0, np.ones(layout.num_joints, bool))
    # Column-normalised by each joint's degree with its self-loop: the columns of the sum add up to 1.
    np.testing.assert_allclose(parts.sum(axis=(0, 1)), 1.0, rtol=1e-6)


def test_centripetal_points_towards_the_centre():
    layout = get_layout("uwiom15")
    centre = centre_joint(layout)
    assert layout.joints[centre] == "spine_mid"
    dist = hop_distances(adjacency(layout), centre)
    knee, ankle = layout.index("right_knee"), layout.index("right_ankle")
    assert dist[ankle] == dist[knee] + 1
    parts = spatial_partitions(layout)
    # Columns receive: the ankle receives from the knee, nearer the centre (centripetal), and the knee from the
    # ankle, farther (centrifugal).
    assert parts[1][knee, ankle] > 0 and parts[2][ankle, knee] > 0
