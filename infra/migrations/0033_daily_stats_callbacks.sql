-- rm_daily_stats v2 (SPEC §5): callbacks_reached and dissatisfied per Asia/Shanghai day of the
-- callback result's completed_at (reached results; dissatisfied = satisfaction <= 2). The
-- view is 0020's with one more branch and two columns appended (CREATE OR REPLACE keeps the
-- grants and the dependants).
CREATE OR REPLACE VIEW rm_daily_stats AS
WITH facts AS (
    SELECT reported_at AS t, insurer, line, province, 'reported' AS k FROM cases
    UNION ALL
    SELECT d.requested_at, c.insurer, c.line, coalesce(c.province, d.province), 'dispatched'
        FROM dispatches d LEFT JOIN cases c USING (case_id) WHERE d.requested_at IS NOT NULL
    UNION ALL
    SELECT r.completed_at, c.insurer, c.line, c.province, 'surveyed'
        FROM reviews r LEFT JOIN cases c USING (case_id)
        WHERE r.stage = 'survey' AND r.decision = 'completed' AND r.outcome <> 'duplicate'
    UNION ALL
    SELECT decided_at, insurer, line, province, decision FROM cases
        WHERE decision IN ('approved', 'rejected')
    UNION ALL
    SELECT p.filed_at, p.insurer, c.line, c.province, 'complaints'
        FROM complaints p LEFT JOIN cases c USING (case_id)
    UNION ALL
    SELECT breached_at, insurer, line, province, 'sla_breaches' FROM sla_clocks
        WHERE breached_at IS NOT NULL
    UNION ALL
    SELECT closed_at, insurer, line, province, 'closed' FROM cases WHERE status = 'closed'
    UNION ALL
    SELECT withdrawn_at, insurer, line, province, 'withdrawn' FROM cases
        WHERE status = 'withdrawn'
    UNION ALL
    -- callbacks (v2, SPEC §4.10): on the result's completed_at; a complaint callback without a
    -- case counts for its insurer only
    SELECT b.completed_at, coalesce(c.insurer, b.insurer), c.line, c.province,
           CASE WHEN b.satisfaction <= 2 THEN 'dissatisfied' ELSE 'reached' END
        FROM callbacks b LEFT JOIN cases c USING (case_id)
        WHERE b.status = 'reached' AND b.completed_at IS NOT NULL
)
SELECT (t AT TIME ZONE 'Asia/Shanghai')::date AS day, insurer, line, province,
       count(*) FILTER (WHERE k = 'reported') AS reported,
       count(*) FILTER (WHERE k = 'dispatched') AS dispatched,
       count(*) FILTER (WHERE k = 'surveyed') AS surveyed,
       count(*) FILTER (WHERE k = 'approved') AS approved,
       count(*) FILTER (WHERE k = 'rejected') AS rejected,
       count(*) FILTER (WHERE k = 'complaints') AS complaints,
       count(*) FILTER (WHERE k = 'sla_breaches') AS sla_breaches,
       count(*) FILTER (WHERE k = 'closed') AS closed,
       count(*) FILTER (WHERE k = 'withdrawn') AS withdrawn,
       count(*) FILTER (WHERE k IN ('reached', 'dissatisfied')) AS callbacks_reached,
       count(*) FILTER (WHERE k = 'dissatisfied') AS dissatisfied
FROM facts
GROUP BY 1, 2, 3, 4;
