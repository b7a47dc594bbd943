"""`ergoedge report`: the ergonomist's report of a past period, from the event store alone.

`make_report(ReportSpec(...), out_dir)` (`runtime.shift_report.make`) is the one entry point. It opens the store
read-only (`EventReader`: nothing in or beside the file changes, so the store of a running device or a read-only
copy both serve), takes the shifts that began in [since, until) (of one camera, or every camera), and writes to
`out_dir`:

- `report.html`: self-contained (charts and thumbnails inline as data URIs, no external asset), sections: what to
  do (the published action levels against the time spent in each), per day, per shift, per person track, the body
  parts that drive the scores, lifts and NIOSH lifting indices, the worst episodes with their skeleton thumbnails,
  trends across the days (a chart per metric), and the action levels as published (`html`);
- `report.pdf`: the same content on A4 pages (`pdf`, fpdf2);
- `exposure_tracks.csv`, `exposure_shifts.csv`, `exposure_days.csv`: the exposure tables for a spreadsheet (one
  row per shift and person track, per shift, per day), and `episodes.csv`.

Days are the local dates the shifts began on (a night shift belongs to the day it started). Times given without a
UTC offset are UTC, as everywhere in the runtime. The run writes what this needs as it goes
(`runtime.alerts.exposure`): shifts, exposure per shift and person track, episodes and lifts. A store from before
schema version 2 has exposure without shift bounds, RULA levels, body parts, lifts or episodes: its shifts are
placed by their names in this machine's time zone, and what is missing is shown as not recorded.
"""
