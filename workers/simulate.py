"""Insurer-traffic simulator (SPEC §9 ``claimdesk simulate``): public entry point.

Three modes, all producing valid input events of SPEC §3:

* :func:`generate` — pure, seeded batch generation with an :class:`Expected`
  tally that integration tests compare with the read models;
* :func:`publish_run` — publishes a generated run with kafka-python;
* :func:`run_live` — continuous traffic for ``claimdesk up`` (data time ≈ now).

:func:`roster` / :func:`write_roster_csv` produce the adjuster roster covering
every simulated city. The implementation lives in :mod:`workers.sim`.

Run as ``claimdesk simulate`` (:func:`run_simulate_command`) or
``python -m workers.simulate --help`` (:func:`main`, a few more options).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from topics import TopicNames
from workers.sim.batch import find_city, generate, shuffle_blocks, surge_sensitive, tally
from workers.sim.data import CITIES
from workers.sim.live import DEFAULT_ROSTER_SEED, LiveSim, run_live
from workers.sim.model import CST, Expected, SimEvent, SimRun
from workers.sim.publish import HEADERS, TopicNamer, publish_run
from workers.sim.roster import ROSTER_FIELDS, adjusters_by_city, roster, write_roster_csv

if TYPE_CHECKING:
    from infra.settings import Settings

__all__ = [
    "CITIES",
    "CST",
    "DEFAULT_ROSTER_SEED",
    "HEADERS",
    "ROSTER_FIELDS",
    "Expected",
    "LiveSim",
    "SimEvent",
    "SimRun",
    "TopicNamer",
    "add_arguments",
    "adjusters_by_city",
    "find_city",
    "generate",
    "main",
    "publish_run",
    "roster",
    "run_command",
    "run_live",
    "run_simulate_command",
    "shuffle_blocks",
    "summary",
    "surge_sensitive",
    "tally",
    "write_roster_csv",
]


def summary(expected: Expected) -> dict[str, Any]:
    """A JSON-ready digest of a run's tally (counts only, no personal data)."""
    return {
        "cases": expected.cases,
        "dispatches": expected.dispatches,
        "reviews": {stage: dict(c) for stage, c in sorted(expected.reviews.items())},
        "complaints": expected.complaints,
        "complaints_without_case": expected.complaints_without_case,
        "duplicates_sent": expected.duplicates_sent,
        "events": dict(expected.events),
        "status": dict(expected.status_counts()),
        "payouts": expected.payout_count,
        "payout_sum": f"{expected.payout_sum:.2f}",
        "surge_sensitive": len(expected.surge_sensitive),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m workers.simulate`` (those of ``claimdesk simulate`` and more)."""
    parser.add_argument("--cases", type=int, default=1000, help="cases to generate (batch)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--start", default=None,
                        help="first reported_at, RFC 3339 with offset (default: now − spread)")
    parser.add_argument("--spread-hours", type=float, default=24.0,
                        help="cases are reported over this many hours")
    parser.add_argument("--surge", default=None, metavar="CITY", help="city to hit with a surge")
    parser.add_argument("--surge-cases", type=int, default=200, help="extra cases in the surge")
    parser.add_argument("--duplicates", type=float, default=0.0, help="fraction re-sent")
    parser.add_argument("--shuffle", type=int, default=0, help="shuffle within blocks of N")
    parser.add_argument("--roster-out", default=None, help="also write the roster CSV here")
    parser.add_argument("--dry-run", action="store_true", help="generate and summarise only")
    parser.add_argument("--live", action="store_true", help="publish continuously until ^C")
    parser.add_argument("--rate", type=float, default=20.0, help="live: cases per second")
    parser.add_argument("--time-scale", type=float, default=360.0,
                        help="live: simulated seconds per real second")


def run_command(args: argparse.Namespace, bootstrap: str | None, names: TopicNamer) -> int:
    """Carry out parsed options (missing optional ones take their defaults); exit code."""
    import threading

    seed = int(getattr(args, "seed", 1))
    surge = getattr(args, "surge", None)
    if getattr(args, "roster_out", None):
        print(f"roster: {write_roster_csv(args.roster_out, roster(seed))}", file=sys.stderr)
    if getattr(args, "live", False):
        if bootstrap is None:
            raise SystemExit("simulate --live needs a broker (KAFKA_BOOTSTRAP_SERVERS)")
        stop = threading.Event()
        try:
            run_live(bootstrap, names, rate_per_s=float(getattr(args, "rate", 20.0)),
                     surge_city=surge, stop=stop, seed=seed,
                     time_scale=float(getattr(args, "time_scale", 360.0)))
        except KeyboardInterrupt:
            stop.set()
        return 0
    spread = timedelta(hours=float(getattr(args, "spread_hours", 24.0)))
    start_text = getattr(args, "start", None)
    start = (datetime.fromisoformat(start_text) if start_text
             else datetime.now(CST).replace(second=0, microsecond=0) - spread)
    run = generate(int(getattr(args, "cases", 1000)), seed=seed, start=start, spread=spread,
                   surge_city=surge, surge_cases=int(getattr(args, "surge_cases", 200)),
                   dup_fraction=float(getattr(args, "duplicates", 0.0)),
                   shuffle_window=int(getattr(args, "shuffle", 0)))
    if not getattr(args, "dry_run", False):
        if bootstrap is None:
            raise SystemExit("simulate needs a broker (KAFKA_BOOTSTRAP_SERVERS) or --dry-run")
        publish_run(bootstrap, names, run,
                    progress=lambda i, n: print(f"published {i}/{n}", file=sys.stderr))
    print(json.dumps(summary(run.expected), ensure_ascii=False, indent=2))
    return 0


def run_simulate_command(settings: Settings, args: argparse.Namespace) -> int:
    """``claimdesk simulate``: the configured broker (or the embedded stack) and prefix."""
    if getattr(args, "dry_run", False):
        return run_command(args, None, TopicNames(settings.topic_prefix))
    from workers.bootstrap import connections

    with connections(settings) as s:
        return run_command(args, s.bootstrap(), TopicNames(s.topic_prefix))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workers.simulate``: broker and prefix from the SPEC §9 variables."""
    parser = argparse.ArgumentParser(prog="workers.simulate", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    names = TopicNames(os.environ.get("CLAIMDESK_TOPIC_PREFIX", ""))
    return run_command(args, os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), names)


if __name__ == "__main__":
    sys.exit(main())
