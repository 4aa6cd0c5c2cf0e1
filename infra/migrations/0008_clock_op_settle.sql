-- sla_clock_op() as the set-based twins in workers/handlers/effects.py apply it:
--   pause: "num_nulls(stopped_at, paused_since) = 2" instead of "stopped_at IS NULL AND
--          paused_since IS NULL", which matched the partial index sla_clocks_due; on a
--          table autovacuum had not analyzed yet the planner scanned every running clock;
--   stop : a clock settled as not breached (a late event stopped it before its due time,
--          after the sweeper had seen it overdue) also loses breach_seen_at, so the
--          "breaches in the last 15 minutes" alert agrees with the views.
CREATE OR REPLACE FUNCTION sla_clock_op(
    p_op text, p_subject_type text, p_subject_id text, p_clock text, p_at timestamptz,
    p_window_s double precision, p_warn_s double precision, p_insurer text, p_line text, p_province text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_op = 'start' THEN
        INSERT INTO sla_clocks (subject_type, subject_id, clock, insurer, line, province,
                                started_at, window_s, warn_s, due_at, warn_at)
        VALUES (p_subject_type, p_subject_id, p_clock, p_insurer, p_line, p_province, p_at,
                p_window_s, p_warn_s, p_at + make_interval(secs => p_window_s),
                p_at + make_interval(secs => p_warn_s))
        ON CONFLICT DO NOTHING;
    ELSIF p_op = 'pause' THEN
        UPDATE sla_clocks SET paused_since = p_at
        WHERE subject_type = p_subject_type AND subject_id = p_subject_id AND clock = p_clock
          AND num_nulls(stopped_at, paused_since) = 2;
    ELSIF p_op = 'resume' THEN
        UPDATE sla_clocks c SET
            paused_s = c.paused_s + greatest(0, extract(epoch FROM p_at - c.paused_since)),
            paused_since = NULL,
            due_at = c.started_at + make_interval(secs => c.window_s + c.paused_s
                     + greatest(0, extract(epoch FROM p_at - c.paused_since))),
            warn_at = c.started_at + make_interval(secs => c.warn_s + c.paused_s
                     + greatest(0, extract(epoch FROM p_at - c.paused_since)))
        WHERE subject_type = p_subject_type AND subject_id = p_subject_id AND clock = p_clock
          AND stopped_at IS NULL AND paused_since IS NOT NULL;
    ELSIF p_op = 'stop' THEN
        UPDATE sla_clocks c SET
            paused_s = c.paused_s + CASE WHEN c.paused_since IS NULL THEN 0
                       ELSE greatest(0, extract(epoch FROM p_at - c.paused_since)) END,
            paused_since = NULL,
            stopped_at = greatest(p_at, c.started_at),
            warned_at = CASE WHEN c.paused_since IS NULL AND c.warn_at <= p_at THEN c.warn_at
                             WHEN c.paused_since IS NOT NULL AND c.warn_at <= c.paused_since
                             THEN c.warn_at END,
            breached_at = CASE WHEN c.paused_since IS NULL AND c.due_at <= p_at THEN c.due_at
                               WHEN c.paused_since IS NOT NULL AND c.due_at <= c.paused_since
                               THEN c.due_at END,
            breach_seen_at = CASE WHEN c.paused_since IS NULL AND c.due_at <= p_at
                                    OR c.paused_since IS NOT NULL AND c.due_at <= c.paused_since
                                  THEN c.breach_seen_at END
        WHERE subject_type = p_subject_type AND subject_id = p_subject_id AND clock = p_clock
          AND stopped_at IS NULL;
    ELSE
        RAISE EXCEPTION 'unknown clock op %', p_op USING ERRCODE = '22023';
    END IF;
END $$;
