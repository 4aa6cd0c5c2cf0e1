-- The delay notice (SPEC §4.12) is requested once per determination clock whose warning
-- mark is set. A flag per clock (as 0031's warn_escalated for escalations) keeps the
-- sweeper's scan to the clocks not handled yet instead of an anti-join over every warned
-- clock on each sweep.
ALTER TABLE sla_clocks ADD COLUMN IF NOT EXISTS delay_noticed boolean NOT NULL DEFAULT false;
UPDATE sla_clocks c SET delay_noticed = true
    WHERE c.clock = 'determination' AND c.warned_at IS NOT NULL
      AND EXISTS (SELECT 1 FROM notices n WHERE n.case_id = c.subject_id AND n.kind = 'delay');
CREATE INDEX sla_clocks_delay_due ON sla_clocks (subject_id)
    WHERE clock = 'determination' AND warned_at IS NOT NULL AND NOT delay_noticed;
