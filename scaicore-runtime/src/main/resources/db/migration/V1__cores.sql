-- One row per Core (agent program) per tenant (reference §5.1/§5.2).
CREATE TABLE mod_scaicore_cores (
    id               text PRIMARY KEY,
    tenant_id        text NOT NULL,
    name             text NOT NULL,
    slug             text NOT NULL,
    runtime_mode     text NOT NULL DEFAULT 'event_driven' CHECK (runtime_mode IN ('event_driven', 'interactive', 'api', 'model')),
    concurrency_mode text NOT NULL DEFAULT 'stateless' CHECK (concurrency_mode IN ('stateless', 'entity', 'singleton')),
    entity_key_field text,
    checkpoint_mode  text NOT NULL DEFAULT 'auto' CHECK (checkpoint_mode IN ('auto', 'visual_queue', 'routed')),
    privilege_level  text NOT NULL DEFAULT 'standard' CHECK (privilege_level IN ('standard', 'elevated', 'admin')),
    -- the .scaicore-ir program as a JSON document
    source           jsonb NOT NULL DEFAULT '{}'::jsonb,
    plugins          jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- plain environment values; values typed "secret" are sealed with the shared envelope encryption
    environment      jsonb NOT NULL DEFAULT '{}'::jsonb,
    resource_limits  jsonb NOT NULL DEFAULT '{}'::jsonb,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    avatar_url       text,
    status           text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'starting', 'running', 'paused',
                                                                       'stopping', 'stopped', 'error', 'crashed', 'restarting')),
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug)
);
CREATE INDEX mod_scaicore_cores_tenant_idx ON mod_scaicore_cores (tenant_id, created_at DESC);
