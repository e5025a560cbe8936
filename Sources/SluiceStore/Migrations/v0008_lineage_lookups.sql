-- Lineage lookups and OpenLineage run ids.

-- `sluice lineage up NAME`: a data version by its name alone (the unique index leads with its kind).
CREATE INDEX data_version_by_name ON data_version (name);

-- This database's own id, so that the ids of its runs in OpenLineage events never collide with another's.
CREATE TABLE installation (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO installation DEFAULT VALUES;
