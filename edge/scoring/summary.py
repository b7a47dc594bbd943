"""The summary of a scored recording: time in each REBA risk level and RULA action level, peaks, the riskiest
episodes (REBA at or above `ScoreConfig.high_risk_reba`, compression over the NIOSH action limit), and which
worksheet items could not be observed. `SummaryBuilder` makes it a block of frames at a time, so that a long
recording scored in parts (`edge.scoring.chunked`) is summarised as it goes; `summarise` makes it from whole
columns."""

from __future__ import annotations

import dataclasses

import numpy as np

from edge.ergonomics.l5s1 import COMPRESSION_LIMIT_N
from edge.ergonomics.reba import risk_bands
from edge.scoring.methods import ScoreConfig
from edge.signals import true_runs
from edge.skeletons import Layout, neck_is_derived

# Which angle, when unknown, makes which worksheet item unobserved.
OBSERVED_BY = {
    "trunk": "trunk_flexion_deg", "trunk_twist": "trunk_twist_deg", "trunk_side_bend": "trunk_side_bend_deg",
    "neck": "neck_flexion_deg", "neck_twist": "neck_twist_deg", "neck_side_bend": "neck_side_bend_deg",
    **{
        f"{item}_{side}": f"{side}_{angle}"
        for side in ("left", "right")
        for item, angle in (
            ("upper_arm", "upper_arm_flexion_deg"), ("abduction", "upper_arm_abduction_deg"),
            ("shoulder_raise", "shoulder_raise_deg"), ("lower_arm", "elbow_flexion_deg"),
            ("wrist", "wrist_flexion_deg"), ("wrist_deviation", "wrist_deviation_deg"),
            ("knee", "knee_flexion_deg"),
        )
    },
    "support": "foot_height_difference_m",
}


