-- The first hour: handlers recorded as step instances of their own (role 'handler', with attempts and logs),
-- and warnings on an attempt (a malformed $SLUICE_OUTPUT line, for one).

ALTER TABLE step_instance ADD COLUMN role text NOT NULL DEFAULT 'step' CHECK (role IN ('step', 'handler'));
ALTER TABLE attempt ADD COLUMN warnings jsonb;
