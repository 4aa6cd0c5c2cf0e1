-- Contract v2, part 1 (issue 11): customer notices, payment settlement and closure (结案),
-- withdrawal (撤案). SPEC §3, §4.1, §4.4, §4.8, §4.9, §4.12, §5, §8.

-- v2 statuses (SPEC §4.1, §3 dispatch.assigned).
ALTER TABLE cases DROP CONSTRAINT IF EXISTS cases_status;
ALTER TABLE cases ADD CONSTRAINT cases_status CHECK (status IN ('reported', 'dispatched',
    'surveyed', 'initial_review', 'second_review', 'joint_review', 'documents_pending',
    'approved', 'rejected', 'closed', 'withdrawn'));
ALTER TABLE dispatches DROP CONSTRAINT IF EXISTS dispatches_status_check;
ALTER TABLE dispatches ADD CONSTRAINT dispatches_status_check
    CHECK (status IN ('queued', 'assigned', 'surveyed', 'cancelled'));

-- The deciding review (approved/rejected), for rm_daily_stats (counted on its completed_at,
-- no longer on closed_at, which now means "became terminal"); owner (SPEC §4.11, v2 view
-- column); withdrawn_at (rm_daily_stats.withdrawn).
ALTER TABLE cases ADD COLUMN IF NOT EXISTS decision text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS decided_at timestamptz;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS owner text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS withdrawn_at timestamptz;
UPDATE cases SET decision = status, decided_at = closed_at
    WHERE status IN ('approved', 'rejected') AND decided_at IS NULL;
UPDATE cases SET closed_at = NULL WHERE status = 'approved';
UPDATE cases SET owner = 'desk:' || insurer WHERE owner IS NULL;

-- Outputs that carry PII (notice.requested, callback.requested) are stored without it; the
-- relay, connected as the PII role, fills the JSON paths listed here from pii_vault when it
-- publishes (infra/pii_fill.py). Never holds a personal value, only where to find one.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS pii_ref jsonb;

-- One-time notice of ALL missing documents (SPEC §4.12): the list, not only its count.
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS missing_documents_list text[];

-- Customer notices (SPEC §4.12): one row per (kind, subject, trigger), ever. A notice whose
-- case is not known yet waits here (enqueued = false) and is enqueued when the case arrives.
CREATE TABLE notices (
    notice_id     text PRIMARY KEY,
    kind          text NOT NULL,
    case_id       text,
    complaint_id  text,
    trigger_id    text NOT NULL,
    recipient     text NOT NULL CHECK (recipient IN ('reporter', 'complainant')),
    params        jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    due_by        timestamptz NOT NULL,
    enqueued      boolean NOT NULL DEFAULT false,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notices_case_idx ON notices (case_id, kind);
CREATE INDEX notices_waiting ON notices (case_id) WHERE NOT enqueued;

-- Settlements (SPEC §4.8): every payment.settled applied or refused, by settlement_id.
CREATE TABLE settlements (
    settlement_id text PRIMARY KEY,
    payout_id     text NOT NULL,
    case_id       text NOT NULL,
    status        text NOT NULL CHECK (status IN ('paid', 'failed')),
    amount        numeric(14, 2) NOT NULL,
    settled_at    timestamptz NOT NULL,
    failure_code  text,
    bank_ref      text,
    outcome       text NOT NULL,
    source        text NOT NULL,
    event_id      text NOT NULL,
    data_hash     text NOT NULL
);
CREATE INDEX settlements_payout_idx ON settlements (payout_id, settled_at, settlement_id);

ALTER TABLE payouts ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'approved'
    CHECK (status IN ('approved', 'paid', 'failed'));
ALTER TABLE payouts ADD COLUMN IF NOT EXISTS paid_at timestamptz;
ALTER TABLE payouts ADD COLUMN IF NOT EXISTS failed_at timestamptz;
ALTER TABLE payouts ADD COLUMN IF NOT EXISTS failure_code text;
ALTER TABLE payouts ADD COLUMN IF NOT EXISTS first_paid_at timestamptz;
CREATE INDEX payouts_status_idx ON payouts (insurer, status);

-- Withdrawals (SPEC §4.9), one per case_id (business key), applied or refused.
CREATE TABLE withdrawals (
    case_id       text PRIMARY KEY,
    reason_code   text NOT NULL,
    requested_by  text,
    withdrawn_at  timestamptz NOT NULL,
    outcome       text NOT NULL,
    source        text NOT NULL,
    event_id      text NOT NULL,
    data_hash     text NOT NULL
);

-- Views (appended columns only, so CREATE OR REPLACE keeps grants and dependants).
CREATE OR REPLACE VIEW rm_cases AS
    SELECT case_id, insurer, report_no, policy_no_masked, line, channel, province, city, district,
           cause, status, stage, docs_stage, cat_code, cat_mode, injuries, disputed,
           estimated_amount, approved_amount, reported_at, occurred_at, closed_at, updated_at,
           owner, decision, decided_at, withdrawn_at
    FROM cases;

CREATE OR REPLACE VIEW rm_reviews AS
    SELECT review_id, stage, case_id, complaint_id, dispatch_id, reviewer_id, decision, amount,
           disputed, missing_documents, completed_at, outcome, missing_documents_list
    FROM reviews;

CREATE OR REPLACE VIEW rm_payouts AS
    SELECT p.payout_id, p.case_id, p.review_id, p.insurer, p.amount, p.approval_path,
           p.approved_at, p.pay_by, p.cat_code, o.published_at,
           p.status, p.paid_at, p.failed_at, p.failure_code
    FROM payouts p LEFT JOIN outbox o ON o.event_id = p.event_id;

CREATE VIEW rm_settlements AS
    SELECT settlement_id, payout_id, case_id, status, amount, settled_at, failure_code, bank_ref,
           outcome
    FROM settlements;

CREATE VIEW rm_notices AS
    SELECT n.notice_id, n.kind, n.case_id, n.complaint_id, n.created_at, n.due_by,
           o.published_at, n.trigger_id, n.enqueued
    FROM notices n LEFT JOIN outbox o ON o.event_id = n.notice_id;

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
       count(*) FILTER (WHERE k = 'withdrawn') AS withdrawn
FROM facts
GROUP BY 1, 2, 3, 4;

-- Grants as in 0006: the worker keeps the new tables, the reader sees the new views.
DO $$
DECLARE
    s text := current_schema();
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notices', 'settlements', 'withdrawals'] LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO claimdesk_worker', s, t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['rm_settlements', 'rm_notices'] LOOP
        EXECUTE format('GRANT SELECT ON %I.%I TO claimdesk_reader, claimdesk_worker', s, t);
    END LOOP;
END $$;
