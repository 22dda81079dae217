-- The model catalogue: frontend models (what callers ask for, by slug), backend models (a concrete
-- provider endpoint and model), the links between them (routing priority and weight), and model
-- groups (restrict what an API key or tenant sees).
CREATE TABLE frontend_models (
    id                     text PRIMARY KEY,
    slug                   text NOT NULL UNIQUE,
    display_name           text NOT NULL,
    description            text,
    modality               text NOT NULL DEFAULT 'chat' CHECK (modality IN ('chat', 'embedding', 'image', 'audio')),
    context_window         integer CHECK (context_window IS NULL OR context_window > 0),
    max_output_tokens      integer CHECK (max_output_tokens IS NULL OR max_output_tokens > 0),
    capabilities           jsonb NOT NULL DEFAULT '{}'::jsonb,
    system_prompt_template text,
    avatar_url             text,
    metadata               jsonb NOT NULL DEFAULT '{}'::jsonb,
    default_params         jsonb NOT NULL DEFAULT '{}'::jsonb,
    input_price_per_mtok   numeric(12, 4),
    output_price_per_mtok  numeric(12, 4),
    status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deprecated')),
    -- who owns (and sees) it: global, one partner's tenants, or one tenant
    owner_scope            text NOT NULL DEFAULT 'global' CHECK (owner_scope IN ('global', 'partner', 'tenant')),
    owner_partner_id       text REFERENCES partners (id),
    owner_tenant_id        text REFERENCES tenants (id),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner_scope = 'global' AND owner_partner_id IS NULL AND owner_tenant_id IS NULL)
        OR (owner_scope = 'partner' AND owner_partner_id IS NOT NULL AND owner_tenant_id IS NULL)
        OR (owner_scope = 'tenant' AND owner_tenant_id IS NOT NULL))
);

CREATE TABLE backend_models (
    id                 text PRIMARY KEY,
    name               text NOT NULL,
    provider_type      text NOT NULL CHECK (provider_type IN ('openai', 'scaiinfer', 'scaicore', 'anthropic', 'azure',
                                                              'mistral', 'qwen', 'google', 'custom')),
    -- the provider's own model name (e.g. gpt-4o, llama-3.3-70b)
    model_name         text NOT NULL,
    -- non-secret connection settings (base_url, timeouts, core_id ...)
    connection_config  jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- secret settings (api_key ...) sealed with the platform KEK; never returned
    sealed_secrets     text,
    -- names of the sealed fields, so admins can see which secrets are set
    secret_fields      text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    owner_scope        text NOT NULL DEFAULT 'global' CHECK (owner_scope IN ('global', 'partner', 'tenant')),
    owner_partner_id   text REFERENCES partners (id),
    owner_tenant_id    text REFERENCES tenants (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_links (
    frontend_model_id text NOT NULL REFERENCES frontend_models (id) ON DELETE CASCADE,
    backend_model_id  text NOT NULL REFERENCES backend_models (id) ON DELETE CASCADE,
    -- lower runs first; equal priorities share traffic by weight
    priority          integer NOT NULL DEFAULT 0,
    weight            integer NOT NULL DEFAULT 100 CHECK (weight >= 0),
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (frontend_model_id, backend_model_id)
);
CREATE INDEX model_links_backend_idx ON model_links (backend_model_id);

CREATE TABLE model_groups (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text,
    scope       text NOT NULL CHECK (scope IN ('global', 'partner', 'tenant')),
    partner_id  text REFERENCES partners (id),
    tenant_id   text REFERENCES tenants (id),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'global' AND partner_id IS NULL AND tenant_id IS NULL)
        OR (scope = 'partner' AND partner_id IS NOT NULL AND tenant_id IS NULL)
        OR (scope = 'tenant' AND tenant_id IS NOT NULL))
);

-- members by slug (seed 003: publish adds the new slug to groups; unpublish removes it everywhere)
CREATE TABLE model_group_members (
    group_id   text NOT NULL REFERENCES model_groups (id) ON DELETE CASCADE,
    model_slug text NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, model_slug)
);
CREATE INDEX model_group_members_slug_idx ON model_group_members (model_slug);
