-- A case callback is cancelled at its case's withdrawal (SPEC §4.9): only attempts made before
-- that instant count (data time, so every arrival order gives the same result).
ALTER TABLE callbacks ADD COLUMN IF NOT EXISTS cancelled_at timestamptz;
