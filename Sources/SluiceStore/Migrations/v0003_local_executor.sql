-- The local executor: steps waiting between attempts ('retrying', with the time of the next attempt), and on
-- each attempt what it asked for, the GPUs it was given, how limits were enforced and where its usage came from.

ALTER TABLE step_instance DROP CONSTRAINT step_instance_state_check;
ALTER TABLE step_instance ADD CONSTRAINT step_instance_state_check
    CHECK (state IN ('pending', 'ready', 'running', 'retrying', 'succeeded', 'failed', 'skipped', 'upstream_failed',
                     'cancelled', 'cached'));
ALTER TABLE step_instance ADD COLUMN next_attempt_at timestamptz;

ALTER TABLE attempt ADD COLUMN requested_cpus double precision;
ALTER TABLE attempt ADD COLUMN requested_memory_bytes bigint;
ALTER TABLE attempt ADD COLUMN requested_gpus integer;
ALTER TABLE attempt ADD COLUMN requested_max_processes integer;
ALTER TABLE attempt ADD COLUMN gpu_ids text;
ALTER TABLE attempt ADD COLUMN enforcement text;
ALTER TABLE attempt ADD COLUMN usage_source text;
