"""What a run measures as it goes, for its report: milliseconds per pipeline stage, each person's risk over time
and the alert events, all in bounded memory so that a months-long run stays flat."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

STAGES = ("wait", "pose", "score", "alerts", "output")
TIMELINE_COLUMNS = ("reba_total", "rula_grand", "l5s1_compression_n", "trunk_flexion_deg")


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
    """Per person, one row per time bin: worst REBA and RULA, peak compression, peak trunk flexion.

    Bounded for long runs in two ways. People: at most `max_people` are kept, those seen most recently; a person
    pushed out is folded into one "left" series (per bin, the worst of everyone who left), so the report still
    shows when risk happened, and `people_left` counts them. Rows: bins start at `bin_s` and double in width
    whenever all series together hold more than `max_rows` rows.
    """

    def __init__(self, bin_s: float = 0.25, max_rows: int = 20000, max_people: int = 8):
        self.bin_s = bin_s
        self.max_rows = max_rows
        self.max_people = max_people
        self.rows: dict[int, dict[int, list[float]]] = {}
        self.left: dict[int, list[float]] = {}
        self.people_left = 0
        self._seen: dict[int, float] = {}  # person -> last time added, to pick who is pushed out
        self._count = 0  # rows in every series, `left` included

    @staticmethod
    def _merge(row: list[float], values) -> None:
        for i, value in enumerate(values):
            # Unknown (None or NaN, as the alert engine reads them) never replaces a known value.
            if value is not None and value == value and not (row[i] == row[i] and row[i] >= value):
                row[i] = float(value)

    def _merge_series(self, into: dict[int, list[float]], series: dict[int, list[float]], shift: int = 0) -> None:
        for b, values in series.items():
            row = into.get(b >> shift)
            if row is None:
                row = into[b >> shift] = [np.nan] * len(TIMELINE_COLUMNS)
                self._count += 1
            self._merge(row, values)

    def add(self, person: int, t: float, m: dict) -> None:
        rows = self.rows.get(person)
        if rows is None:
            if len(self.rows) >= self.max_people:
                self._push_out(min(self.rows, key=self._seen.__getitem__))
            rows = self.rows[person] = {}
        self._seen[person] = t
        self._merge_series(rows, {int(math.floor(t / self.bin_s)): [m.get(k, np.nan) for k in TIMELINE_COLUMNS]})
        if self._count > self.max_rows:
            self._coarsen()

    def _push_out(self, person: int) -> None:
        rows = self.rows.pop(person)
        del self._seen[person]
        self._count -= len(rows)
        self._merge_series(self.left, rows)
        self.people_left += 1

    def _coarsen(self) -> None:
        """Double the bin width: every series' rows merge pairwise."""
        self.bin_s *= 2
        self._count = 0
        for pid, old in list(self.rows.items()):
            self.rows[pid] = {}
            self._merge_series(self.rows[pid], old, shift=1)
        old, self.left = self.left, {}
        self._merge_series(self.left, old, shift=1)

    def seconds(self) -> dict[int, dict[float, list[float]]]:
        """Rows keyed by bin start time in seconds."""
        return {p: {b * self.bin_s: v for b, v in rows.items()} for p, rows in self.rows.items()}

    def to_json(self) -> dict:
        """The report's "timeline": per person (and for everyone who left) rows of bin start and the maxima."""

        def table(rows: dict[int, list[float]]) -> list[list]:
            return [[round(b * self.bin_s, 3), *[None if v != v else round(v, 1) for v in rows[b]]]
                    for b in sorted(rows)]

        return {"bin_s": self.bin_s,
                "columns": ["start_s", "reba_max", "rula_max", "l5s1_compression_max_n", "trunk_flexion_max_deg"],
                "people": {str(p): table(self.rows[p]) for p in sorted(self.rows)},
                "left": {"people": self.people_left, "rows": table(self.left)}}


class EventLog:
    """The run's alert events for its report: the most recent `keep` in full, and counts of all of them per kind
    and rule. The report needs no more: every event is also in alerts.jsonl and the event store."""

    def __init__(self, keep: int = 200):
        self.recent: deque[dict] = deque(maxlen=keep)
        self.total = 0
        self.counts: dict[str, dict[str, int]] = {"raised": {}, "cleared": {}}

    def append(self, event: dict) -> None:
        self.recent.append(event)
        self.total += 1
        per_rule = self.counts.setdefault(event["kind"], {})
        per_rule[event["rule"]] = per_rule.get(event["rule"], 0) + 1

    def summary(self) -> dict:
        """{"total", "kept" (how many of the latest are in the report), and per kind {rule: count}}."""
        return {"total": self.total, "kept": len(self.recent),
                **{kind: dict(sorted(rules.items())) for kind, rules in self.counts.items()}}
