-- The window in which the open surge of a scope opened (NULL while none is open).
-- Windows that began before it can close after the surge opened (the monitor catching up
-- after an outage, or late data): they must not count toward resolving it (SPEC §4.5).
ALTER TABLE surge_state ADD COLUMN surge_window timestamptz;
