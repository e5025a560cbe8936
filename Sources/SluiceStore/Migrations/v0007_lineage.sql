-- Data-version lineage: the versions of data each attempt read and wrote, what code it ran, and its
-- fingerprint for skipping work already done. Pins are written once and never rewritten (triggers below).

-- One version of one piece of data: a local path, a named dataset, or a URI.
CREATE TABLE data_version (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('path', 'dataset', 'uri')),
    name           text COLLATE "C" NOT NULL,
    version        text NOT NULL,
    method         text NOT NULL CHECK (method IN ('content', 'directory', 'mtime', 'from_step')),
    size_bytes     bigint,
    first_seen_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (kind, name, version)
);

-- The edges of the lineage graph: an attempt read (input) or wrote (output) a data version.
CREATE TABLE attempt_data (
    attempt_id       bigint NOT NULL REFERENCES attempt (id),
    role             text NOT NULL CHECK (role IN ('input', 'output')),
    data_version_id  bigint NOT NULL REFERENCES data_version (id),
    path             text COLLATE "C",
    -- For an input: its version had changed when the attempt ended (the lineage cannot vouch for it).
    changed          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (attempt_id, role, data_version_id)
);
-- `lineage down` and `impact`: who read (or wrote) a version.
CREATE INDEX attempt_data_by_version ON attempt_data (data_version_id, role);
-- Lookups by path, for a path inside a named dataset.
CREATE INDEX attempt_data_by_path ON attempt_data (path) WHERE path IS NOT NULL;

-- Bytes read to hash data for a run's lineage (the stat cache spares unchanged files).
ALTER TABLE run ADD COLUMN bytes_hashed bigint;
ALTER TABLE attempt ADD COLUMN fingerprint text;
ALTER TABLE attempt ADD COLUMN code jsonb;
ALTER TABLE attempt ADD COLUMN lineage text CHECK (lineage IN ('complete', 'input_changed'));
ALTER TABLE attempt ADD COLUMN metrics jsonb;
-- A cache hit: the earlier attempt whose outputs a cached step reuses.
ALTER TABLE step_instance ADD COLUMN reused_attempt_id bigint REFERENCES attempt (id);
-- Cache lookups: the latest successful attempt with a fingerprint.
CREATE INDEX attempt_by_fingerprint ON attempt (fingerprint, id DESC) WHERE fingerprint IS NOT NULL;

-- Hashes already computed, per host and path, valid while the file's stat identity is the same.
CREATE TABLE file_stat (
    host       text NOT NULL,
    path       text COLLATE "C" NOT NULL,
    device     bigint NOT NULL,
    inode      bigint NOT NULL,
    size       bigint NOT NULL,
    mtime_ns   bigint NOT NULL,
    ctime_ns   bigint NOT NULL,
    sha256     text NOT NULL,
    PRIMARY KEY (host, path)
);

-- The id of a data version, made when first seen.
CREATE FUNCTION sluice_data_version(v_kind text, v_name text, v_version text, v_method text, v_size bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
BEGIN
    SELECT id INTO found FROM data_version WHERE kind = v_kind AND name = v_name AND version = v_version;
    IF found IS NULL THEN
        INSERT INTO data_version (kind, name, version, method, size_bytes)
        VALUES (v_kind, v_name, v_version, v_method, v_size)
        ON CONFLICT (kind, name, version) DO NOTHING
        RETURNING id INTO found;
        IF found IS NULL THEN
            SELECT id INTO found FROM data_version WHERE kind = v_kind AND name = v_name AND version = v_version;
        END IF;
    END IF;
    RETURN found;
END
$$;

-- Pins are recorded once: an attempt's fingerprint, code and lineage never change once set, and its
-- data edges are never updated or removed (flagging an input changed is the one update allowed).
CREATE FUNCTION sluice_pins_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'attempt' THEN
        IF (OLD.fingerprint IS NOT NULL AND NEW.fingerprint IS DISTINCT FROM OLD.fingerprint)
            OR (OLD.code IS NOT NULL AND NEW.code IS DISTINCT FROM OLD.code)
            OR (OLD.lineage IS NOT NULL AND NEW.lineage IS DISTINCT FROM OLD.lineage)
            OR (OLD.metrics IS NOT NULL AND NEW.metrics IS DISTINCT FROM OLD.metrics) THEN
            RAISE EXCEPTION USING ERRCODE = 'SL409', MESSAGE = 'an attempt''s pinned lineage cannot be rewritten';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' OR NEW.attempt_id <> OLD.attempt_id OR NEW.role <> OLD.role
        OR NEW.data_version_id <> OLD.data_version_id OR NEW.path IS DISTINCT FROM OLD.path
        OR (OLD.changed AND NOT NEW.changed) THEN
        RAISE EXCEPTION USING ERRCODE = 'SL409', MESSAGE = 'lineage edges cannot be rewritten';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER attempt_pins_are_final BEFORE UPDATE OF fingerprint, code, lineage, metrics ON attempt
    FOR EACH ROW EXECUTE FUNCTION sluice_pins_are_final();
CREATE TRIGGER attempt_data_is_final BEFORE UPDATE OR DELETE ON attempt_data
    FOR EACH ROW EXECUTE FUNCTION sluice_pins_are_final();
