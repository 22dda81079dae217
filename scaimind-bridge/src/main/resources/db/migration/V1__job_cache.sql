-- Seed 001: list and read calls upsert coordinator jobs into a local cache (best effort), so the
-- bridge can answer "which tenant owns job X" and show recent jobs while the coordinator is away.
CREATE TABLE mod_scaimind_jobs (
    job_id        text PRIMARY KEY,
    tenant_id     text NOT NULL,
    user_id       text,
    name          text NOT NULL,
    status        text NOT NULL CHECK (status IN ('PENDING', 'QUEUED', 'SCHEDULING', 'PREPARING', 'TRAINING',
                                                 'CHECKPOINTING', 'PAUSED', 'EVALUATING', 'EXPORTING',
                                                 'COMPLETED', 'FAILED', 'CANCELLED', 'PREEMPTED')),
    parent_job_id text,
    labels        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- the coordinator's full job document as last seen
    snapshot      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz,
    synced_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mod_scaimind_jobs_tenant_idx ON mod_scaimind_jobs (tenant_id, synced_at DESC);
