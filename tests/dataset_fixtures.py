"""Data set fixtures shared by the tests: files generated in each published layout, byte for byte where the
release fixes the bytes (no data set ships with the project).

UW-IOM as released with the MTL-ERA code (`Data/UW`): 3 videos (float32 poses, one float64 as in the release),
int64 class ids, REBA text files as the release writes them, the release's own `uniquelabelnames.npy` and
`<U2` split files.
"""

import numpy as np

from edge.datasets.synth.example_lift import example_lift_sequence

UW_LENGTHS = {"01": 12, "02": 15, "03": 9}
# Labels/uniquelabelnames.npy as released: <U22, the release's own spellings, sorted, each ending in a newline;
# the file's sha256 (1624 bytes: a .npy 1.0 header and 17 x <U22).
UW_NAMES = (
    "box_bend_pick-up_low\n", "box_bend_place_low\n", "box_stand_pick-up_mid\n", "box_stand_pick-up_top\n",
    "box_stand_place_mid\n", "box_stand_place_top\n", "box_walk_hold_none\n", "none_bend_none_none\n",
    "none_stand_none_none\n", "none_stand_reach_top\n", "none_walk_none_none\n", "rod_bend_pick-up_low\n",
    "rod_bend_place_low\n", "rod_stand_pick-up_mid\n", "rod_stand_pick-up_top\n", "rod_stand_place_mid\n",
    "rod_stand_place_top\n",
)
UW_NAMES_SHA256 = "5eb019e88461bb9b010928443eb01331e966dc265dfc93dc2f957761eadef07e"


def uwiom_release_names():
    return np.array(UW_NAMES, dtype="<U22")


def make_uwiom(base):
    """Data/UW as in the MTL-ERA release: 3 videos, one float64 pose file, the release's uniquelabelnames.npy."""
    uw = base / "Data" / "UW"
    for sub in ("Poses", "Labels/ClassNumber", "RebaScoreFrameWise", "EDTCN/TrainValSplits"):
        (uw / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    truth = {}
    for video, n in UW_LENGTHS.items():
        joints = example_lift_sequence(seconds=n / 10, fps=10, layout="uwiom15", up="z")
        joints = joints.astype(np.float64 if video == "02" else np.float32)
        labels = rng.integers(0, 17, n).astype(np.int64)
        labels[:2] = (0, 16)  # walking, box_walk_hold: the ends of the published order
        reba = rng.integers(1, 8, n).astype(np.float64)
        np.save(uw / "Poses" / f"{video}_pose3d.npy", joints)
        np.save(uw / "Labels" / "ClassNumber" / f"{video}.npy", labels)
        np.savetxt(uw / "RebaScoreFrameWise" / f"{video}.txt", reba, fmt="%.18e")
        truth[video] = (joints, labels, reba)
    np.save(uw / "Labels" / "uniquelabelnames.npy", uwiom_release_names())
    np.save(uw / "EDTCN" / "TrainValSplits" / "train.npy", np.array(["03", "01"], dtype="<U2"))
    np.save(uw / "EDTCN" / "TrainValSplits" / "val.npy", np.array(["02"], dtype="<U2"))
    return uw, truth
