-- Cloud MCP registry (seed 004). Credentials are one row per field, each sealed with its own data key.
CREATE TABLE mod_scailink_remote_server (
    id                     text PRIMARY KEY,
    tenant_id              text NOT NULL,
    owner_user_id          text NOT NULL,
    is_tenant_shared       boolean NOT NULL DEFAULT false,
    name                   text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
    slug                   text NOT NULL,
    description            text CHECK (description IS NULL OR char_length(description) <= 1000),
    endpoint_url           text NOT NULL CHECK (char_length(endpoint_url) BETWEEN 1 AND 500),
    transport              text NOT NULL DEFAULT 'streamable_http' CHECK (transport IN ('streamable_http', 'sse')),
    auth_type              text NOT NULL CHECK (auth_type IN ('none', 'bearer', 'api_key_header')),
    forward_user_id        boolean NOT NULL DEFAULT false,
    consent_tier           text NOT NULL DEFAULT 'auto' CHECK (consent_tier IN ('auto', 'confirm', 'locked')),
    status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'error', 'disabled')),
    last_health_check_at   timestamptz,
    last_health_status     text,
    consecutive_failures   integer NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug)
);
CREATE INDEX mod_scailink_remote_server_tenant_idx ON mod_scailink_remote_server (tenant_id);

CREATE TABLE mod_scailink_remote_credential (
    server_id    text NOT NULL REFERENCES mod_scailink_remote_server (id) ON DELETE CASCADE,
    field        text NOT NULL,
    -- EnvelopeEncryption output: v1.<kek id>.<wrapped data key>.<ciphertext>
    sealed_value text NOT NULL,
    rotated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, field)
);

CREATE TABLE mod_scailink_remote_capability (
    server_id     text NOT NULL REFERENCES mod_scailink_remote_server (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('tool', 'resource', 'prompt')),
    name          text NOT NULL,
    description   text,
    definition    jsonb NOT NULL DEFAULT '{}'::jsonb,
    discovered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, kind, name)
);
