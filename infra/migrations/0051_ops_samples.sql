-- Ops page history (issue 14): what the page charts "over the last hours" that no table keeps
-- a history of (queue depth, open escalations, clocks at risk). One process samples per
-- minute (monitor_runs 'ops_samples'); rows older than 8 days are pruned by the sampler.
CREATE TABLE IF NOT EXISTS ops_samples (
    sampled_at timestamptz NOT NULL,
    metric     text NOT NULL,
    value      double precision NOT NULL,
    PRIMARY KEY (sampled_at, metric)
);

-- rm_callbacks (0031) may have been created after 0050 defined the scorecard on this database:
-- define it again so its callback columns are live.
SELECT claimdesk_define_scorecard();

DO $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.ops_samples TO claimdesk_worker',
                   current_schema());
END $$;
