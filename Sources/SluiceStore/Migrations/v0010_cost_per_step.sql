-- Costing an attempt as it ends, in one statement. Migration 9's trigger re-read the attempt it had been given,
-- tried to give it tags, wrote its lines, then read them back to sum them: four statements through two PL/pgSQL
-- functions, 0.26 ms of server time per step (`pg_stat_user_functions`). The trigger now writes the lines from
-- the row it has and sums what it wrote (0.1 ms). Backfill (`sluice_cost_attempts`) computes the same lines
-- through the same function.

-- The cost lines of one ended attempt, with the tags it is priced for: one per resource it used or that has
-- a price (an SQL function of one SELECT, so that PostgreSQL inlines it into the statement that calls it).
CREATE FUNCTION sluice_cost_lines(a attempt, v_tags jsonb)
RETURNS TABLE (attempt_id bigint, resource text, unit text, basis text, requested double precision,
               used double precision, hours double precision, quantity double precision,
               unused double precision, price_id bigint, unit_price numeric, amount numeric, tag_set_id bigint,
               ended_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT a.id, x.resource, x.unit, coalesce(p.basis, 'max'), x.requested, x.used, x.hours,
           sluice_cost_quantity(coalesce(p.basis, 'max'), x.requested, x.used, x.hours),
           CASE WHEN x.resource IN ('cpu', 'memory')
                THEN greatest(coalesce(x.requested, 0) - coalesce(x.used, 0), 0) * x.hours ELSE 0 END,
           p.id, p.unit_price,
           (p.unit_price * sluice_cost_quantity(p.basis, x.requested, x.used, x.hours)::numeric),
           a.tag_set_id, a.ended_at
    FROM (SELECT greatest(coalesce(a.wall_seconds, extract(epoch FROM a.ended_at - a.started_at), 0), 0) / 3600.0
                 AS h) d
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
    LEFT JOIN LATERAL sluice_price_for(x.resource, a.ended_at, v_tags) p ON true
    WHERE a.ended_at IS NOT NULL AND (x.always OR p.id IS NOT NULL)
$$;

CREATE OR REPLACE FUNCTION sluice_cost_attempts(ids bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    UPDATE attempt a SET tag_set_id = sluice_tag_set(jsonb_build_object('dag', d.name, 'step', s.step_id))
    FROM step_instance s, run r, dag d
    WHERE a.id = ANY (ids) AND a.tag_set_id IS NULL AND s.id = a.step_instance_id AND r.id = s.run_id
      AND d.id = r.dag_id;
    INSERT INTO cost_line (attempt_id, resource, unit, basis, requested, used, hours, quantity, unused, price_id,
                           unit_price, amount, tag_set_id, ended_at)
    SELECT l.* FROM attempt a
    LEFT JOIN tag_set t ON t.id = a.tag_set_id
    CROSS JOIN LATERAL sluice_cost_lines(a, coalesce(t.tags, '{}')) l
    WHERE a.id = ANY (ids)
    -- An attempt already costed keeps its lines (and a check by key costs nothing as history grows).
    ON CONFLICT (attempt_id, resource) DO NOTHING;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written > 0 THEN
        PERFORM sluice_cost_summarize(ids);
    END IF;
    RETURN written;
END
$$;

-- The summary sums of one attempt's cost lines: what `attempt_cost` holds besides the attempt's own columns.
CREATE FUNCTION sluice_cost_sums(lines cost_line[])
RETURNS TABLE (lines bigint, hours double precision, cpu_used double precision, cpu_rate double precision,
               cpu_basis text, memory_rate double precision, memory_basis text, amount numeric,
               unused_amount numeric, unpriced bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT count(*), coalesce(max(l.hours) FILTER (WHERE l.resource <> 'attempt'), 0),
           max(l.used) FILTER (WHERE l.resource = 'cpu'),
           max(l.unit_price) FILTER (WHERE l.resource = 'cpu')::double precision,
           max(l.basis) FILTER (WHERE l.resource = 'cpu'),
           max(l.unit_price) FILTER (WHERE l.resource = 'memory')::double precision,
           max(l.basis) FILTER (WHERE l.resource = 'memory'),
           coalesce(sum(l.amount), 0), coalesce(sum(l.unused * l.unit_price), 0),
           count(*) FILTER (WHERE l.price_id IS NULL)
    FROM unnest(lines) l
$$;

-- (Re)computes the summary rows of these attempts from their lines (backfill, and pricing lines later).
CREATE OR REPLACE FUNCTION sluice_cost_summarize(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
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
    CROSS JOIN LATERAL (SELECT ARRAY(SELECT l FROM cost_line l WHERE l.attempt_id = a.id) AS lines OFFSET 0) x
    CROSS JOIN LATERAL sluice_cost_sums(x.lines) g
    WHERE g.lines > 0
    ON CONFLICT (attempt_id) DO UPDATE SET
        tag_set_id = EXCLUDED.tag_set_id, step_set_id = EXCLUDED.step_set_id, amount = EXCLUDED.amount,
        unused_amount = EXCLUDED.unused_amount, unpriced = EXCLUDED.unpriced, cpu_rate = EXCLUDED.cpu_rate,
        cpu_basis = EXCLUDED.cpu_basis, memory_rate = EXCLUDED.memory_rate, memory_basis = EXCLUDED.memory_basis;
END
$$;

-- Every attempt is costed as it ends, whichever process or path ends it: its lines, and its summary summed
-- from the lines just written. An attempt without tags (none recorded after migration 9 reach here) takes
-- the backfill's way.
CREATE OR REPLACE FUNCTION sluice_attempt_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tag_set_id IS NULL THEN
        PERFORM sluice_cost_attempts(ARRAY[NEW.id]);
        RETURN NULL;
    END IF;
    WITH t AS (
        SELECT tags, coalesce(step_set_id, id) AS step_set_id FROM tag_set WHERE id = NEW.tag_set_id
    ), l AS (
        INSERT INTO cost_line (attempt_id, resource, unit, basis, requested, used, hours, quantity, unused,
                               price_id, unit_price, amount, tag_set_id, ended_at)
        -- (The tags as a column of a subquery kept apart, not a subquery argument, so that the functions are
        -- inlined into this statement instead of planned at every call.)
        SELECT c.* FROM (SELECT coalesce((SELECT tags FROM t), '{}') AS tags OFFSET 0) x
        CROSS JOIN LATERAL sluice_cost_lines(NEW, x.tags) c
        ON CONFLICT (attempt_id, resource) DO NOTHING
        RETURNING *
    )
    INSERT INTO attempt_cost (attempt_id, ended_at, tag_set_id, step_set_id, state, waste, hours, cpu_requested,
                              cpu_used, memory_requested, memory_peak, cpu_rate, cpu_basis, memory_rate, memory_basis,
                              amount, unused_amount, unpriced)
    SELECT NEW.id, NEW.ended_at, NEW.tag_set_id, (SELECT step_set_id FROM t), NEW.state,
           NOT coalesce(NEW.state = 'exited' AND NEW.exit_code = 0, false), g.hours, NEW.requested_cpus, g.cpu_used,
           NEW.requested_memory_bytes, NEW.max_rss_bytes, g.cpu_rate, g.cpu_basis, g.memory_rate, g.memory_basis,
           g.amount, g.unused_amount, g.unpriced
    FROM (SELECT ARRAY(SELECT l::cost_line FROM l) AS lines OFFSET 0) x
    CROSS JOIN LATERAL sluice_cost_sums(x.lines) g
    WHERE g.lines > 0
    ON CONFLICT (attempt_id) DO NOTHING;
    RETURN NULL;
END
$$;
