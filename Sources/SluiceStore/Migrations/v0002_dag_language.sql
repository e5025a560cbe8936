-- The DAG language: a run's parameters and logical date, foreach items, each attempt's exact command and
-- the outputs it reported, and events for on_failure/on_success handlers.

ALTER TABLE run ADD COLUMN params jsonb NOT NULL DEFAULT '{}';
ALTER TABLE run ADD COLUMN logical_date date;

ALTER TABLE step_instance ADD COLUMN step_id text;
ALTER TABLE step_instance ADD COLUMN item text;
UPDATE step_instance SET step_id = step_key WHERE step_id IS NULL;

ALTER TABLE attempt ADD COLUMN command jsonb;
ALTER TABLE attempt ADD COLUMN outputs jsonb;

ALTER TABLE event DROP CONSTRAINT event_kind_check;
ALTER TABLE event ADD CONSTRAINT event_kind_check CHECK (kind IN ('run', 'step', 'attempt', 'handler'));
