"""What a run measures as it goes, for its report: milliseconds per pipeline stage and each person's risk over
time, both in bounded memory so that a months-long run stays flat."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

STAGES = ("wait", "pose", "score", "alerts", "output")


class StageClock:
    """Milliseconds per stage, kept as a bounded reservoir so a months-long run has flat memory."""

    def __init__(self, keep: int = 4096):
        self.samples = {s: np.zeros(keep) for s in STAGES}
        self.count = dict.fromkeys(STAGES, 0)
        self.keep = keep

    def add(self, stage: str, ms: float) -> None:
        self.samples[stage][self.count[stage] % self.keep] = ms
        self.count[stage] += 1

    def summary(self) -> dict:
        out = {}
        for stage in STAGES:
            n = min(self.count[stage], self.keep)
            if n:
                values = self.samples[stage][:n]
                out[stage] = {"median_ms": round(float(np.median(values)), 2),
                              "p90_ms": round(float(np.percentile(values, 90)), 2)}
        return out


class RiskTimeline:
    """Per person, one row per time bin: worst REBA and RULA, peak compression, peak trunk flexion. Bins start at
    0.25 s and double in width whenever a person has more than `max_rows`, so memory stays bounded on long runs."""

    def __init__(self, bin_s: float = 0.25, max_rows: int = 20000):
        self.bin_s = bin_s
        self.max_rows = max_rows
        self.rows: dict[int, dict[int, list[float]]] = defaultdict(dict)

    @staticmethod
    def _merge(row: list[float], values) -> None:
        for i, value in enumerate(values):
            if value == value and not (row[i] == row[i] and row[i] >= value):
                row[i] = float(value)

    def add(self, person: int, t: float, m: dict) -> None:
        rows = self.rows[person]
        row = rows.setdefault(int(math.floor(t / self.bin_s)), [np.nan] * 4)
        self._merge(row, [m.get(k, np.nan) for k in
                          ("reba_total", "rula_grand", "l5s1_compression_n", "trunk_flexion_deg")])
        if len(rows) > self.max_rows:
            self.bin_s *= 2
            for pid, old in list(self.rows.items()):
                merged: dict[int, list[float]] = {}
                for b, values in old.items():
                    self._merge(merged.setdefault(b // 2, [np.nan] * 4), values)
                self.rows[pid] = merged

    def seconds(self) -> dict[int, dict[float, list[float]]]:
        """Rows keyed by bin start time in seconds."""
        return {p: {b * self.bin_s: v for b, v in rows.items()} for p, rows in self.rows.items()}
