"""The surge path in Postgres equals the rules (SPEC §4.5; ``workers/rules/surge.py`` is the
reference): random sequences of report batches (late ones, cold and warm windows, counts
around the thresholds and the cold-start floor) and window closings are applied through
``count_reports`` / ``close_windows`` (the SQL the workers run) and through a model built only
from the rule functions; per scope, the alert events and the final baseline, level and first
window must agree. One migrated schema is reused; each example is a rolled-back transaction.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.inproc import FakeClock, context
from tests.integration.module_db import Db, module_db
from workers.rules.policy import Policy
from workers.rules.surge import (
    SurgeEvent,
    SurgeState,
    close_window,
    is_warm,
    on_count,
    window_closes_at,
    window_start,
    windows_to_close,
)
from workers.store.effects import Effects
from workers.store.surge import close_windows, count_reports

pytestmark = pytest.mark.integration
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=CST)
P = Policy()
CITIES = (("浙江省", "温州市"), ("广东省", "深圳市"))
INSURERS = ("PICC", "CPIC")
Scope = tuple[str, str]


@dataclass
class ScopeModel:
    state: SurgeState = SurgeState()
    last_closed: datetime | None = None
    first_window: datetime | None = None
    surge_window: datetime | None = None


@dataclass
class Model:
    """Surge decisions from the rule functions alone."""

    counts: Counter[tuple[Scope, datetime]] = field(default_factory=Counter)
    scopes: dict[Scope, ScopeModel] = field(default_factory=dict)
    events: dict[Scope, list[tuple[str, str]]] = field(default_factory=dict)

    def report(self, reports: list[tuple[int, int, datetime]], now: datetime) -> None:
        batch: Counter[tuple[Scope, datetime]] = Counter()
        for city, insurer, at in reports:
            w = window_start(at, P.surge.window)
            batch[(("city", "|".join(CITIES[city])), w)] += 1
            batch[(("insurer", INSURERS[insurer]), w)] += 1
        self.counts.update(batch)
        firsts: dict[Scope, datetime] = {}
        for scope, w in sorted(batch):
            firsts[scope] = min(w, firsts.get(scope, w))
        for scope, w in firsts.items():
            m = self.scopes.setdefault(scope, ScopeModel(last_closed=w - P.surge.window))
            m.first_window = w if m.first_window is None else min(m.first_window, w)
        for scope, w in sorted(batch):
            if now >= window_closes_at(w, P):
                continue
            m = self.scopes[scope]
            new, event = on_count(m.state, self.counts[(scope, w)], P,
                                  is_warm(w, m.first_window, P))
            if event is None:
                continue
            assert new.level is not None
            self.events.setdefault(scope, []).append(("alert.opened", new.level.value))
            m.state = replace(new, calm_windows=0)
            if event is SurgeEvent.OPENED:
                m.surge_window = w

    def close(self, now: datetime) -> None:
        for scope, m in self.scopes.items():
            assert m.last_closed is not None
            starts = windows_to_close(m.last_closed, now, P)
            if not starts:
                continue
            state = m.state
            for start in starts:
                count = self.counts.get((scope, start), 0)
                if state.open and m.surge_window is not None and start < m.surge_window:
                    before, _ = close_window(replace(state, level=None), count, P)
                    state = replace(state, baseline=before.baseline)
                    continue
                level = state.level
                state, event = close_window(state, count, P)
                if event is SurgeEvent.RESOLVED:
                    m.surge_window = None
                    assert level is not None
                    self.events.setdefault(scope, []).append(("alert.resolved", level.value))
            m.state = state
            m.last_closed = starts[-1]
            if not state.open:
                m.surge_window = None


@pytest.fixture(scope="module")
def db(base_dsn: str) -> Iterator[Db]:
    with module_db(base_dsn) as d:
        yield d


def _scope_of(data: dict[str, Any]) -> Scope:
    s = data["scope"]
    return ("city", f"{s['province']}|{s['city']}") if "city" in s else ("insurer", s["insurer"])


batches = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1),
                             st.integers(0, 40 * 60), st.integers(1, 110)),
                   min_size=1, max_size=3)
steps = st.lists(st.tuples(st.integers(0, 25 * 60), st.one_of(batches, st.none())),
                 min_size=1, max_size=14)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_surge_sql_equals_the_rules_on_random_sequences(db: Db, steps: list[Any]) -> None:
    async def scenario() -> None:
        model = Model()
        clock = FakeClock(T0)
        ctx = context(clock)
        outbox: list[Any] = []
        async with db.conn.transaction(force_rollback=True):
            for advance, batch in steps:
                clock.now += timedelta(seconds=advance)
                fx = Effects()
                if batch is None:
                    await close_windows(db.conn, clock.now, ctx, fx)
                    model.close(clock.now)
                else:
                    reports = [(c, i, clock.now - timedelta(seconds=back))
                               for c, i, back, n in batch for _ in range(n)]
                    await count_reports(db.conn, [(*CITIES[c], INSURERS[i], at)
                                                  for c, i, at in reports], ctx, fx)
                    model.report(reports, clock.now)
                outbox += fx.outbox
            cur = await db.conn.execute(
                "SELECT scope_type, scope_key, baseline, level, first_window FROM surge_state")
            rows = {(r[0], r[1]): (Decimal(r[2]), r[3], r[4]) for r in await cur.fetchall()}
        got: dict[Scope, list[tuple[str, str]]] = {}
        for item in outbox:
            ev = json.loads(item.value)
            got.setdefault(_scope_of(ev["data"]), []).append((ev["type"], ev["data"]["severity"]))
        assert got == model.events
        assert rows == {s: (m.state.baseline, m.state.level.value if m.state.level else None,
                            m.first_window) for s, m in model.scopes.items()}

    db.run(scenario())
