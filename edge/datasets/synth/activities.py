"""The activity vocabulary of synthetic recordings and the grammar that orders activities.

A recording is a Markov chain over `ACTIVITIES` that starts at `FIRST_ACTIVITY`; `GRAMMAR` holds the relative
weights of the next activity (reweighted per person in `edge/datasets/synth/motion.py`). The label ids stored in
every sequence are indices into `ACTIVITIES`, so its order is part of the data format.
"""

from __future__ import annotations

ACTIVITIES: tuple[str, ...] = (
    "walk", "stand", "reach_overhead", "stoop_lift", "squat_lift", "carry", "place_low", "place_mid", "place_high",
    "twist", "kneel", "push_pull",
)

# Relative weights of the next activity. Lifts lead to a carry or a placement, a carry to a placement; empty
# hands lead anywhere else. Self-loops are left out: a repeated activity is one longer segment.
_AFTER_PLACING = {"stand": 2.0, "walk": 3.0, "stoop_lift": 1.5, "squat_lift": 1.0, "twist": 1.0, "kneel": 0.5,
                  "reach_overhead": 0.5, "push_pull": 0.5}
GRAMMAR: dict[str, dict[str, float]] = {
    "stand": {"walk": 3.0, "stoop_lift": 1.5, "squat_lift": 1.0, "reach_overhead": 1.0, "twist": 1.2, "kneel": 0.8,
              "push_pull": 0.8},
    "walk": {"stand": 1.5, "stoop_lift": 2.0, "squat_lift": 1.5, "reach_overhead": 1.2, "twist": 1.0, "kneel": 1.0,
             "push_pull": 0.8},
    "stoop_lift": {"carry": 5.0, "place_mid": 2.0, "place_high": 1.5, "place_low": 1.0},
    "squat_lift": {"carry": 5.0, "place_mid": 2.0, "place_high": 1.5, "place_low": 1.0},
    "carry": {"place_mid": 3.0, "place_low": 3.0, "place_high": 2.0},
    "place_low": dict(_AFTER_PLACING),
    "place_mid": dict(_AFTER_PLACING),
    "place_high": dict(_AFTER_PLACING, reach_overhead=1.0),
    "reach_overhead": {"stand": 2.0, "walk": 2.0, "twist": 1.0, "stoop_lift": 1.0, "kneel": 1.0, "push_pull": 0.5},
    "twist": {"stand": 2.0, "walk": 2.0, "stoop_lift": 1.0, "squat_lift": 1.0, "reach_overhead": 1.0,
              "push_pull": 0.5},
    "kneel": {"stand": 3.0, "walk": 3.0, "stoop_lift": 1.0, "twist": 1.0, "push_pull": 0.5},
    "push_pull": {"stand": 3.0, "walk": 2.0, "stoop_lift": 1.0, "squat_lift": 1.0},
}
FIRST_ACTIVITY = "stand"

# Heavy items come off low pallets and out of bins: those lifts are more often twisted (asymmetric). They give
# the highest REBA scores (trunk > 60 deg and twisted, load > 10 kg, rapid change), so the first stoop lift of
# every recording is such an awkward heavy lift, and every work cell has one item above this mass: short
# recordings still reach the top of the REBA range.
HEAVY_KG = 10.0

__all__ = ["ACTIVITIES", "FIRST_ACTIVITY", "GRAMMAR", "HEAVY_KG"]
