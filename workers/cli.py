"""The ``claimdesk`` command (SPEC §9). Thin: parse, read settings once, call one function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.errors import ConfigError
from infra.settings import Settings, load_settings
from workers.cli_help import apply_help

log = logging.getLogger("claimdesk")


def _setup_logging(settings: Settings) -> None:
    from workers.console import setup_logging

    setup_logging(settings.log_level, settings.log_format)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply pending SQL migrations."""
    from infra.db import migrate
    from workers.bootstrap import connections

    with connections(settings) as s:
        applied = migrate(s.dsn())
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_topics_create(settings: Settings, args: argparse.Namespace) -> int:
    """Create every topic (idempotent)."""
    from infra.kafka import create_topics, wait_for_broker
    from topics import TopicNames
    from workers.bootstrap import connections

    with connections(settings) as s:
        wait_for_broker(s.bootstrap())
        created = create_topics(s.bootstrap(), TopicNames(s.topic_prefix))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run consumers, sweeper, monitor and relay in this process."""
    from infra.db import migrate
    from infra.kafka import create_topics, wait_for_broker
    from topics import TopicNames
    from workers.bootstrap import connections, run_worker

    with connections(settings) as s:
        if settings.embedded:
            migrate(s.dsn())
            wait_for_broker(s.bootstrap())
            create_topics(s.bootstrap(), TopicNames(s.topic_prefix))
        else:
            wait_for_broker(s.bootstrap(), deadline_s=float("inf"))
        run_worker(s, embedded=settings.embedded)
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Everything on one machine: embedded stack, migrations, topics, worker, simulator."""
    from datetime import timedelta

    from workers.rules.policy import parse_duration
    from workers.up import run_up

    try:
        history = timedelta(0) if args.history.strip() == "0" else parse_duration(args.history)
    except ValueError as exc:
        print(f"claimdesk up: --history: {exc}", file=sys.stderr)
        return 2
    return run_up(settings, rate=args.rate, surge=args.surge, history=history,
                  bursts=args.bursts)


def cmd_dlt_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Re-validate dead letters and re-publish the valid ones."""
    from workers.bootstrap import connections
    from workers.dlt import replay_dlt

    with connections(settings) as s:
        report = replay_dlt(s, args.topic)
    print(report)
    return 0


def cmd_schemas_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write JSON Schema files for upstream teams."""
    from schemas.export import export_json_schemas

    for path in export_json_schemas(Path(args.dir)):
        print(path)
    return 0


