-- Background responses (docs/inference.md, "Background responses"): stored as in_progress at once and finished by
-- the replica running them, which touches updated_at while it does; one left untouched (its replica died) is failed
-- by the sweep.
ALTER TABLE oai_responses ADD COLUMN background boolean NOT NULL DEFAULT false;
ALTER TABLE oai_responses ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX oai_responses_running_idx ON oai_responses (updated_at) WHERE background AND status IN ('queued', 'in_progress');