def unobserved_items(angles: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
    """Per frame, the worksheet items that could not be observed, ';'-joined (built once per distinct pattern)."""
    names = list(OBSERVED_BY)
    missing = np.stack([np.isnan(angles[OBSERVED_BY[n]]) for n in names], axis=1)
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    labels = np.array([";".join(n for n, m in zip(names, row) if m) for row in patterns], dtype=object)
    return labels[inverse.reshape(-1)] if num_frames else np.array([], dtype=object)


class _Peak:
    """The largest known value of a column and its time; the first frame of it on a tie, as np.nanargmax."""

    def __init__(self):
        self.value = self.time_s = None

    def add(self, values: np.ndarray, time_s: np.ndarray) -> None:
        if np.isfinite(values).any():
            i = int(np.nanargmax(values))
            if self.value is None or values[i] > self.value:
                self.value, self.time_s = float(values[i]), float(time_s[i])

    def result(self) -> dict | None:
        return None if self.value is None else {"value": round(self.value, 3), "time_s": round(self.time_s, 3)}


class _Episodes:
    """Runs of frames over a threshold, runs less than `merge_gap_s` apart merged into one episode, fed a block of
    frames at a time (an episode may span blocks); keeps the `keep` riskiest: highest peak, then longest, then
    earliest."""

    def __init__(self, fps: float, keep: int = 5, merge_gap_s: float = 1.0):
        self.fps, self.keep, self.merge_gap_s = fps, keep, merge_gap_s
        self.open: list | None = None  # [start, end_exclusive, peak, peak_frame]
        self.found: list[dict] = []

    def add(self, mask: np.ndarray, values: np.ndarray, first_frame: int) -> None:
        for s, e in true_runs(mask):
            part = values[s:e]
            peak, peak_frame = -np.inf, first_frame + s  # a run of unknown values (high_risk_reba <= 0)
            if np.isfinite(part).any():
                peak, peak_frame = float(np.nanmax(part)), first_frame + s + int(np.nanargmax(part))
            s, e = first_frame + s, first_frame + e
            if self.open and (s - self.open[1]) < self.merge_gap_s * self.fps:
                self.open[1] = e
                if peak > self.open[2]:
                    self.open[2:] = [peak, peak_frame]
            else:
                self._close()
                self.open = [s, e, peak, peak_frame]

    def _close(self) -> None:
        if self.open is None:
            return
        s, e, peak, peak_frame = self.open
        dt = 1.0 / self.fps
        self.found.append({
            "start_s": round(float(s / self.fps), 3), "end_s": round(float((e - 1) / self.fps + dt), 3),
            "duration_s": round((e - s) * dt, 3), "peak": round(peak, 1),
            "peak_time_s": round(peak_frame / self.fps, 3),
        })
        # Riskiest first: a long episode near its peak outranks a short spike of the same height (a stable sort
        # keeps the earlier of equals).
        self.found.sort(key=lambda ep: (ep["peak"], ep["duration_s"]), reverse=True)
        del self.found[self.keep:]
        self.open = None

    def result(self) -> list[dict]:
        self._close()
        return list(self.found)


class SummaryBuilder:
    """The summary of a recording's per-frame columns, fed in blocks of consecutive frames (`add`) and made at the
    end (`result`): what `summary.json` holds. Only counts, sums, peaks and the open episode are kept."""

    def __init__(self, fps: float, layout: Layout, cfg: ScoreConfig):
        self.fps, self.layout, self.cfg = fps, layout, cfg
        self.frames = 0
        self.counts: dict[str, int] = {}
        self.reba_sum, self.reba_known = 0.0, 0
        self.peaks = {name: _Peak() for name in _PEAK_COLUMNS}
        self.episodes = {"reba_high": _Episodes(fps), "l5s1_compression_over_limit": _Episodes(fps)}

    def _count(self, name: str, mask: np.ndarray) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(np.count_nonzero(mask))

    def add(self, c: dict[str, np.ndarray]) -> None:
        t = c["time_s"]
        reba, rula, comp = c["reba_total"], c["rula_grand"], c["l5s1_compression_n"]
        reba_or_0, comp_or_0 = np.nan_to_num(reba, nan=0.0), np.nan_to_num(comp, nan=0.0)  # unknown is never a risk
        for band in risk_bands():
            self._count(f"reba {band.name}", (reba >= band.low) & (reba <= band.high))
        self._count("reba unscored", np.isnan(reba))
        for level in (1, 2, 3, 4):
            self._count(f"rula {level}", c["rula_action_level"] == level)
        self._count("rula unscored", np.isnan(rula))
        self._count("reba high or above", reba_or_0 >= 8)
        self._count("compression over limit", comp_or_0 > COMPRESSION_LIMIT_N)
        for item, angle in OBSERVED_BY.items():
            self._count(f"unobserved {item}", np.isnan(c[angle]))
        known = reba[np.isfinite(reba)]
        self.reba_sum += float(known.sum())  # whole numbers: the sum is exact in any order of blocks
        self.reba_known += known.size
        for name, peak in self.peaks.items():
            peak.add(c[name], t)
        self.episodes["reba_high"].add(reba_or_0 >= self.cfg.high_risk_reba, reba, self.frames)
        self.episodes["l5s1_compression_over_limit"].add(comp_or_0 > COMPRESSION_LIMIT_N, comp, self.frames)
        self.frames += len(t)

    def result(self) -> dict:
        n, cfg, layout = self.frames, self.cfg, self.layout
        dt = 1.0 / self.fps

        def seconds(name: str) -> float:
            return round(float(self.counts.get(name, 0)) * dt, 3)

        reba_time = {band.name: seconds(f"reba {band.name}") for band in risk_bands()}
        reba_time["unscored"] = seconds("reba unscored")
        rula_time = {str(level): seconds(f"rula {level}") for level in (1, 2, 3, 4)}
        rula_time["unscored"] = seconds("rula unscored")
        unobserved = {}
        for item in OBSERVED_BY:
            frac = self.counts.get(f"unobserved {item}", 0) / n if n else 0.0
            if frac > 0:
                unobserved[item] = round(frac, 4)
        notes = []
        if neck_is_derived(layout):
            notes.append(f"{layout.name} has no neck joint: shoulder raise is measured one-sided only")
        peak = {name: p.result() for name, p in self.peaks.items()}
        return {
            "frames": n,
            "fps": self.fps,
            "duration_s": round(n * dt, 3),
            "layout": layout.name,
            "reba": {
                "time_s_by_risk": reba_time,
                "mean": round(self.reba_sum / self.reba_known, 3) if self.reba_known else None,
                "peak": peak["reba_total"],
                "time_s_high_or_above": seconds("reba high or above"),
            },
            "rula": {
                "time_s_by_action_level": rula_time,
                "peak": peak["rula_grand"],
            },
            "l5s1": {
                "peak_moment_nm": peak["l5s1_moment_nm"],
                "peak_extension_moment_nm": peak["l5s1_moment_extension_nm"],
                "peak_compression_n": peak["l5s1_compression_n"],
                "compression_limit_n": COMPRESSION_LIMIT_N,
                "time_s_over_limit": seconds("compression over limit"),
            },
            "peak_trunk_flexion_deg": peak["trunk_flexion_deg"],
            "riskiest_episodes": {kind: episodes.result() for kind, episodes in self.episodes.items()},
            "unobserved_fraction": unobserved,
            "notes": notes,
            "config": dataclasses.asdict(cfg),
        }


# Columns whose largest value and its time the summary reports.
_PEAK_COLUMNS = ("reba_total", "rula_grand", "l5s1_moment_nm", "l5s1_moment_extension_nm", "l5s1_compression_n",
                 "trunk_flexion_deg")


def summarise(c: dict[str, np.ndarray], fps: float, layout: Layout, cfg: ScoreConfig) -> dict:
    """The summary of the per-frame columns `c` of a whole recording at `fps` (what `summary.json` holds)."""
    builder = SummaryBuilder(fps, layout, cfg)
    builder.add(c)
    return builder.result()
