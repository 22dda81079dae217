-- OpenAI's Files and Batch APIs under /oai/v1 (docs/inference.md, "Batches"). Files and batches belong to their
-- owner: the user who created them (or, for a caller without a user, its credential), in that tenant.
CREATE TABLE oai_files (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    partner_id  text,
    owner_id    text NOT NULL,
    purpose     text NOT NULL,
    filename    text NOT NULL,
    bytes       integer NOT NULL,
    content     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oai_files_owner_idx ON oai_files (tenant_id, owner_id, created_at DESC, id DESC);

CREATE TABLE oai_batches (
    id                text PRIMARY KEY,
    tenant_id         text NOT NULL,
    partner_id        text,
    owner_id          text NOT NULL,
    -- who created it, as the lines run as that caller (its credential is checked again before every round)
    caller            jsonb NOT NULL,
    endpoint          text NOT NULL,
    input_file_id     text NOT NULL,
    completion_window text NOT NULL,
    status            text NOT NULL,
    output_file_id    text,
    error_file_id     text,
    errors            jsonb,
    total             integer NOT NULL DEFAULT 0,
    completed         integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    metadata          jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    in_progress_at    timestamptz,
    finalizing_at     timestamptz,
    completed_at      timestamptz,
    failed_at         timestamptz,
    expired_at        timestamptz,
    cancelling_at     timestamptz,
    cancelled_at      timestamptz,
    expires_at        timestamptz NOT NULL,
    -- the replica working on it, until when (another may take over after that)
    lease_owner       text,
    lease_until       timestamptz
);
CREATE INDEX oai_batches_owner_idx ON oai_batches (tenant_id, owner_id, created_at DESC, id DESC);
CREATE INDEX oai_batches_open_idx ON oai_batches (created_at) WHERE status IN ('validating', 'in_progress', 'cancelling');

-- One row per line answered, so a batch survives a restart without running a line twice.
CREATE TABLE oai_batch_results (
    batch_id   text NOT NULL REFERENCES oai_batches (id) ON DELETE CASCADE,
    line       integer NOT NULL,
    ok         boolean NOT NULL,
    -- json, not jsonb: the output file keeps the fields in the order OpenAI writes them
    result     json NOT NULL,
    PRIMARY KEY (batch_id, line)
);
