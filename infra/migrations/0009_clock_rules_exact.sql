-- SLA clocks under SPEC v2 "exact" (§4.4); the rules in workers/rules/sla.py are the reference.
-- 1. sla_clock_op() was a plpgsql twin of the set-based statements that nothing ran any more
--    (only a test compared it with them); the statements are in workers/store/clocks.py.
DROP FUNCTION IF EXISTS sla_clock_op(text, text, text, text, timestamptz, double precision,
                                     double precision, text, text, text);
-- 2. Re-settle already stopped clocks: a clock stopped at t keeps a mark only if t is strictly
--    after the mark's instant (the old statements kept a mark AT the stop: "due_at <= at"), and
--    a withdrawn breach loses breach_seen_at. A stop while paused now also counts the open
--    pause in due_at/warn_at (paused_s already did), so the row agrees with itself.
--    Not recoverable here (the pause history is not stored): a warning the old stop moved to a
--    later warn_at after a pause, or a mark exactly at the instant of a pause before a stop.
UPDATE sla_clocks SET
    warned_at = CASE WHEN warned_at < stopped_at THEN warned_at END,
    breached_at = CASE WHEN breached_at < stopped_at THEN breached_at END,
    breach_seen_at = CASE WHEN breached_at < stopped_at THEN breach_seen_at END
WHERE stopped_at IS NOT NULL AND (warned_at >= stopped_at OR breached_at >= stopped_at);
UPDATE sla_clocks SET
    due_at = started_at + make_interval(secs => window_s + paused_s),
    warn_at = started_at + make_interval(secs => warn_s + paused_s)
WHERE stopped_at IS NOT NULL
  AND due_at <> started_at + make_interval(secs => window_s + paused_s);
