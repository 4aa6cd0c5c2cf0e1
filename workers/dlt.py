"""``claimdesk dlt replay``: re-validate dead letters and re-publish the valid ones."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from infra.settings import Settings
from infra.topic_reader import read_topic
from topics import INPUT_TOPICS, TopicNames
from workers.decode import decode_record
from workers.records import DeadLetter, Record


@dataclass
class ReplayReport:
    """What a replay did."""

    replayed: int = 0
    still_invalid: int = 0
    already_replayed: int = 0
    unrecoverable: int = 0

    def __str__(self) -> str:
        return (
            f"replayed {self.replayed}, still invalid {self.still_invalid}, "
            f"already replayed {self.already_replayed}, value not kept (too large) "
            f"{self.unrecoverable}"
        )


def _base_topic(topic: str, names: TopicNames) -> str:
    name = topic.removesuffix(".DLT").removeprefix(names.prefix)
    if name not in INPUT_TOPICS:
        raise SystemExit(f"unknown input topic {topic!r}; one of {', '.join(INPUT_TOPICS)}")
    return name


def replay_dlt(settings: Settings, topic: str) -> ReplayReport:
    """Replay the dead letters of input topic ``topic`` (base name or ``.DLT`` name)."""
    from kafka import KafkaProducer

    names = TopicNames(settings.topic_prefix)
    base = _base_topic(topic, names)
    dlt, target = names.dlt(base), names.name(base)
    report = ReplayReport()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap(), max_request_size=4 << 20)
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        done = {
            (p, o) for p, o in conn.execute(
                'SELECT partition, "offset" FROM dlt_replays WHERE dlt_topic = %s', (dlt,)
            )
        }
        for rec in read_topic(settings.bootstrap(), dlt):
            if (rec.partition, rec.offset) in done:
                report.already_replayed += 1
                continue
            if not rec.value:
                report.unrecoverable += 1
                continue
            item = decode_record(base, Record(dlt, rec.partition, rec.offset, rec.key, rec.value))
            if isinstance(item, DeadLetter):
                report.still_invalid += 1
                continue
            producer.send(target, key=rec.key, value=rec.value,
                          headers=[("content-type", b"application/cloudevents+json")]).get(30)
            conn.execute(
                'INSERT INTO dlt_replays (dlt_topic, partition, "offset") VALUES (%s, %s, %s)'
                " ON CONFLICT DO NOTHING",
                (dlt, rec.partition, rec.offset),
            )
            report.replayed += 1
    producer.close()
    return report
