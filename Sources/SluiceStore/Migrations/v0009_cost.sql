-- Cost: the tags of every attempt, a price book with its history, cost lines per attempt and resource, a
-- per-attempt summary for reports, and the cost cached steps saved. See docs/cost.md.

-- One distinct set of effective tags (a JSON object of strings). Steps and attempts point at one, so that a
-- report groups a few thousand sets instead of a million attempts.
CREATE TABLE tag_set (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tags         jsonb NOT NULL CHECK (jsonb_typeof(tags) = 'object'),
    digest       text NOT NULL UNIQUE,
    -- The tag set of just its dag and step: what right-sizing groups by (NULL for this set itself).
    step_set_id  bigint REFERENCES tag_set (id)
);

-- The id of a tag set, made when first seen (jsonb's text form is canonical: keys sorted, no duplicates).
CREATE FUNCTION sluice_tag_set(v_tags jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
    key text := md5(v_tags::text);
    step jsonb := jsonb_strip_nulls(jsonb_build_object('dag', v_tags->'dag', 'step', v_tags->'step'));
BEGIN
    SELECT id INTO found FROM tag_set WHERE digest = key;
    IF found IS NULL THEN
        INSERT INTO tag_set (tags, digest, step_set_id)
        VALUES (v_tags, key, CASE WHEN step = v_tags THEN NULL ELSE sluice_tag_set(step) END)
        ON CONFLICT (digest) DO NOTHING RETURNING id INTO found;
        IF found IS NULL THEN
            SELECT id INTO found FROM tag_set WHERE digest = key;
        END IF;
    END IF;
    RETURN found;
END
$$;

-- A step instance's effective tags, fixed when the run is planned; each attempt snapshots them when it starts
-- (copied from its step instance by the statement that inserts it, so it needs no key check of its own).
ALTER TABLE step_instance ADD COLUMN tag_set_id bigint REFERENCES tag_set (id);
ALTER TABLE attempt ADD COLUMN tag_set_id bigint;

-- The price book. A row applies from `effective_from` until a later row for the same resource and selectors;
-- the most specific row (executor, partition, host class) wins over a general one. A row in effect before an
-- attempt that has been costed can no longer be changed or removed (trigger below).
CREATE TABLE price (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource        text NOT NULL CHECK (resource IN ('cpu', 'memory', 'gpu', 'wall', 'attempt')),
    unit_price      numeric NOT NULL CHECK (unit_price >= 0),
    currency        text NOT NULL,
    basis           text NOT NULL DEFAULT 'max' CHECK (basis IN ('max', 'requested', 'used')),
    executor        text,
    partition       text,
    host_class      text,
    effective_from  timestamptz NOT NULL,
    source          text NOT NULL,
    set_by          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE NULLS NOT DISTINCT (resource, executor, partition, host_class, effective_from)
);
CREATE INDEX price_by_resource ON price (resource, effective_from DESC);

-- One line per attempt and resource, written when the attempt ends: what it asked for and used, over how
-- many hours, the quantity charged under the price's basis, the price row, and the amount (NULL while no
-- price applied: `sluice cost backfill` prices it later).
--
-- Like the event log (migration 6), the rows written per attempt carry no foreign keys: the function below
-- writes them from the attempt, price and tag rows it has just read, nothing deletes those, and the keys
-- would cost every step about twenty referential checks.
CREATE TABLE cost_line (
    attempt_id  bigint NOT NULL,
    resource    text NOT NULL,
    unit        text NOT NULL,
    basis       text NOT NULL,
    requested   double precision,
    used        double precision,
    hours       double precision NOT NULL,
    quantity    double precision NOT NULL,
    -- Requested but not used, in the same unit (CPU and memory; a GPU counts as used once given).
    unused      double precision NOT NULL,
    price_id    bigint,
    unit_price  numeric,
    amount      numeric,
    tag_set_id  bigint,
    ended_at    timestamptz NOT NULL,
    PRIMARY KEY (attempt_id, resource)
);

-- The materialisation reports read: one narrow row per ended attempt, summed from its lines.
CREATE TABLE attempt_cost (
    attempt_id        bigint PRIMARY KEY,
    ended_at          timestamptz NOT NULL,
    tag_set_id        bigint,
    -- The tag set of its dag and step alone (see tag_set.step_set_id).
    step_set_id       bigint,
    state             text NOT NULL,
    -- The attempt did not succeed (failed, OOM-killed, timed out, killed, lost): all it cost is waste.
    waste             boolean NOT NULL,
    hours             double precision NOT NULL,
    cpu_requested     double precision,
    cpu_used          double precision,
    memory_requested  bigint,
    memory_peak       bigint,
    -- The unit prices and bases its CPU and memory were charged at (floating point: for right-sizing estimates;
    -- amounts are exact in cost_line).
    cpu_rate          double precision,
    cpu_basis         text,
    memory_rate       double precision,
    memory_basis      text,
    amount            numeric NOT NULL,
    unused_amount     numeric NOT NULL,
    unpriced          integer NOT NULL
);
-- `sluice cost` reads the period's rows by time. `sluice efficiency` reads each step's rows from the first
-- step index alone (an index-only scan in step order, no table access) for its percentiles and charges, then
-- only the few rows above a recommended size from the two (what a smaller request would have charged them).
CREATE INDEX attempt_cost_by_time ON attempt_cost (ended_at);
CREATE INDEX attempt_cost_by_step_memory ON attempt_cost (step_set_id, memory_peak)
    INCLUDE (ended_at, attempt_id, state, hours, cpu_requested, cpu_used, memory_requested, cpu_rate, cpu_basis,
             memory_rate, memory_basis, amount);
CREATE INDEX attempt_cost_by_step_cpu ON attempt_cost (step_set_id, cpu_used)
    INCLUDE (ended_at, hours, cpu_rate, cpu_basis);

-- Attempts recorded before this migration have no cost lines until `sluice cost backfill`; while any of
-- them (ids up to backfill_below) may lack them, reports say so rather than leave them out silently.
CREATE TABLE cost_state (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    backfill_below  bigint NOT NULL
);
INSERT INTO cost_state (backfill_below) SELECT coalesce(max(id), 0) FROM attempt;

-- What a cached step saved: the cost of the attempt whose outputs it reused.
CREATE TABLE cost_saving (
    step_instance_id   bigint PRIMARY KEY REFERENCES step_instance (id),
    reused_attempt_id  bigint NOT NULL REFERENCES attempt (id),
    tag_set_id         bigint REFERENCES tag_set (id),
    at                 timestamptz NOT NULL DEFAULT clock_timestamp(),
    amount             numeric
);
CREATE INDEX cost_saving_by_time ON cost_saving (at);

-- The quantity charged: under `max` (OpenCost's rule) the larger of requested and used, times the hours.
CREATE FUNCTION sluice_cost_quantity(basis text, requested double precision, used double precision,
                                     hours double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE basis
        WHEN 'requested' THEN coalesce(requested, used, 0)
        WHEN 'used' THEN coalesce(used, 0)
        ELSE greatest(coalesce(requested, 0), coalesce(used, 0)) END * hours
$$;

-- The price row for a resource at an instant, for an attempt with these tags: the most specific row in
-- effect, the latest of those. (SETOF, so that PostgreSQL inlines it into the query that calls it rather than
-- planning it again at each call.)
CREATE FUNCTION sluice_price_for(v_resource text, v_at timestamptz, v_tags jsonb)
RETURNS SETOF price LANGUAGE sql STABLE AS $$
    SELECT p.* FROM price p
    WHERE p.resource = v_resource AND p.effective_from <= v_at
      AND (p.executor IS NULL OR p.executor = v_tags->>'executor')
      AND (p.partition IS NULL OR p.partition = v_tags->>'partition')
      AND (p.host_class IS NULL OR p.host_class = v_tags->>'host_class')
    ORDER BY (p.executor IS NOT NULL)::int + (p.partition IS NOT NULL)::int + (p.host_class IS NOT NULL)::int DESC,
             p.effective_from DESC, p.id DESC
    LIMIT 1
$$;

-- (Re)computes the summary rows of these attempts from their lines. PL/pgSQL keeps its plan; each attempt's
-- lines are found by the primary key, whatever the table's statistics say.
CREATE FUNCTION sluice_cost_summarize(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO attempt_cost (attempt_id, ended_at, tag_set_id, step_set_id, state, waste, hours, cpu_requested,
                              cpu_used, memory_requested, memory_peak, cpu_rate, cpu_basis, memory_rate, memory_basis,
                              amount, unused_amount, unpriced)
    SELECT a.id, a.ended_at, a.tag_set_id, coalesce(t.step_set_id, t.id), a.state,
           NOT coalesce(a.state = 'exited' AND a.exit_code = 0, false), g.hours, a.requested_cpus, g.cpu_used,
           a.requested_memory_bytes, a.max_rss_bytes, g.cpu_rate, g.cpu_basis, g.memory_rate, g.memory_basis,
           g.amount, g.unused_amount, g.unpriced
    FROM unnest(ids) AS i (id)
    JOIN attempt a ON a.id = i.id
    LEFT JOIN tag_set t ON t.id = a.tag_set_id
    CROSS JOIN LATERAL (
        SELECT count(*) AS lines, coalesce(max(l.hours) FILTER (WHERE l.resource <> 'attempt'), 0) AS hours,
               max(l.used) FILTER (WHERE l.resource = 'cpu') AS cpu_used,
               max(l.unit_price) FILTER (WHERE l.resource = 'cpu')::double precision AS cpu_rate,
               max(l.basis) FILTER (WHERE l.resource = 'cpu') AS cpu_basis,
               max(l.unit_price) FILTER (WHERE l.resource = 'memory')::double precision AS memory_rate,
               max(l.basis) FILTER (WHERE l.resource = 'memory') AS memory_basis,
               coalesce(sum(l.amount), 0) AS amount, coalesce(sum(l.unused * l.unit_price), 0) AS unused_amount,
               count(*) FILTER (WHERE l.price_id IS NULL) AS unpriced
        FROM cost_line l WHERE l.attempt_id = a.id
    ) g
    WHERE g.lines > 0
    ON CONFLICT (attempt_id) DO UPDATE SET
        tag_set_id = EXCLUDED.tag_set_id, step_set_id = EXCLUDED.step_set_id, amount = EXCLUDED.amount,
        unused_amount = EXCLUDED.unused_amount, unpriced = EXCLUDED.unpriced, cpu_rate = EXCLUDED.cpu_rate,
        cpu_basis = EXCLUDED.cpu_basis, memory_rate = EXCLUDED.memory_rate, memory_basis = EXCLUDED.memory_basis;
END
$$;

-- Writes the cost lines of ended attempts that have none, priced at the instant each ended, and their
-- summaries. An attempt recorded without tags (before tags were kept) gets its dag and step as tags.
CREATE FUNCTION sluice_cost_attempts(ids bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    UPDATE attempt a SET tag_set_id = sluice_tag_set(jsonb_build_object('dag', d.name, 'step', s.step_id))
    FROM step_instance s, run r, dag d
    WHERE a.id = ANY (ids) AND a.tag_set_id IS NULL AND s.id = a.step_instance_id AND r.id = s.run_id
      AND d.id = r.dag_id;
    INSERT INTO cost_line (attempt_id, resource, unit, basis, requested, used, hours, quantity, unused, price_id,
                           unit_price, amount, tag_set_id, ended_at)
    SELECT a.id, x.resource, x.unit, coalesce(p.basis, 'max'), x.requested, x.used, x.hours,
           sluice_cost_quantity(coalesce(p.basis, 'max'), x.requested, x.used, x.hours),
           CASE WHEN x.resource IN ('cpu', 'memory')
                THEN greatest(coalesce(x.requested, 0) - coalesce(x.used, 0), 0) * x.hours ELSE 0 END,
           p.id, p.unit_price,
           (p.unit_price * sluice_cost_quantity(p.basis, x.requested, x.used, x.hours)::numeric),
           a.tag_set_id, a.ended_at
    FROM attempt a
    LEFT JOIN tag_set t ON t.id = a.tag_set_id
    CROSS JOIN LATERAL (
        SELECT greatest(coalesce(a.wall_seconds, extract(epoch FROM a.ended_at - a.started_at), 0), 0) / 3600.0 AS h
    ) d
    CROSS JOIN LATERAL (VALUES
        ('cpu', 'core-hour', a.requested_cpus,
         CASE WHEN a.wall_seconds > 0
              THEN (coalesce(a.user_cpu_seconds, 0) + coalesce(a.system_cpu_seconds, 0)) / a.wall_seconds END,
         d.h, true),
        ('memory', 'GiB-hour', a.requested_memory_bytes / 1073741824.0, a.max_rss_bytes / 1073741824.0, d.h, true),
        ('gpu', 'GPU-hour', a.requested_gpus::double precision, a.requested_gpus::double precision, d.h,
         coalesce(a.requested_gpus, 0) > 0),
        ('wall', 'hour', 1.0::double precision, 1.0::double precision, d.h, false),
        ('attempt', 'attempt', 1.0::double precision, 1.0::double precision, 1.0::double precision, false)
    ) AS x (resource, unit, requested, used, hours, always)
    LEFT JOIN LATERAL sluice_price_for(x.resource, a.ended_at, coalesce(t.tags, '{}')) p ON true
    WHERE a.id = ANY (ids) AND a.ended_at IS NOT NULL AND (x.always OR p.id IS NOT NULL)
    -- An attempt already costed keeps its lines (and a check by key costs nothing as history grows).
    ON CONFLICT (attempt_id, resource) DO NOTHING;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written > 0 THEN
        PERFORM sluice_cost_summarize(ids);
    END IF;
    RETURN written;
END
$$;

-- Every attempt is costed as it ends, whichever process or path ends it.
CREATE FUNCTION sluice_attempt_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sluice_cost_attempts(ARRAY[NEW.id]);
    RETURN NULL;
END
$$;
CREATE TRIGGER attempt_costed_on_end AFTER UPDATE OF ended_at ON attempt
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL) EXECUTE FUNCTION sluice_attempt_ended();
CREATE TRIGGER attempt_costed_on_insert AFTER INSERT ON attempt
    FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL) EXECUTE FUNCTION sluice_attempt_ended();

-- A cached step records what it saved: the cost of the attempt it reused.
CREATE FUNCTION sluice_step_cached() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cost_saving (step_instance_id, reused_attempt_id, tag_set_id, amount)
    SELECT NEW.id, NEW.reused_attempt_id, NEW.tag_set_id, c.amount
    FROM (SELECT 1) one LEFT JOIN attempt_cost c ON c.attempt_id = NEW.reused_attempt_id
    ON CONFLICT (step_instance_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER step_cached_saves AFTER UPDATE OF state ON step_instance
    FOR EACH ROW WHEN (NEW.state = 'cached' AND OLD.state <> 'cached' AND NEW.reused_attempt_id IS NOT NULL)
    EXECUTE FUNCTION sluice_step_cached();

-- Cost lines are written once: a line's price, quantity and amount never change once priced, and a price row
-- that priced a line cannot be changed or removed. Pricing an unpriced line is the one update allowed.
CREATE FUNCTION sluice_costs_are_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'price' THEN
        -- Conservative and cheap: once any attempt has been costed at or after the row took effect, the row may
        -- have priced it.
        IF EXISTS (SELECT 1 FROM attempt_cost WHERE ended_at >= OLD.effective_from) THEN
            RAISE EXCEPTION USING ERRCODE = 'SL409',
                MESSAGE = 'the ' || OLD.resource || ' price from ' || OLD.effective_from
                          || ' may have priced attempts already; add a price with a later effective date instead';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' OR OLD.price_id IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SL409', MESSAGE = 'priced cost lines cannot be rewritten';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER price_is_final BEFORE UPDATE OR DELETE ON price
    FOR EACH ROW EXECUTE FUNCTION sluice_costs_are_final();
CREATE TRIGGER cost_line_is_final BEFORE UPDATE OR DELETE ON cost_line
    FOR EACH ROW EXECUTE FUNCTION sluice_costs_are_final();

-- Prices the lines that had no price when they were written (their attempt ended before any price applied),
-- with the price in effect when each attempt ended; returns how many attempts it priced.
CREATE FUNCTION sluice_cost_price_unpriced() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    priced bigint[];
BEGIN
    WITH u AS (
        UPDATE cost_line l SET price_id = p.id, unit_price = p.unit_price, basis = p.basis,
            quantity = sluice_cost_quantity(p.basis, l.requested, l.used, l.hours),
            amount = p.unit_price * sluice_cost_quantity(p.basis, l.requested, l.used, l.hours)::numeric
        FROM cost_line x
        LEFT JOIN tag_set t ON t.id = x.tag_set_id
        CROSS JOIN LATERAL sluice_price_for(x.resource, x.ended_at, coalesce(t.tags, '{}')) p
        WHERE x.price_id IS NULL AND p.id IS NOT NULL AND l.attempt_id = x.attempt_id AND l.resource = x.resource
        RETURNING l.attempt_id
    )
    SELECT coalesce(array_agg(DISTINCT attempt_id), '{}') INTO priced FROM u;
    PERFORM sluice_cost_summarize(priced);
    -- Savings follow: those of reused attempts priced now, and those whose reused attempt had no cost yet.
    UPDATE cost_saving s SET amount = c.amount FROM attempt_cost c
    WHERE c.attempt_id = s.reused_attempt_id AND (s.amount IS NULL OR c.attempt_id = ANY (priced))
      AND s.amount IS DISTINCT FROM c.amount;
    RETURN coalesce(array_length(priced, 1), 0);
END
$$;
