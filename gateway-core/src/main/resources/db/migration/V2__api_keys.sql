-- API keys (sgk_...): shown once at creation, stored only as a SHA-256 hash (the keys carry ~238
-- bits of randomness, so a fast hash is enough), with a visible prefix for identification.
CREATE TABLE api_keys (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    user_id         text NOT NULL REFERENCES users (id),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    prefix          text NOT NULL,
    key_hash        text NOT NULL UNIQUE,
    -- optional subset of the owner's permissions (NULL: all of them)
    permissions     text[],
    -- optional model-group restriction (NULL or empty: none)
    model_group_ids text[],
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    created_by      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
