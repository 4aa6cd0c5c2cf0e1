-- Contract v2 (issue 12): escalations (首问负责制, SPEC §4.11) and callbacks (回访, §4.10).

-- The case owner (首问负责人): issue 11's 0020 adds it too; whichever runs first creates it.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS owner text;

-- One row per (subject, cause, level), ever: escalation_id is derived from exactly those.
-- An escalation whose mark is later taken back stays here; rm_escalations hides it.
CREATE TABLE escalations (
    escalation_id text PRIMARY KEY,
    subject_type  text NOT NULL,
    subject_id    text NOT NULL,
    case_id       text,
    complaint_id  text,
    cause         text NOT NULL,
    level         text NOT NULL CHECK (level IN ('owner', 'supervisor')),
    to_id         text NOT NULL,
    raised_at     timestamptz NOT NULL,
    due_at        timestamptz,
    -- payment_failed: set by the next later paid settlement (clock causes read the clock)
    resolved_at   timestamptz,
    summary       text NOT NULL,
    insurer       text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalations_subject_idx ON escalations (subject_type, subject_id, cause);
CREATE INDEX escalations_to_idx ON escalations (to_id, raised_at);

-- Which marks have been escalated already (the sweeper's reconcile raises the others).
ALTER TABLE sla_clocks ADD COLUMN IF NOT EXISTS warn_escalated boolean NOT NULL DEFAULT false;
ALTER TABLE sla_clocks ADD COLUMN IF NOT EXISTS breach_escalated boolean NOT NULL DEFAULT false;
CREATE INDEX sla_clocks_to_escalate ON sla_clocks (subject_type, subject_id, clock)
    WHERE (warned_at IS NOT NULL AND NOT warn_escalated)
       OR (breached_at IS NOT NULL AND NOT breach_escalated);

-- Callback requests: one per (kind, subject), ever (callback_id). enqueued = false while the
-- request waits for its case (its times still come from its trigger).
CREATE TABLE callbacks (
    callback_id    text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('dispatch', 'closing', 'complaint')),
    case_id        text,
    complaint_id   text,
    dispatch_id    text,
    adjuster_id    text,
    insurer        text,
    reason         text NOT NULL CHECK (reason IN ('sampled', 'mandatory')),
    status         text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'reached',
                       'refused', 'unreachable', 'cancelled')),
    requested_at   timestamptz NOT NULL,
    due_by         timestamptz NOT NULL,
    enqueued       boolean NOT NULL DEFAULT false,
    result_attempt integer,
    satisfaction   integer,
    praise         boolean NOT NULL DEFAULT false,
    report         boolean NOT NULL DEFAULT false,
    completed_at   timestamptz,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callbacks_case_idx ON callbacks (case_id);
CREATE INDEX callbacks_adjuster_idx ON callbacks (adjuster_id, completed_at);
CREATE INDEX callbacks_waiting ON callbacks (case_id) WHERE NOT enqueued;

-- Every attempt (business key callback_id, attempt), applied or not. The comment is PII and
-- lives in the vault only.
CREATE TABLE callback_attempts (
    callback_id  text NOT NULL,
    attempt      integer NOT NULL CHECK (attempt BETWEEN 1 AND 3),
    outcome      text NOT NULL,
    satisfaction integer,
    praise       boolean NOT NULL,
    report       boolean NOT NULL,
    agent_id     text NOT NULL,
    completed_at timestamptz NOT NULL,
    applied      text NOT NULL,
    source       text NOT NULL,
    event_id     text NOT NULL,
    data_hash    text NOT NULL,
    PRIMARY KEY (callback_id, attempt)
);

CREATE VIEW rm_callbacks AS
    SELECT b.callback_id, b.kind, b.case_id, b.complaint_id, b.dispatch_id, b.adjuster_id,
           b.insurer, b.reason, b.status,
           (SELECT count(*)::int FROM callback_attempts a WHERE a.callback_id = b.callback_id)
               AS attempts,
           b.satisfaction, b.praise, b.report, b.requested_at, b.due_by, b.completed_at,
           b.result_attempt, b.satisfaction <= 2 AS dissatisfied
    FROM callbacks b;

-- Only escalations whose mark still stands; a clock escalation resolves when its clock stops.
CREATE VIEW rm_escalations AS
    SELECT e.escalation_id, e.subject_type, e.subject_id, e.case_id, e.cause, e.level, e.to_id,
           e.raised_at, e.due_at,
           CASE WHEN c.clock IS NULL THEN e.resolved_at ELSE c.stopped_at END AS resolved_at,
           e.complaint_id, e.summary, e.insurer
    FROM escalations e
    LEFT JOIN sla_clocks c ON c.subject_type = e.subject_type AND c.subject_id = e.subject_id
                          AND c.clock = e.cause
    WHERE c.clock IS NULL
       OR (e.level = 'owner' AND c.warned_at IS NOT NULL)
       OR (e.level = 'supervisor' AND c.breached_at IS NOT NULL);

-- Grants as in 0006.
DO $$
DECLARE
    s text := current_schema();
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['escalations', 'callbacks', 'callback_attempts'] LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO claimdesk_worker', s, t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['rm_callbacks', 'rm_escalations'] LOOP
        EXECUTE format('GRANT SELECT ON %I.%I TO claimdesk_reader, claimdesk_worker', s, t);
    END LOOP;
END $$;
