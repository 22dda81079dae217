-- The PostgreSQL-backed secret store (seed 002: tenants/{tenant_id}/scaigrid_api_key). Values are
-- sealed with the shared envelope encryption and bound to their path; they are never returned.
CREATE TABLE tenant_secrets (
    tenant_id    text NOT NULL,
    name         text NOT NULL,
    sealed_value text NOT NULL,
    -- first characters of the secret (e.g. "sgk_AbCd") so admins can tell which key is stored
    hint         text,
    created_by   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
