"""The device runtime's subcommands: `ergoedge run`, `ergoedge events` and `ergoedge doctor` (wired into the one
`ergoedge` by `edge/cli.py`). Each parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.errors import InputError
from runtime.report_cli import add_commands as add_report_command


def add_commands(sub) -> None:
    """Add `run`, `events`, `doctor`, `bench`, `dashboard` and `report` to the `ergoedge` subparsers `sub`."""
    _add_run(sub)
    _add_events(sub)
    _add_doctor(sub)
    _add_bench(sub)
    _add_dashboard(sub)
    add_report_command(sub)


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="measure the configured models on a clip: per-stage latency and fps for 1 to "
                       "N people, and the run end to end; writes bench.json and bench.md")
    p.add_argument("--source", required=True, help="a video file with a person in view")
    p.add_argument("--config", help="the run config whose models, backends and precision to measure")
    p.add_argument("--people", default="1,2,4", help="person counts, comma-separated (default 1,2,4; at most 16)")
    p.add_argument("--frames", type=int, default=150, help="frames of the clip each measurement uses (default 150)")
    p.add_argument("--models-dir")
    p.add_argument("--out", required=True, help="directory for the report")
    p.set_defaults(func=_bench)


def _bench(args) -> int:
    from edge.config import with_overrides
    from runtime.bench import BenchSpec, bench
    from runtime.config import load_config

    try:
        people = tuple(int(n) for n in args.people.split(","))
    except ValueError:
        raise InputError(f"--people: comma-separated whole numbers, e.g. 1,2,4; got {args.people!r}") from None
    config = with_overrides(load_config(args.config), **{"pose.models_dir": args.models_dir})
    result = bench(config, args.source, args.out, BenchSpec(people=people, frames=args.frames))
    print(f"end to end: {result['end_to_end']['fps']:.1f} fps over {result['end_to_end']['frames']} frames")
    for row in result["per_people"]:
        print(f"  {row['people']} people: {row['frame_ms']:.1f} ms per frame, {row['fps']} fps (stage sum)")
    print(f"  report: {Path(args.out) / 'bench.md'}")
    return 0


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="watch a camera or video: pose, risk and alerts, live")
    p.add_argument("--source", action="append", help="csi://0, v4l2:///dev/video0, rtsp://..., file path, or "
                   "test:// (a camera password belongs in --config: any local user can read a command line); with "
                   "--rig, once per camera as NAME=URI")
    p.add_argument("--rig", metavar="CALIBRATION", help="several cameras: the rig's camera file (`ergoedge "
                   "calibrate-cameras`), with --source NAME=URI for each camera of it")
    p.add_argument("--config", help="TOML file with changes from the defaults (see runtime/config.py)")
    p.add_argument("--out", help="directory for the report and the alert log (default: a new one under "
                                 "~/.local/share/ergo-edge/runs)")
    p.add_argument("--record", help="write the annotated video to this .mp4 (no frame is stored otherwise)")
    p.add_argument("--show", action="store_true", help="show the annotated video on the device's display")
    p.add_argument("--rtsp-port", type=int, help="serve the annotated video over RTSP on this port")
    p.add_argument("--rtsp-address", help="address the RTSP output listens on (default 127.0.0.1, this machine "
                                          "only; any other needs output.rtsp_user and rtsp_password in --config)")
    p.add_argument("--privacy", metavar="silhouette|face-blur|none",
                   help="what every output shows of a person: face-blur (the default), silhouette (each person "
                        "one flat colour, from the pose model's segmentation) or none")
    p.add_argument("--face-blur", action=argparse.BooleanOptionalAction, default=None,
                   help="the older spelling of --privacy face-blur (--no-face-blur: --privacy none)")
    p.add_argument("--camera", help="camera name (scene calibration, events); default from the source")
    p.add_argument("--scene-dir", help="where scene calibrations live")
    p.add_argument("--max-people", type=int)
    p.add_argument("--models-dir")
    p.add_argument("--max-seconds", type=float, help="stop after this much stream time (seconds, above 0)")
    p.add_argument("--events-db", help="SQLite event store (default ~/.local/share/ergo-edge/events.db)")
    p.add_argument("--dashboard", metavar="[ADDR:]PORT",
                   help="serve the live dashboard on this port (address default 127.0.0.1, this machine only; any "
                        "other needs dashboard.password_hash in --config: `ergoedge dashboard set-password`)")
    p.add_argument("--list-metrics", action="store_true",
                   help="print every metric an alert rule may name, with its range, and exit")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from datetime import datetime

    from edge.config import with_overrides
    from edge.paths import user_dir
    from runtime.config import load_config
    from runtime.session import run

    if args.list_metrics:
        from edge.scoring.stream import describe_range, metric_ranges

        print("\n".join(f"{name:<28} {describe_range(*span)}" for name, span in metric_ranges().items()))
        return 0
    config = with_overrides(
        load_config(args.config), camera=args.camera, scene_dir=args.scene_dir, max_seconds=args.max_seconds,
        **_source_overrides(args.source, args.rig),
        **{"pose.max_people": args.max_people, "pose.models_dir": args.models_dir,
           "output.record": args.record, "output.show": True if args.show else None,
           "output.rtsp_port": args.rtsp_port, "output.rtsp_address": args.rtsp_address,
           "output.privacy": _privacy_option(args.privacy, args.face_blur),
           "sinks.sqlite": args.events_db, **_dashboard_overrides(args.dashboard)})
    # --out "" is refused by the session (edge.paths.output_dir), never the working directory nor the default.
    out = args.out if args.out is not None else user_dir("data") / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    report = run(config, out, status=sys.stderr, config_file=args.config)  # stderr as it is now, not at import
    print(f"{report['frames']} frames in {report['wall_seconds']:.1f} s ({report['fps']:.1f} fps), "
          f"{sum(report['alert_counts']['raised'].values())} alert(s) raised")
    for key in ("html", "json", "png"):
        print(f"  report: {report['files'][key]}")
    if config.sinks.jsonl and (Path(out) / "alerts.jsonl").exists():
        print(f"  alert log: {Path(out) / 'alerts.jsonl'}")
    failed = [o for o in report["outputs"] if not o["ok"]]
    if config.output.record and Path(config.output.record).expanduser().is_file() \
            and not any(o["output"] == "recording" for o in failed):
        print(f"  annotated video: {config.output.record}")
    for o in failed:  # the run went on without it; the report says so too
        print(f"ergoedge: error: {o['output']} {o['target']}: {o['error']} (see {report['files']['json']})",
              file=sys.stderr)
    return 1 if failed else 0


def _source_overrides(sources: list[str] | None, rig: str | None) -> dict:
    """--source (one camera) or --rig with --source NAME=URI per camera, as config overrides."""
    if rig is None:
        if sources and len(sources) > 1:
            raise InputError("several --source need --rig CALIBRATION (and NAME=URI for each camera)")
        return {"source.uri": sources[0] if sources else None}
    named = {}
    for item in sources or []:
        name, sep, uri = item.partition("=")
        if not sep or not name or not uri or "://" in name:
            raise InputError(f"--source {item!r}: with --rig, give NAME=URI (a camera name of the rig)")
        if name in named:
            raise InputError(f"--source names camera {name} twice")
        named[name] = uri
    return {"rig.calibration": rig, "rig.sources": named or None}


def _privacy_option(privacy: str | None, face_blur: bool | None) -> str | None:
    """--privacy, or the mode --face-blur/--no-face-blur stands for; None when neither was given."""
    if face_blur is None:
        return privacy
    legacy = "face-blur" if face_blur else "none"
    if privacy is not None and privacy != legacy:
        raise InputError(f"--privacy {privacy} and --{'' if face_blur else 'no-'}face-blur contradict each other: "
                         "give --privacy alone")
    return legacy


def _add_events(sub) -> None:
    p = sub.add_parser("events", help="list alert events from the device's event store")
    p.add_argument("--db", help="default ~/.local/share/ergo-edge/events.db")
    p.add_argument("--since", help="ISO time, e.g. 2026-11-22T06:00")
    p.add_argument("--until")
    p.add_argument("--rule")
    p.add_argument("--person", type=int)
    p.add_argument("--camera")
    p.add_argument("--limit", type=int, default=1000,
                   help="list the newest N events, 1 to 100000 (default 1000; older ones: --until)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=_events)


def _events(args) -> int:
    from edge.config import check_number
    from edge.paths import user_dir
    from runtime.alerts.store import MAX_LIMIT, EventReader, format_events

    db = Path(args.db) if args.db else user_dir("data") / "events.db"
    if not db.exists():
        raise InputError(f"no event store at {db} (it is created by `ergoedge run`)")
    limit = check_number(args.limit, "--limit", integer=True, minimum=1, maximum=MAX_LIMIT)
    if args.person is not None:
        check_number(args.person, "--person", integer=True, minimum=0, maximum=2**63 - 1)
    with EventReader(db) as reader:  # read-only: the file, its journal mode and its directory stay as they are
        rows = reader.query(since=args.since, until=args.until, rule=args.rule, person=args.person,
                            camera=args.camera, limit=limit)
    print(format_events(rows, as_json=args.json))
    return 0


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine for running ergo-edge: what is wrong and how to fix it")
    p.add_argument("--config", help="the run config to check (default /etc/ergo-edge/run.toml when it exists)")
    p.add_argument("--models-dir", help="default: the config's, else $ERGOEDGE_MODELS or the user cache")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(func=_doctor)


def _doctor(args) -> int:
    from runtime.doctor import FAIL, format_checks, run_checks

    checks = run_checks(args.config, args.models_dir)
    print(format_checks(checks, as_json=args.json))
    return 1 if any(c.status == FAIL for c in checks) else 0


def _dashboard_overrides(listen: str | None) -> dict:
    from runtime.dashboard.config import parse_listen

    if listen is None:
        return {}
    address, port = parse_listen(listen)
    return {"dashboard.port": port, "dashboard.address": address}


def _add_dashboard(sub) -> None:
    p = sub.add_parser("dashboard", help="the live dashboard's login (`ergoedge run --dashboard`)")
    commands = p.add_subparsers(dest="dashboard_command", metavar="COMMAND")
    commands.required = True
    s = commands.add_parser("set-password", help="hash a dashboard password (read without echo) and write it into "
                            "--config's [dashboard] table, or print the line")
    s.add_argument("--stdin", action="store_true", help="read the password from the first line of standard input")
    s.add_argument("--config", help="the run config to write dashboard.password_hash into (else it is printed)")
    s.set_defaults(func=_set_password)


def _set_password(args) -> int:
    from runtime.dashboard.password import set_password

    set_password(args.config, args.stdin)
    return 0
