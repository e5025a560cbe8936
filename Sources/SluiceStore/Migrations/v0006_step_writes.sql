-- Cheaper per-step writes (measured by bench/chain.sh; see the README's performance section).
--
-- The event log loses its foreign keys. Each event row is inserted by the same statement that inserts or
-- updates the run, step or attempt it names, so the ids it holds always exist, and nothing deletes those
-- rows. The keys made every event insert run up to three referential checks, about a quarter of the
-- server's time per step. `event_by_run` still finds a run's events.
ALTER TABLE event DROP CONSTRAINT IF EXISTS event_run_id_fkey;
ALTER TABLE event DROP CONSTRAINT IF EXISTS event_step_instance_id_fkey;
ALTER TABLE event DROP CONSTRAINT IF EXISTS event_attempt_id_fkey;
