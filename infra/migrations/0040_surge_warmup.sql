-- v2 surge warm-up (SPEC §4.5): the start of the window holding each scope's earliest
-- reported_at. Kept as the minimum ever seen, so it does not depend on consumption order.
ALTER TABLE surge_state ADD COLUMN first_window timestamptz;
UPDATE surge_state s SET first_window = coalesce(
    (SELECT min(w.window_start) FROM surge_windows w
      WHERE w.scope_type = s.scope_type AND w.scope_key = s.scope_key),
    s.last_closed_window + interval '10 minutes');

-- `claimdesk up` publishes simulated history first (SPEC §9). While a hold is unreleased the
-- monitor does not judge surges (no window closes, no surge opens); it is released once
-- `expected_cases` case.reported events of the history have been consumed.
CREATE TABLE surge_hold (
    name            text PRIMARY KEY,
    expected_cases  bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    released_at     timestamptz
);