def cmd_schemas_asyncapi(settings: Settings, args: argparse.Namespace) -> int:
    """Write (or with --check, verify) the AsyncAPI 3.0 document of every topic."""
    from workers.asyncapi import DEFAULT_PATH, render, write

    path = Path(args.out) if args.out else DEFAULT_PATH
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != render():
            print(f"{path} is stale: run `claimdesk schemas asyncapi`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    print(write(path))
    return 0


def cmd_cat_declare(settings: Settings, args: argparse.Namespace) -> int:
    """Validate and publish a catastrophe.declared (SPEC §9)."""
    from topics import TopicNames
    from workers.bootstrap import connections
    from workers.cat_declare import DeclareError, build_event, publish

    try:
        event = build_event(args)
    except DeclareError as exc:
        print(f"claimdesk cat declare: {exc}", file=sys.stderr)
        return 2
    with connections(settings) as s:
        publish(s.bootstrap(), TopicNames(s.topic_prefix), event)
    d = event["data"]
    print(f"declared {d['cat_code']} at {d['declared_at']} (event {event['id']})")
    return 0


def cmd_roster_load(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the roster atomically; a bad row rejects the file with its line number."""
    import asyncio

    from infra.db import open_pool, unit_of_work
    from workers.bootstrap import build_runtime, connections
    from workers.roster import read_roster_file, replace_roster

    try:
        rows = read_roster_file(Path(args.file))
    except ConfigError as exc:
        print(f"roster rejected: {exc}", file=sys.stderr)
        return 2

    async def load(dsn: str, ctx: object) -> int:
        pool = await open_pool(dsn)
        try:
            async with unit_of_work(pool) as uow:
                assigned = await replace_roster(uow.conn, rows, ctx)
                await uow.commit()
            return assigned
        finally:
            await pool.close()

    with connections(settings) as s:
        runtime = build_runtime(s, registry=None)
        assigned = asyncio.run(load(s.dsn(), runtime.context))
    print(f"roster loaded: {len(rows)} adjusters; {assigned} queued dispatch(es) assigned")
    return 0


def cmd_report_daily(settings: Settings, args: argparse.Namespace) -> int:
    """Print one day's statistics."""
    from datetime import date

    from workers.bootstrap import connections
    from workers.report import daily_rows, render, today_in_shanghai

    day = date.fromisoformat(args.date) if args.date else today_in_shanghai()
    with connections(settings) as s:
        rows = daily_rows(s.dsn(), day)
    sys.stdout.write(render(rows, args.format))
    return 0


def cmd_report_period(settings: Settings, args: argparse.Namespace) -> int:
    """Print (or write) the weekly or monthly report."""
    from workers.bootstrap import connections
    from workers.report import period_report, resolve_period
    from workers.reports.period import PeriodError

    kind = "week" if args.report_command == "weekly" else "month"
    try:
        period = resolve_period(kind, getattr(args, kind))
    except PeriodError as exc:  # before connecting: a typo starts no embedded stack
        print(f"claimdesk report {args.report_command}: {exc}", file=sys.stderr)
        return 2
    with connections(settings) as s:
        text = period_report(s.dsn(), period, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Publish simulated insurer traffic (batch, or live with --live)."""
    from workers.simulate import run_simulate_command

    return run_simulate_command(settings, args)


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run the benchmark harness."""
    from bench.harness import run_bench_command

    return int(run_bench_command(settings, args))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claimdesk", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[..., int], help_: str, parent: object = sub) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)  # type: ignore[attr-defined]
        sp.set_defaults(fn=fn)
        return sp

    up = add("up", cmd_up, "run everything on one machine (embedded broker and Postgres)")
    up.add_argument("--rate", type=float, default=0.5, help="simulated cases per second")
    up.add_argument("--surge", default=None, help="city to hit with a simulated surge")
    up.add_argument("--history", default="2h",
                    help="simulated history published first (data times in the past); 0 = none")
    up.add_argument("--bursts", type=int, default=1, help="demo surge bursts (with --surge)")
    add("migrate", cmd_migrate, "apply database migrations")
    topics = sub.add_parser("topics", help="topic administration")
    tsub = topics.add_subparsers(dest="topics_command", required=True)
    add("create", cmd_topics_create, "create all topics", tsub)
    add("worker", cmd_worker, "run a worker process")
    dlt = sub.add_parser("dlt", help="dead-letter topics")
    dsub = dlt.add_subparsers(dest="dlt_command", required=True)
    rp = add("replay", cmd_dlt_replay, "re-publish valid dead letters", dsub)
    rp.add_argument("topic", help="input topic (e.g. case-reported) or its .DLT name")
    schemas = sub.add_parser("schemas", help="event schemas")
    ssub = schemas.add_subparsers(dest="schemas_command", required=True)
    ex = add("export", cmd_schemas_export, "write JSON Schema files", ssub)
    ex.add_argument("dir")
    aa = add("asyncapi", cmd_schemas_asyncapi, "write the AsyncAPI 3.0 document of every topic",
             ssub)
    aa.add_argument("--out", default=None, help="file to write (default docs/asyncapi.json)")
    aa.add_argument("--check", action="store_true", help="only verify the file is up to date")
    cat = sub.add_parser("cat", help="declared catastrophes (巨灾)")
    cat_sub = cat.add_subparsers(dest="cat_command", required=True)
    from workers.cat_declare import add_arguments as cat_arguments

    cat_arguments(add("declare", cmd_cat_declare, "publish a catastrophe.declared",
                      parent=cat_sub))
    roster = sub.add_parser("roster", help="adjuster roster")
    rsub = roster.add_subparsers(dest="roster_command", required=True)
    rl = add("load", cmd_roster_load, "replace the roster from a CSV or JSON file", rsub)
    rl.add_argument("file")
    report = sub.add_parser("report", help="reports")
    repsub = report.add_subparsers(dest="report_command", required=True)
    rd = add("daily", cmd_report_daily, "one day's statistics", repsub)
    rd.add_argument("--date", default=None, help="YYYY-MM-DD (Asia/Shanghai); default today")
    rd.add_argument("--format", choices=("table", "csv"), default="table")
    for name, flag, example in (("weekly", "--week", "2026-W48"), ("monthly", "--month", "2026-11")):
        rp = add(name, cmd_report_period, f"the {name} supervisor report", repsub)
        rp.add_argument(flag, default=None,
                        help=f"e.g. {example} (Asia/Shanghai); default: the current one so far")
        rp.add_argument("--format", choices=("table", "csv", "html"), default="table")
        rp.add_argument("-o", "--output", default=None, help="write to this file (else stdout)")
    sim = add("simulate", cmd_simulate, "publish realistic insurer traffic")
    sim.add_argument("--cases", type=int, default=1000, help="cases to simulate (batch mode)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--surge", default=None, help="city hit by a surge")
    sim.add_argument("--surge-cases", type=int, default=200)
    sim.add_argument("--duplicates", type=float, default=0.0, help="fraction re-sent")
    sim.add_argument("--shuffle", type=int, default=0, help="out-of-order window (events)")
    sim.add_argument("--live", action="store_true", help="publish continuously in real time")
    sim.add_argument("--rate", type=float, default=20.0, help="live: cases per second")
    sim.add_argument("--roster-out", default=None, help="also write a matching roster CSV")
    bench = add("bench", cmd_bench, "measure throughput, latency and memory")
    bench.add_argument("--events", type=int, default=200_000)
    bench.add_argument("--smoke", action="store_true", help="small run for CI")
    return apply_help(p)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``claimdesk`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if settings.policy_file is not None:  # fail before starting anything, not minutes in
            from workers.bootstrap import load_policy

            load_policy(settings)
    except ConfigError as exc:
        print(f"claimdesk: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings)
    try:
        return int(args.fn(settings, args))
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
