"""The ``claimdesk`` command (SPEC §9). Thin: parse, read settings once, call one function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.settings import Settings, load_settings

log = logging.getLogger("claimdesk")


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("pgserver", "aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
        run_worker(s)
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Everything on one machine: embedded stack, migrations, topics, worker, simulator."""
    from workers.up import run_up

    return run_up(settings, rate=args.rate, surge=args.surge)


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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claimdesk", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[..., int], help_: str, parent: object = sub) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)  # type: ignore[attr-defined]
        sp.set_defaults(fn=fn)
        return sp

    up = add("up", cmd_up, "run everything on one machine (embedded broker and Postgres)")
    up.add_argument("--rate", type=float, default=20.0, help="simulated cases per second")
    up.add_argument("--surge", default=None, help="city to hit with a simulated surge")
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
    _add_more(add, sub)
    return p


def _add_more(add: Callable[..., argparse.ArgumentParser], sub: object) -> None:
    """Verbs implemented in their own modules (lifecycle, reports, simulation, bench)."""
    try:
        from workers import cli_more
    except ImportError:
        return
    cli_more.register(add, sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``claimdesk`` console script."""
    args = _parser().parse_args(argv)
    settings = load_settings()
    _setup_logging(settings)
    try:
        return int(args.fn(settings, args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
