"""The Prometheus metrics bundle (SPEC §7), built from an injected registry.

Labels are bounded sets (topic, outcome, stage, clock, kind, scope type) — never a
case, person or adjuster id.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.enums import Outcome
from topics import INPUT_TOPICS

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_AGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400, 604800)


@dataclass(frozen=True)
class Metrics:
    """Every metric claimdesk exports; one instance per process (or per test)."""

    registry: CollectorRegistry
    events_total: Counter
    event_processing_seconds: Histogram
    event_age_seconds: Histogram
    consumer_lag_messages: Gauge
    consumer_lag_seconds: Gauge
    dispatch_queue_depth: Gauge
    pending_reviews: Gauge
    open_complaints: Gauge
    sla_warnings_total: Counter
    sla_breaches_total: Counter
    surge_active: Gauge
    outbox_pending: Gauge
    outbox_oldest_seconds: Gauge
    outbox_published_total: Counter
    alerts_open: Gauge
    parked_events: Gauge
    transient_errors_total: Counter
    unexpected_errors_total: Counter
    batch_size: Histogram
    callbacks_total: Counter
    escalations_total: Counter
    notices_total: Counter
    payouts_unpaid: Gauge
    payouts_failed: Gauge


OUTCOMES = tuple(o.value for o in Outcome)
NOTICE_KINDS = ("dispatch_assigned", "documents_required", "delay", "decision", "payment_paid",
                "complaint_result", "complaint_extended")
CLOCKS = ("dispatch", "survey", "initial_review", "second_review", "joint_review",
          "determination", "complaint")


#: ``component`` label values of the error counters: each input topic's pipeline and the loops.
COMPONENTS = (*INPUT_TOPICS, "monitor", "outbox_relay", "runtime")


def build_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Create the bundle in ``registry`` (a fresh one when omitted, e.g. in tests).

    Counter series are created at zero up front: a series that first appears at 1 is
    invisible to ``increase()``, so the first breach or dead letter would not alert.
    """
    metrics = _create(registry if registry is not None else CollectorRegistry())
    for topic in INPUT_TOPICS:
        for outcome in OUTCOMES:
            metrics.events_total.labels(topic, outcome)
    for clock in CLOCKS:
        metrics.sla_warnings_total.labels(clock=clock)
        metrics.sla_breaches_total.labels(clock=clock)
    for cause in (*CLOCKS, "payment", "callback"):
        metrics.escalations_total.labels(cause=cause, level="owner")
        metrics.escalations_total.labels(cause=cause, level="supervisor")
    for cause in ("dissatisfied", "report", "payment_failed"):
        metrics.escalations_total.labels(cause=cause, level="supervisor")
    for kind in NOTICE_KINDS:
        metrics.notices_total.labels(kind=kind)
    # found by the real-Prometheus test: without a zero series these were absent from
    # /metrics until their first increment, so the dashboard's panels named missing metrics
    for component in COMPONENTS:
        metrics.transient_errors_total.labels(component=component)
        metrics.unexpected_errors_total.labels(component=component)
    for kind in ("dispatch", "closing", "complaint"):
        for outcome in ("requested", "reached", "unreachable", "refused"):
            metrics.callbacks_total.labels(kind=kind, outcome=outcome)
    return metrics


def _create(reg: CollectorRegistry) -> Metrics:
    p = "claimdesk_"
    return Metrics(
        registry=reg,
        events_total=Counter(
            p + "events_total", "Input events by outcome", ["topic", "outcome"], registry=reg
        ),
        event_processing_seconds=Histogram(
            p + "event_processing_seconds", "Processing time per event (batch time / size)",
            ["topic"], buckets=_LATENCY_BUCKETS, registry=reg,
        ),
        event_age_seconds=Histogram(
            p + "event_age_seconds", "Commit time minus the event's data time", ["topic"],
            buckets=_AGE_BUCKETS, registry=reg,
        ),
        consumer_lag_messages=Gauge(
            p + "consumer_lag_messages", "High watermark minus position", ["topic", "partition"],
            registry=reg,
        ),
        consumer_lag_seconds=Gauge(
            p + "consumer_lag_seconds", "Now minus timestamp of the oldest unconsumed record",
            ["topic"], registry=reg,
        ),
        dispatch_queue_depth=Gauge(p + "dispatch_queue_depth", "Queued dispatches", registry=reg),
        pending_reviews=Gauge(
            p + "pending_reviews", "Cases waiting for a review", ["stage"], registry=reg
        ),
        open_complaints=Gauge(p + "open_complaints", "Open complaints", registry=reg),
        sla_warnings_total=Counter(
            p + "sla_warnings_total", "SLA clocks past 80 %", ["clock"], registry=reg
        ),
        sla_breaches_total=Counter(
            p + "sla_breaches_total", "SLA clocks past 100 %", ["clock"], registry=reg
        ),
        surge_active=Gauge(
            p + "surge_active", "Open surges by scope type", ["scope"], registry=reg
        ),
        outbox_pending=Gauge(p + "outbox_pending", "Unpublished outbox rows", registry=reg),
        outbox_oldest_seconds=Gauge(
            p + "outbox_oldest_seconds", "Age of the oldest unpublished outbox row", registry=reg
        ),
        outbox_published_total=Counter(
            p + "outbox_published_total", "Outbox rows published", ["topic"], registry=reg
        ),
        alerts_open=Gauge(p + "alerts_open", "Open alerts", ["kind"], registry=reg),
        parked_events=Gauge(p + "parked_events", "Events parked for their case", registry=reg),
        transient_errors_total=Counter(
            p + "transient_errors_total", "Retried transient failures", ["component"],
            registry=reg,
        ),
        unexpected_errors_total=Counter(
            p + "unexpected_errors_total", "Non-transient failures (bugs), logged at ERROR",
            ["component"], registry=reg,
        ),
        batch_size=Histogram(
            p + "batch_size", "Events per processed batch", ["topic"],
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=reg,
        ),
        # outcome: requested (a callback.requested decided) or the result of an attempt
        callbacks_total=Counter(
            p + "callbacks_total", "Callbacks requested and attempts recorded",
            ["kind", "outcome"], registry=reg,
        ),
        escalations_total=Counter(
            p + "escalations_total", "Escalations raised", ["cause", "level"], registry=reg,
        ),
        notices_total=Counter(
            p + "notices_total", "Customer notices published (notice.requested)", ["kind"],
            registry=reg,
        ),
        payouts_unpaid=Gauge(
            p + "payouts_unpaid", "Payouts approved and not paid (status approved or failed)",
            registry=reg,
        ),
        payouts_failed=Gauge(
            p + "payouts_failed", "Payouts whose latest settlement failed", registry=reg,
        ),
    )
