"""Topic registry (SPEC §1): every v2 topic with its key and DLT; the schema registry agrees."""

from __future__ import annotations

from typing import get_args

from schemas import INPUT_EVENTS, OUTPUT_EVENTS
from topics import EVENT_TYPES, INPUT_TOPICS, OUTPUT_TOPICS, TopicNames, all_topics, key_of


def test_every_spec_topic_is_created_with_its_dlt() -> None:
    specs = {s.name: s for s in all_topics(TopicNames("t1-"))}
    for base in ("payment-settled", "case-withdrawn", "callback-completed", "catastrophe-declared"):
        assert f"t1-{base}" in specs and f"t1-{base}.DLT" in specs
    for base in ("customer-notices", "callback-requested", "escalations"):
        assert f"t1-{base}" in specs and f"t1-{base}.DLT" not in specs
    assert len(specs) == 2 * 8 + 6
    assert sum(name.endswith(".DLT") for name in specs) == 8
    assert key_of("catastrophe-declared") == "cat_code"
    assert key_of("escalations") == "case_id, else complaint_id"


def test_event_types_match_the_schema_registry() -> None:
    assert tuple(INPUT_EVENTS) == INPUT_TOPICS
    for base in INPUT_TOPICS:
        (declared,) = get_args(INPUT_EVENTS[base].model_fields["type"].annotation)
        assert EVENT_TYPES[base] == (declared,)
    out_types = {t for base in OUTPUT_TOPICS for t in EVENT_TYPES[base]}
    assert out_types == set(OUTPUT_EVENTS)
