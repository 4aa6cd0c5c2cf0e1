-- What `claimdesk dlt replay` re-published, so a second replay does nothing.
CREATE TABLE dlt_replays (
    dlt_topic    text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    replayed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlt_topic, partition, "offset")
);
