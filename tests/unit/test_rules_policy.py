"""Policy defaults, per-insurer/line resolution and TOML parsing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from workers.rules.policy import (
    Policy,
    PolicyBook,
    PolicyError,
    parse_duration,
    parse_policy_toml,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "workers" / "rules" / "policy.example.toml"


def test_defaults_match_spec() -> None:
    p = Policy()
    assert p.fast_track_limit == Decimal("5000.00")
    assert p.cat_fast_track_limit == Decimal("20000.00")
    assert p.joint_amount_threshold == Decimal("100000.00")
    assert p.pay_by == timedelta(days=10)
    assert p.sla.dispatch == timedelta(minutes=30)
    assert (p.sla.survey_urgent, p.sla.survey_normal) == (timedelta(hours=4), timedelta(hours=24))
    assert p.sla.initial_review == timedelta(hours=72)
    assert p.sla.second_review == timedelta(hours=48)
    assert p.sla.joint_review == timedelta(hours=120)
    assert p.sla.determination == timedelta(hours=720)
    assert p.sla.complaint == timedelta(days=15)
    assert p.sla.warn_fraction == Decimal("0.8")
    assert (p.surge.window, p.surge.grace, p.surge.alpha) == (
        timedelta(minutes=10),
        timedelta(minutes=2),
        Decimal("0.2"),
    )
    assert (p.surge.warn_min, p.surge.warn_factor) == (20, Decimal(3))
    assert (p.surge.critical_min, p.surge.critical_factor) == (40, Decimal(6))
    assert (p.surge.resolve_windows, p.surge.resolve_factor) == (3, Decimal("1.5"))
    assert p.staffing.target_fraction == Decimal("0.8")
    assert p.staffing.target_wait == timedelta(hours=2)
    assert p.staffing.default_mean_survey == timedelta(hours=1.5)
    assert p.backlog.queue_per_city == 50
    assert p.backlog.oldest_queued == timedelta(minutes=30)
    assert p.backlog.parked_older_than == timedelta(hours=24)
    assert p.backlog.consumer_lag == timedelta(seconds=60)
    assert p.backlog.breach_lookback == timedelta(minutes=15)
    assert p.backlog.resolve_checks == 2
    assert (p.group_complaint.min_count, p.group_complaint.window) == (5, timedelta(hours=24))


def test_example_file_parses() -> None:
    book = parse_policy_toml(EXAMPLE.read_text(encoding="utf-8"))
    assert book.default == Policy()
    picc_auto = book.for_case("PICC", "auto")
    assert picc_auto.fast_track_limit == Decimal("8000.00")
    assert picc_auto.sla.initial_review == timedelta(hours=48)
    assert picc_auto.sla.survey_urgent == timedelta(hours=2)
    assert book.for_case("PINGAN", "property").cat_fast_track_limit == Decimal("30000.00")


def test_empty_file_gives_defaults() -> None:
    assert parse_policy_toml("") == PolicyBook()


OVERRIDES = """
[defaults]
fast_track_limit = "6000.00"
[defaults.sla]
initial_review = "60h"
[insurer.PICC]
fast_track_limit = "8000.00"
[insurer.PICC.line.auto.sla]
survey_urgent = "2h"
[insurer.CPIC.line.cargo]
pay_by = "7d"
"""


@pytest.mark.parametrize(
    ("insurer", "line", "limit", "survey_urgent", "initial", "pay_by"),
    [
        ("PICC", "auto", "8000.00", "2h", "60h", "10d"),  # line inherits insurer + defaults
        ("PICC", "property", "8000.00", "4h", "60h", "10d"),  # insurer only
        ("PINGAN", "auto", "6000.00", "4h", "60h", "10d"),  # unknown insurer: defaults
        ("CPIC", "cargo", "6000.00", "4h", "60h", "7d"),  # line without insurer section
        ("CPIC", "auto", "6000.00", "4h", "60h", "10d"),
    ],
)
def test_most_specific_wins(
    insurer: str, line: str, limit: str, survey_urgent: str, initial: str, pay_by: str
) -> None:
    policy = parse_policy_toml(OVERRIDES).for_case(insurer, line)
    assert policy.fast_track_limit == Decimal(limit)
    assert policy.sla.survey_urgent == parse_duration(survey_urgent)
    assert policy.sla.initial_review == parse_duration(initial)
    assert policy.pay_by == parse_duration(pay_by)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("1.5h", timedelta(minutes=90)),
        ("30d", timedelta(hours=720)),
        (" 2h ", timedelta(hours=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0h", "4", "h", "-1h", "4w", "1h30m", "abc"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[defaults\n", "not valid TOML"),
        ("[default]\n", "default: unknown key"),
        ('[defaults]\nfast_track_limt = "1.00"\n', "defaults.fast_track_limt: unknown key"),
        (
            "[defaults]\nfast_track_limit = 5000.5\n",
            "defaults.fast_track_limit: expected an amount",
        ),
        ('[defaults]\nfast_track_limit = "5000.001"\n', "defaults.fast_track_limit"),
        ('[defaults]\nfast_track_limit = "-1"\n', "defaults.fast_track_limit"),
        ('[defaults.sla]\ninitial_review = "72x"\n', "defaults.sla.initial_review: expected a dur"),
        ("[defaults.sla]\ninitial_review = 72\n", "defaults.sla.initial_review"),
        ("[defaults.sla]\nwarn_fraction = 1.2\n", "defaults.sla.warn_fraction: expected a number"),
        ("[defaults.sla]\nwarn_fraction = true\n", "defaults.sla.warn_fraction"),
        ('[defaults.sla]\nsurvey = "4h"\n', "defaults.sla.survey: unknown key"),
        ("[defaults.surge]\nwarn_min = 0\n", "defaults.surge.warn_min: expected a whole number"),
        ('[defaults.surge]\nwarn_min = "20"\n', "defaults.surge.warn_min"),
        ('[defaults.surge]\nwindow = "7m"\n', "defaults.surge.window: must divide one hour"),
        ("[defaults]\nsla = 3\n", "defaults.sla: expected a table"),
        ("[insurer.PICC.surge]\nwarn_min = 30\n", "insurer.PICC.surge: only allowed under"),
        ('[insurer.PICC.line.atuo]\npay_by = "5d"\n', "insurer.PICC.line.atuo: unknown line"),
        (
            '[insurer.PICC.line.auto.sla]\nsurvey_urgent = "2x"\n',
            "insurer.PICC.line.auto.sla.survey_urgent",
        ),
        ("insurer = 3\n", "insurer: expected a table"),
    ],
)
def test_bad_files_name_the_key(text: str, names: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy_toml(text)
    assert names in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('"5000.00"', "5000.00"), ("8000", "8000"), ('"0"', "0"), ('"0.5"', "0.5")],
)
def test_money_values(raw: str, expected: str) -> None:
    book = parse_policy_toml(f"[defaults]\nfast_track_limit = {raw}\n")
    assert book.default.fast_track_limit == Decimal(expected)


@pytest.mark.parametrize(("raw", "expected"), [('"0.75"', "0.75"), ("0.9", "0.9"), ("0.5", "0.5")])
def test_fraction_values_accept_strings_and_floats(raw: str, expected: str) -> None:
    book = parse_policy_toml(f"[defaults.sla]\nwarn_fraction = {raw}\n")
    assert book.default.sla.warn_fraction == Decimal(expected)


# ------------------------------------------------------------------ v2 keys (SPEC §9)


def test_v2_defaults_match_spec() -> None:
    p = Policy()
    assert p.sla.payment == timedelta(days=10) and p.sla.callback == timedelta(hours=48)
    assert p.surge.cold_floor == 100
    assert (p.callbacks.dispatch_percent, p.callbacks.closing_percent) == (20, 30)
    assert p.payment_tracking is True
    book = PolicyBook()
    assert book.supervisor("PICC") == "supervisor:PICC"
    assert book.payment_tracking("PICC") is True
    assert book.payment_window("PICC", "auto") == timedelta(days=10)
    assert book.callback_window("PICC") == timedelta(hours=48)
    assert (book.sample_percent("dispatch"), book.sample_percent("closing")) == (20, 30)
    with pytest.raises(ValueError):
        book.sample_percent("complaint")  # complaint callbacks are mandatory, never sampled


def test_v2_example_overrides() -> None:
    book = parse_policy_toml(EXAMPLE.read_text(encoding="utf-8"))
    assert book.payment_tracking("CPIC") is False and book.payment_tracking("PICC") is True
    assert book.supervisor("CPIC") == "SUP-CPIC-01"
    assert book.supervisor("PINGAN") == "supervisor:PINGAN"


V2_OVERRIDES = """
[defaults]
payment_tracking = true
[defaults.sla]
payment = "7d"
callback = "24h"
[defaults.surge]
cold_floor = 60
[defaults.callbacks]
dispatch_percent = 0
closing_percent = 100
[defaults.escalation]
supervisor = "SUP-{insurer}"
[insurer.PICC]
payment_tracking = false
[insurer.PICC.sla]
payment = "5d"
callback = "12h"
[insurer.PICC.escalation]
supervisor = "SUP-PICC-9"
[insurer.PICC.line.auto.sla]
payment = "3d"
"""


def test_v2_keys_override_per_insurer() -> None:
    book = parse_policy_toml(V2_OVERRIDES)
    assert book.default.surge.cold_floor == 60
    assert (book.sample_percent("dispatch"), book.sample_percent("closing")) == (0, 100)
    assert book.supervisor("PINGAN") == "SUP-PINGAN"
    assert book.supervisor("PICC") == "SUP-PICC-9"
    assert book.payment_tracking("PICC") is False and book.payment_tracking("CPIC") is True
    assert book.payment_window("CPIC", "auto") == timedelta(days=7)
    assert book.payment_window("PICC", "property") == timedelta(days=5)
    assert book.payment_window("PICC", "auto") == timedelta(days=3)
    assert book.callback_window("PICC") == timedelta(hours=12)
    assert book.callback_window("CPIC") == timedelta(hours=24)
    # the line inherits the insurer's non-line settings
    assert book.for_case("PICC", "auto").payment_tracking is False
    assert book.for_case("PICC", "auto").supervisor_for("PICC") == "SUP-PICC-9"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[defaults]\npayment_tracking = 1", "defaults.payment_tracking"),
        ('[defaults]\npayment_tracking = "no"', "defaults.payment_tracking"),
        ("[defaults.callbacks]\ndispatch_percent = 101", "defaults.callbacks.dispatch_percent"),
        ("[defaults.callbacks]\nclosing_percent = -1", "defaults.callbacks.closing_percent"),
        ('[defaults.callbacks]\nclosing_percent = "30"', "defaults.callbacks.closing_percent"),
        ("[defaults.callbacks]\ncomplaint_percent = 50", "defaults.callbacks.complaint_percent"),
        ("[defaults.surge]\ncold_floor = 0", "defaults.surge.cold_floor"),
        ('[defaults.sla]\npayment = "ten days"', "defaults.sla.payment"),
        ('[defaults.sla]\ncallback = 48', "defaults.sla.callback"),
        ('[defaults.escalation]\nsupervisor = ""', "defaults.escalation.supervisor"),
        ('[defaults.escalation]\nsupervisor = "a b"', "defaults.escalation.supervisor"),
        ('[defaults.escalation]\nowner = "x"', "defaults.escalation.owner"),
        ("[insurer.PICC.callbacks]\ndispatch_percent = 5", "insurer.PICC.callbacks"),
        ("[insurer.PICC.surge]\ncold_floor = 5", "insurer.PICC.surge"),
        ("[insurer.PICC.line.auto]\npayment_tracking = false",
         "insurer.PICC.line.auto.payment_tracking"),
        ('[insurer.PICC.line.auto.escalation]\nsupervisor = "S"',
         "insurer.PICC.line.auto.escalation"),
    ],
)
def test_v2_bad_keys_are_named(text: str, names: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy_toml(text)
    assert str(info.value).startswith(f"{names}:"), str(info.value)
