-- The ops page's v2 panels with a year of data (issue 14; measured with bench/ops_data.py at
-- 1M cases): payouts not paid (40: 0.7 s as a scan of every payout), callbacks waiting for
-- their call, and open escalations (50: 9 s — rm_escalations decides "open" from the clock
-- through a CASE, so the planner hashes all 4M clocks). Re-run safe.

CREATE INDEX IF NOT EXISTS payouts_unpaid ON payouts (pay_by) WHERE status <> 'paid';
CREATE INDEX IF NOT EXISTS callbacks_requested ON callbacks (due_by) WHERE status = 'requested';
CREATE INDEX IF NOT EXISTS escalations_payment_open ON escalations (to_id)
    WHERE cause = 'payment_failed' AND resolved_at IS NULL;

-- The escalations rm_escalations shows as open (resolved_at null), minus dissatisfied/report
-- (never open, SPEC §4.11), found from the other side: clock escalations from the running
-- clocks (few; sla_clocks_running) whose mark stands, plus payment_failed ones not resolved
-- yet. Plumbing for the ops page and its sampler; the public view stays rm_escalations.
CREATE OR REPLACE VIEW ops_open_escalations AS
    SELECT e.escalation_id, e.subject_type, e.subject_id, e.case_id, e.cause, e.level, e.to_id,
           e.raised_at, e.due_at
    FROM sla_clocks c
    JOIN escalations e ON e.subject_type = c.subject_type AND e.subject_id = c.subject_id
                      AND e.cause = c.clock
    WHERE c.stopped_at IS NULL
      AND ((e.level = 'owner' AND c.warned_at IS NOT NULL)
           OR (e.level = 'supervisor' AND c.breached_at IS NOT NULL))
    UNION ALL
    SELECT e.escalation_id, e.subject_type, e.subject_id, e.case_id, e.cause, e.level, e.to_id,
           e.raised_at, e.due_at
    FROM escalations e
    WHERE e.cause = 'payment_failed' AND e.resolved_at IS NULL;

DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON %I.ops_open_escalations TO claimdesk_worker',
                   current_schema());
END $$;
