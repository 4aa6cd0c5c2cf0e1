-- Surge windows and baselines, monitor bookkeeping, consumer lag reports (SPEC §4.5, §4.6).

ALTER TABLE sla_clocks ADD COLUMN breach_seen_at timestamptz;
CREATE INDEX sla_clocks_breach_seen ON sla_clocks (breach_seen_at) WHERE breach_seen_at IS NOT NULL;

-- Tumbling 10-minute windows on reported_at; scope_type 'city' (key province|city) or 'insurer'.
CREATE TABLE surge_windows (
    scope_type   text NOT NULL,
    scope_key    text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (scope_type, scope_key, window_start)
);

CREATE TABLE surge_state (
    scope_type          text NOT NULL,
    scope_key           text NOT NULL,
    baseline            numeric NOT NULL DEFAULT 0,
    level               text,
    calm_windows        integer NOT NULL DEFAULT 0,
    last_closed_window  timestamptz,
    alert_id            text,
    PRIMARY KEY (scope_type, scope_key)
);

-- Serialises periodic checks across worker processes (one check per interval).
CREATE TABLE monitor_runs (
    name        text PRIMARY KEY,
    last_run_at timestamptz NOT NULL
);

-- Each worker reports the lag of the partitions it owns; the monitor reads fresh rows.
CREATE TABLE consumer_lag (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    lag_messages bigint NOT NULL,
    lag_seconds  double precision NOT NULL,
    reported_at  timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);
