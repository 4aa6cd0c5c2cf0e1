-- Day-expression indexes for the v2 branches of rm_daily_stats (as 0050 did for v1): approved /
-- rejected on the deciding review's time (cases.decided_at, issue 11), withdrawn on
-- withdrawn_at, callbacks on their result's completed_at (issue 12), so today's row on the
-- ops page stays an index range per branch. Each only where its column exists (migrations of
-- other issues may land later on a long-lived database); re-run safe.
DO $$
DECLARE
    s text := current_schema();
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = s
               AND table_name = 'cases' AND column_name = 'decided_at') THEN
        CREATE INDEX IF NOT EXISTS cases_decided_day
            ON cases (((decided_at AT TIME ZONE 'Asia/Shanghai')::date))
            WHERE decided_at IS NOT NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = s
               AND table_name = 'cases' AND column_name = 'withdrawn_at') THEN
        CREATE INDEX IF NOT EXISTS cases_withdrawn_day
            ON cases (((withdrawn_at AT TIME ZONE 'Asia/Shanghai')::date))
            WHERE withdrawn_at IS NOT NULL;
    END IF;
    IF to_regclass('callbacks') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS callbacks_completed_day
            ON callbacks (((completed_at AT TIME ZONE 'Asia/Shanghai')::date))
            WHERE completed_at IS NOT NULL;
        -- the weekly/monthly report reads callback results by a completed_at range
        CREATE INDEX IF NOT EXISTS callbacks_completed ON callbacks (completed_at)
            WHERE completed_at IS NOT NULL;
    END IF;
END $$;
