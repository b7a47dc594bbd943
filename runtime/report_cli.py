"""`ergoedge report`: the ergonomist's report of a past period from the event store (`runtime.shift_report`),
added to the runtime's subcommands by runtime/cli.py."""

from __future__ import annotations

from pathlib import Path


def add_commands(sub) -> None:
    """Add `report` to the `ergoedge` subparsers `sub`."""
    p = sub.add_parser("report", help="the ergonomist's report of a past period (HTML, PDF, CSV) from the event "
                                      "store: exposure per shift, day and person, body parts, lifts, NIOSH, "
                                      "worst episodes, trends and the published action levels")
    p.add_argument("--events-db", help="the event store `ergoedge run` wrote (default "
                                       "~/.local/share/ergo-edge/events.db); read only, never changed")
    p.add_argument("--since", required=True, help="ISO time: shifts beginning at or after it (UTC unless it has "
                                                  "an offset), e.g. 2026-11-16T00:00")
    p.add_argument("--until", required=True, help="ISO time: shifts beginning before it")
    p.add_argument("--camera", help="only this camera (default: every camera in the store)")
    p.add_argument("--out", required=True, help="directory for report.html, report.pdf and the CSV tables")
    p.set_defaults(func=_report)


def _report(args) -> int:
    from edge.paths import user_dir
    from runtime.shift_report.data import ReportSpec
    from runtime.shift_report.make import make_report

    db = Path(args.events_db) if args.events_db else user_dir("data") / "events.db"
    files = make_report(ReportSpec(events_db=db, since=args.since, until=args.until, camera=args.camera), args.out)
    for kind, path in files.items():
        print(f"  {kind}: {path}")
    return 0
