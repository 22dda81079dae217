-- Providers (reference §1.3): one account or cluster whose connection settings several backends share
-- (base_url, api_key, headers, timeouts). A backend that names a provider inherits its settings; its
-- own connection_config overrides them key by key. Secrets are sealed as on backends, never returned.
CREATE TABLE providers (
    id                text PRIMARY KEY,
    name              text NOT NULL,
    description       text,
    provider_type     text NOT NULL CHECK (provider_type IN ('openai', 'scaiinfer', 'scaicore', 'anthropic', 'azure',
                                                             'mistral', 'qwen', 'google', 'custom')),
    connection_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    sealed_secrets    text,
    secret_fields     text[] NOT NULL DEFAULT '{}',
    -- disabled: none of its backends is routed to
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    owner_scope       text NOT NULL DEFAULT 'global' CHECK (owner_scope IN ('global', 'partner', 'tenant')),
    owner_partner_id  text REFERENCES partners (id),
    owner_tenant_id   text REFERENCES tenants (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner_scope = 'global' AND owner_partner_id IS NULL AND owner_tenant_id IS NULL)
        OR (owner_scope = 'partner' AND owner_partner_id IS NOT NULL AND owner_tenant_id IS NULL)
        OR (owner_scope = 'tenant' AND owner_tenant_id IS NOT NULL))
);

-- no ON DELETE: a provider with backends cannot be deleted (PROVIDER_HAS_BACKENDS)
ALTER TABLE backend_models ADD COLUMN provider_id text REFERENCES providers (id);
CREATE INDEX backend_models_provider_idx ON backend_models (provider_id) WHERE provider_id IS NOT NULL;
