-- ops_open_escalations (0053) hash-joined a year of escalations against the running clocks
-- (50 ms at 40k escalations, growing). Running clocks with a warning mark are few; indexed, the
-- planner walks from them into escalations_subject_idx. A breach mark implies the warning mark
-- (80 % comes before 100 %, and a settling stop sets both), so the added predicate changes no
-- row; test_open_escalations keeps the view equal to rm_escalations' open rows.
CREATE INDEX IF NOT EXISTS sla_clocks_running_warned ON sla_clocks (subject_type, subject_id, clock)
    WHERE stopped_at IS NULL AND warned_at IS NOT NULL;

CREATE OR REPLACE VIEW ops_open_escalations AS
    SELECT e.escalation_id, e.subject_type, e.subject_id, e.case_id, e.cause, e.level, e.to_id,
           e.raised_at, e.due_at
    FROM sla_clocks c
    JOIN escalations e ON e.subject_type = c.subject_type AND e.subject_id = c.subject_id
                      AND e.cause = c.clock
    WHERE c.stopped_at IS NULL AND c.warned_at IS NOT NULL
      AND (e.level = 'owner' OR (e.level = 'supervisor' AND c.breached_at IS NOT NULL))
    UNION ALL
    SELECT e.escalation_id, e.subject_type, e.subject_id, e.case_id, e.cause, e.level, e.to_id,
           e.raised_at, e.due_at
    FROM escalations e
    WHERE e.cause = 'payment_failed' AND e.resolved_at IS NULL;
