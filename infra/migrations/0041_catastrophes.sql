-- Declared catastrophes (SPEC §4.5 v2, §5 rm_catastrophes).
-- cases.cat_code becomes the EFFECTIVE cat_code (what rm_cases and later payouts show): the
-- insurer's, else the declared one covering the case. insurer_cat_code keeps the insurer's
-- alone, which is what "has a cat_code" means for catastrophe mode (§4.3).
ALTER TABLE cases ADD COLUMN insurer_cat_code text;
UPDATE cases SET insurer_cat_code = cat_code;
CREATE INDEX cases_cat_code ON cases (cat_code) WHERE cat_code IS NOT NULL;
CREATE INDEX cases_province_uncoded ON cases (province) WHERE insurer_cat_code IS NULL;

-- Every version is kept; (cat_code, declared_at) is the idempotency key.
CREATE TABLE catastrophe_versions (
    cat_code       text NOT NULL,
    declared_at    timestamptz NOT NULL,
    name           text NOT NULL,
    peril          text NOT NULL,
    areas          jsonb NOT NULL,
    occurred_from  timestamptz NOT NULL,
    occurred_to    timestamptz,
    source         text NOT NULL,
    event_id       text NOT NULL,
    data_hash      text NOT NULL,
    PRIMARY KEY (cat_code, declared_at)
);

CREATE VIEW rm_catastrophes AS
    SELECT v.cat_code, v.name, v.peril, v.areas, v.occurred_from, v.occurred_to, v.declared_at,
           (SELECT count(*) FROM cases c WHERE c.cat_code = v.cat_code) AS covered_cases,
           (SELECT count(*) FROM catastrophe_versions w WHERE w.cat_code = v.cat_code)
               AS versions
    FROM catastrophe_versions v
    WHERE v.declared_at = (SELECT max(w.declared_at) FROM catastrophe_versions w
                           WHERE w.cat_code = v.cat_code);

-- Grants as in 0006.
DO $$
DECLARE
    s text := current_schema();
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.catastrophe_versions'
                   ' TO claimdesk_worker', s);
    -- surge_hold (0040) was added without its grant
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.surge_hold TO claimdesk_worker', s);
    EXECUTE format('GRANT SELECT ON %I.rm_catastrophes TO claimdesk_reader, claimdesk_worker', s);
END $$;
