-- Core plumbing: inbox (idempotency), outbox (outputs), timeline, data quality, PII vault.
-- Every table is created in the first schema of search_path (the database's default schema).

CREATE TABLE inbox (
    source       text NOT NULL,
    event_id     text NOT NULL,
    topic        text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

-- Outgoing events, written in the same transaction as the decision that made them.
-- topic is the unprefixed base name; the relay applies the deployment's prefix.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          text NOT NULL,
    value        bytea NOT NULL,
    event_id     text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE case_timeline (
    id           bigserial PRIMARY KEY,
    case_id      text,
    complaint_id text,
    event_type   text NOT NULL,
    event_time   timestamptz NOT NULL,
    source       text NOT NULL,
    event_id     text NOT NULL,
    outcome      text NOT NULL,
    detail       text,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_timeline_case ON case_timeline (case_id, event_time);
CREATE INDEX case_timeline_complaint ON case_timeline (complaint_id) WHERE complaint_id IS NOT NULL;

-- 录入差错登记: duplicates with differing data, refused reviews, parked too long, ...
CREATE TABLE data_quality (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    event_type   text,
    source       text,
    event_id     text,
    detail       text NOT NULL,
    data_time    timestamptz,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX data_quality_once ON data_quality (kind, subject_type, subject_id, coalesce(source, ''), coalesce(event_id, ''));

-- The one table holding raw personal data (SPEC §8). Only the claimdesk_pii role reads it.
CREATE TABLE pii_vault (
    subject_type text NOT NULL,
    subject_id   text NOT NULL,
    source       text NOT NULL,
    event_id     text NOT NULL,
    fields       jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_type, subject_id, source, event_id)
);

CREATE VIEW rm_case_timeline AS
    SELECT case_id, complaint_id, event_type, event_time, source, event_id, outcome, detail, recorded_at
    FROM case_timeline;

CREATE VIEW rm_data_quality AS
    SELECT id, kind, subject_type, subject_id, event_type, source, event_id, detail, data_time, recorded_at
    FROM data_quality;
