-- Contract v2 (issue 12): complaint extensions (SPEC §4.7). The first accepted extension sets
-- the window to 30 days from filing, the second to 60; rm_complaints shows the new due_at
-- and when it was last extended. received_by: who took the complaint (owner-level
-- escalations go there, never to the adjuster complained about, §4.11).
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS extensions integer NOT NULL DEFAULT 0;
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS extended_at timestamptz;
ALTER TABLE complaints ADD COLUMN IF NOT EXISTS received_by text;

-- Complaints merged into a closed one are closed with it (status upheld/dismissed), so
-- "counted once" (有效投诉) now reads merged_into IS NULL instead of status <> 'merged'.
CREATE INDEX IF NOT EXISTS complaints_merged_idx ON complaints (merged_into)
    WHERE merged_into IS NOT NULL;

CREATE OR REPLACE VIEW rm_complaints AS
    SELECT complaint_id, case_id, insurer, channel, category, against_adjuster_id, owner, status,
           merged_into, city, filed_at, due_at, closed_at, extended_at
    FROM complaints;
