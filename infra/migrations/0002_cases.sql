-- Case lifecycle read models: cases, dispatches, roster, reviews, complaints, parking, payouts.

CREATE TABLE cases (
    case_id            text PRIMARY KEY,
    insurer            text NOT NULL,
    report_no          text NOT NULL,
    policy_no_masked   text NOT NULL,
    line               text NOT NULL,
    channel            text NOT NULL,
    province           text NOT NULL,
    city               text NOT NULL,
    district           text,
    cause              text NOT NULL,
    status             text NOT NULL,
    stage              text,
    docs_stage         text,
    cat_code           text,
    cat_mode           boolean NOT NULL DEFAULT false,
    injuries           integer NOT NULL DEFAULT 0,
    disputed           boolean NOT NULL DEFAULT false,
    estimated_amount   numeric(14, 2) NOT NULL,
    approved_amount    numeric(14, 2),
    reported_at        timestamptz NOT NULL,
    occurred_at        timestamptz NOT NULL,
    closed_at          timestamptz,
    updated_at         timestamptz NOT NULL,
    source             text NOT NULL,
    event_id           text NOT NULL,
    data_hash          text NOT NULL,
    CONSTRAINT cases_status CHECK (status IN ('reported', 'dispatched', 'surveyed', 'initial_review',
        'second_review', 'joint_review', 'documents_pending', 'approved', 'rejected'))
);
CREATE INDEX cases_status_idx ON cases (status, stage);
CREATE INDEX cases_city_idx ON cases (province, city);
CREATE INDEX cases_reported_idx ON cases (reported_at);

CREATE TABLE adjusters (
    adjuster_id       text PRIMARY KEY,
    name_masked       text NOT NULL,
    province          text NOT NULL,
    cities            text[] NOT NULL,
    skills            text[] NOT NULL,
    capacity          integer NOT NULL CHECK (capacity >= 0),
    active            boolean NOT NULL,
    in_roster         boolean NOT NULL DEFAULT true,
    last_assigned_at  timestamptz
);

CREATE TABLE dispatches (
    dispatch_id           text PRIMARY KEY,
    case_id               text NOT NULL,
    task                  text,
    skill                 text,
    province              text,
    city                  text,
    district              text,
    urgency               text,
    preferred_adjuster_id text,
    requested_at          timestamptz,
    status                text NOT NULL CHECK (status IN ('queued', 'assigned', 'surveyed')),
    adjuster_id           text,
    decided_at            timestamptz,
    survey_due_by         timestamptz,
    route_reason          text,
    closed_at             timestamptz,
    closed_by_review      text,
    source                text,
    event_id              text,
    data_hash             text
);
CREATE INDEX dispatches_case_idx ON dispatches (case_id);
CREATE INDEX dispatches_open_load ON dispatches (adjuster_id) WHERE status = 'assigned';
CREATE INDEX dispatches_queued ON dispatches (province, city) WHERE status = 'queued';

CREATE TABLE reviews (
    review_id         text PRIMARY KEY,
    stage             text NOT NULL,
    case_id           text,
    complaint_id      text,
    dispatch_id       text,
    reviewer_id       text NOT NULL,
    decision          text NOT NULL,
    amount            numeric(14, 2),
    disputed          boolean NOT NULL,
    missing_documents integer NOT NULL DEFAULT 0,
    completed_at      timestamptz NOT NULL,
    outcome           text NOT NULL,
    source            text NOT NULL,
    event_id          text NOT NULL,
    data_hash         text NOT NULL
);
CREATE INDEX reviews_case_idx ON reviews (case_id);

CREATE TABLE complaints (
    complaint_id        text PRIMARY KEY,
    case_id             text,
    insurer             text NOT NULL,
    channel             text NOT NULL,
    category            text NOT NULL,
    against_adjuster_id text,
    owner               text NOT NULL,
    status              text NOT NULL CHECK (status IN ('open', 'merged', 'upheld', 'dismissed')),
    merged_into         text,
    city                text,
    filed_at            timestamptz NOT NULL,
    due_at              timestamptz NOT NULL,
    closed_at           timestamptz,
    closed_by_review    text,
    source              text NOT NULL,
    event_id            text NOT NULL,
    data_hash           text NOT NULL
);
CREATE INDEX complaints_open_idx ON complaints (case_id, category) WHERE status = 'open';
CREATE INDEX complaints_filed_idx ON complaints (filed_at);

-- Reviews waiting for their case (or complaint). Payload holds no PII (the reason is in the vault).
CREATE TABLE parked_events (
    source       text NOT NULL,
    event_id     text NOT NULL,
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    data_time    timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);
CREATE INDEX parked_subject_idx ON parked_events (subject_type, subject_id, data_time, event_id);

CREATE TABLE payouts (
    payout_id     text PRIMARY KEY,
    case_id       text NOT NULL UNIQUE,
    review_id     text NOT NULL,
    insurer       text NOT NULL,
    report_no     text NOT NULL,
    amount        numeric(14, 2) NOT NULL,
    approval_path text NOT NULL,
    approved_at   timestamptz NOT NULL,
    pay_by        timestamptz NOT NULL,
    cat_code      text,
    event_id      text NOT NULL
);

