-- Adjuster scorecard (考核, SPEC §5 rm_adjuster_scorecard) and the indexes that keep the ops
-- page's "today" statistics fast with a year of data (issue 14).

-- rm_adjuster_scorecard: one row per (adjuster, Asia/Shanghai calendar month of each fact's own
-- data time). Facts belong to the dispatch's adjuster at survey time (a surveyed dispatch never
-- changes adjuster again; an open one counts for its current adjuster):
--   dispatches_assigned  dispatches with an adjuster, in the month of requested_at;
--   surveys_*            the survey review that closed the dispatch (closed_by_review, so a
--                        second survey of the same dispatch never counts), month of completed_at;
--                        on time = completed, its survey clock stopped, no breach mark kept;
--   complaints(_upheld)  complaints against the adjuster, counted once (有效投诉: complaints
--                        merged into another are not counted again), month of filed_at;
--   callbacks            the result of callbacks about the adjuster (reached or refused), month
--                        of the result's completed_at; satisfaction over reached ones.
-- Rates and averages are null when their denominator is 0. Callback columns are null until
-- rm_callbacks exists (issue 12): the definition is a function so a later migration re-runs it.
-- name_masked (masked per §8) comes from the roster, null for adjusters no longer in it.
CREATE OR REPLACE FUNCTION claimdesk_define_scorecard() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    has_callbacks boolean := to_regclass('rm_callbacks') IS NOT NULL;
    none text := CASE WHEN has_callbacks THEN '0' ELSE 'NULL::int' END;
    callbacks text := '';
    s text := current_schema();
BEGIN
    IF has_callbacks THEN
        callbacks := $q$
    UNION ALL
    SELECT adjuster_id, completed_at, 0, 0, 0, 0, 0, 0,
           (status = 'reached')::int,
           CASE WHEN status = 'reached' THEN satisfaction END,
           (status = 'reached' AND satisfaction <= 2)::int,
           coalesce(praise, false)::int, coalesce(report, false)::int
        FROM rm_callbacks
        WHERE status IN ('reached', 'refused') AND adjuster_id IS NOT NULL
          AND completed_at IS NOT NULL$q$;
    END IF;
    EXECUTE 'DROP VIEW IF EXISTS rm_adjuster_scorecard';
    EXECUTE format($v$CREATE VIEW rm_adjuster_scorecard AS
WITH facts (adjuster_id, t, assigned, completed, unable, on_time, complaint, upheld,
            reached, satisfaction, dissatisfied, praise, report) AS (
    SELECT adjuster_id, requested_at, 1, 0, 0, 0, 0, 0, %1$s, NULL::int, %1$s, %1$s, %1$s
        FROM dispatches
        WHERE adjuster_id IS NOT NULL AND requested_at IS NOT NULL
    UNION ALL
    SELECT d.adjuster_id, r.completed_at, 0,
           (r.decision = 'completed')::int, (r.decision = 'unable')::int,
           (r.decision = 'completed' AND c.stopped_at IS NOT NULL AND c.breached_at IS NULL)::int,
           0, 0, %1$s, NULL::int, %1$s, %1$s, %1$s
        FROM reviews r
        JOIN dispatches d ON d.dispatch_id = r.dispatch_id AND d.closed_by_review = r.review_id
        LEFT JOIN sla_clocks c ON c.subject_type = 'dispatch' AND c.subject_id = d.dispatch_id
                              AND c.clock = 'survey'
        WHERE r.stage = 'survey' AND d.adjuster_id IS NOT NULL
    UNION ALL
    SELECT against_adjuster_id, filed_at, 0, 0, 0, 0, 1, (status = 'upheld')::int,
           %1$s, NULL::int, %1$s, %1$s, %1$s
        FROM complaints
        WHERE against_adjuster_id IS NOT NULL AND merged_into IS NULL%2$s
)
SELECT f.adjuster_id,
       date_trunc('month', f.t AT TIME ZONE 'Asia/Shanghai')::date AS month,
       sum(f.assigned)::int AS dispatches_assigned,
       sum(f.completed)::int AS surveys_completed,
       sum(f.unable)::int AS surveys_unable,
       sum(f.on_time)::int AS surveys_on_time,
       round(sum(f.on_time)::numeric / nullif(sum(f.completed), 0), 4) AS survey_on_time_rate,
       sum(f.complaint)::int AS complaints,
       sum(f.upheld)::int AS complaints_upheld,
       sum(f.reached)::int AS callbacks_reached,
       round(avg(f.satisfaction), 2) AS satisfaction_avg,
       sum(f.dissatisfied)::int AS dissatisfied,
       sum(f.praise)::int AS praise,
       sum(f.report)::int AS reports,
       a.name_masked
FROM facts f LEFT JOIN adjusters a ON a.adjuster_id = f.adjuster_id
GROUP BY f.adjuster_id, 2, a.name_masked$v$, none, callbacks);
    EXECUTE format('GRANT SELECT ON %I.rm_adjuster_scorecard TO claimdesk_reader, claimdesk_worker',
                   s);
END $fn$;

SELECT claimdesk_define_scorecard();

-- rm_daily_stats is grouped by (t AT TIME ZONE 'Asia/Shanghai')::date; a filter on `day` is
-- pushed into each branch of its UNION ALL, where these expression indexes turn it into an
-- index range instead of a scan of a year of rows (the ops page reads today's rows every few
-- seconds). Partial where the branch filters, so the hot-path write cost stays small.
CREATE INDEX IF NOT EXISTS cases_reported_day
    ON cases (((reported_at AT TIME ZONE 'Asia/Shanghai')::date));
CREATE INDEX IF NOT EXISTS dispatches_requested_day
    ON dispatches (((requested_at AT TIME ZONE 'Asia/Shanghai')::date))
    WHERE requested_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS reviews_survey_day
    ON reviews (((completed_at AT TIME ZONE 'Asia/Shanghai')::date)) WHERE stage = 'survey';
CREATE INDEX IF NOT EXISTS complaints_filed_day
    ON complaints (((filed_at AT TIME ZONE 'Asia/Shanghai')::date));
CREATE INDEX IF NOT EXISTS sla_clocks_breached_day
    ON sla_clocks (((breached_at AT TIME ZONE 'Asia/Shanghai')::date))
    WHERE breached_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS cases_closed_day
    ON cases (((closed_at AT TIME ZONE 'Asia/Shanghai')::date)) WHERE closed_at IS NOT NULL;
-- The SLA panel: clocks still running, and breaches of the last 24 h (a BitmapOr of the two).
CREATE INDEX IF NOT EXISTS sla_clocks_running ON sla_clocks (clock) WHERE stopped_at IS NULL;
CREATE INDEX IF NOT EXISTS sla_clocks_breached ON sla_clocks (breached_at)
    WHERE breached_at IS NOT NULL;
-- The ops page's surge chart reads the last hours of windows of every scope.
CREATE INDEX IF NOT EXISTS surge_windows_start ON surge_windows (window_start);