CREATE TABLE sla_clocks (
    subject_type  text NOT NULL,
    subject_id    text NOT NULL,
    clock         text NOT NULL,
    insurer       text,
    line          text,
    province      text,
    started_at    timestamptz NOT NULL,
    window_s      double precision NOT NULL,
    warn_s        double precision NOT NULL,
    paused_s      double precision NOT NULL DEFAULT 0,
    paused_since  timestamptz,
    due_at        timestamptz NOT NULL,
    warn_at       timestamptz NOT NULL,
    warned_at     timestamptz,
    breached_at   timestamptz,
    stopped_at    timestamptz,
    PRIMARY KEY (subject_type, subject_id, clock)
);
CREATE INDEX sla_clocks_due ON sla_clocks (warn_at) WHERE stopped_at IS NULL AND paused_since IS NULL;

CREATE TABLE alerts (
    alert_id     text PRIMARY KEY,
    kind         text NOT NULL,
    severity     text NOT NULL,
    scope        jsonb NOT NULL,
    scope_key    text NOT NULL,
    summary      text NOT NULL,
    value        double precision,
    threshold    double precision,
    staffing     jsonb,
    opened_at    timestamptz NOT NULL,
    resolved_at  timestamptz,
    clear_checks integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, scope_key) WHERE resolved_at IS NULL;

CREATE VIEW rm_cases AS
    SELECT case_id, insurer, report_no, policy_no_masked, line, channel, province, city, district,
           cause, status, stage, docs_stage, cat_code, cat_mode, injuries, disputed,
           estimated_amount, approved_amount, reported_at, occurred_at, closed_at, updated_at
    FROM cases;

CREATE VIEW rm_dispatches AS
    SELECT dispatch_id, case_id, adjuster_id, status, urgency, task, skill, province, city, district,
           requested_at, decided_at, survey_due_by, route_reason, closed_at
    FROM dispatches;

CREATE VIEW rm_adjuster_load AS
    SELECT a.adjuster_id, a.name_masked, a.province, a.cities, a.skills, a.capacity, a.active,
           a.in_roster, coalesce(l.load, 0) AS load, a.last_assigned_at
    FROM adjusters a
    LEFT JOIN (SELECT adjuster_id, count(*)::int AS load FROM dispatches
               WHERE status = 'assigned' GROUP BY adjuster_id) l USING (adjuster_id);

CREATE VIEW rm_reviews AS
    SELECT review_id, stage, case_id, complaint_id, dispatch_id, reviewer_id, decision, amount,
           disputed, missing_documents, completed_at, outcome
    FROM reviews;

CREATE VIEW rm_complaints AS
    SELECT complaint_id, case_id, insurer, channel, category, against_adjuster_id, owner, status,
           merged_into, city, filed_at, due_at, closed_at
    FROM complaints;

CREATE VIEW rm_sla_clocks AS
    SELECT subject_type, subject_id, clock, insurer, line, province, started_at, due_at,
           warn_at, warned_at, breached_at, stopped_at, paused_since IS NOT NULL AS paused
    FROM sla_clocks;

CREATE VIEW rm_payouts AS
    SELECT p.payout_id, p.case_id, p.review_id, p.insurer, p.amount, p.approval_path,
           p.approved_at, p.pay_by, p.cat_code, o.published_at
    FROM payouts p LEFT JOIN outbox o ON o.event_id = p.event_id;

CREATE VIEW rm_alerts AS
    SELECT alert_id, kind, severity, scope, summary, value, threshold, staffing, opened_at, resolved_at
    FROM alerts;

-- Per Asia/Shanghai day of each event's own data timestamp.
CREATE VIEW rm_daily_stats AS
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
    SELECT closed_at, insurer, line, province, status FROM cases
        WHERE status IN ('approved', 'rejected')
    UNION ALL
    SELECT p.filed_at, p.insurer, c.line, c.province, 'complaints'
        FROM complaints p LEFT JOIN cases c USING (case_id)
    UNION ALL
    SELECT breached_at, insurer, line, province, 'sla_breaches' FROM sla_clocks
        WHERE breached_at IS NOT NULL
)
SELECT (t AT TIME ZONE 'Asia/Shanghai')::date AS day, insurer, line, province,
       count(*) FILTER (WHERE k = 'reported') AS reported,
       count(*) FILTER (WHERE k = 'dispatched') AS dispatched,
       count(*) FILTER (WHERE k = 'surveyed') AS surveyed,
       count(*) FILTER (WHERE k = 'approved') AS approved,
       count(*) FILTER (WHERE k = 'rejected') AS rejected,
       count(*) FILTER (WHERE k = 'complaints') AS complaints,
       count(*) FILTER (WHERE k = 'sla_breaches') AS sla_breaches
FROM facts
GROUP BY 1, 2, 3, 4;
