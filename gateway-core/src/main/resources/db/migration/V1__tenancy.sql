-- The tenancy hierarchy every other gateway table hangs off: partners -> tenants -> users.
-- Ids are prefixed text ids (ptn_..., tnt_..., usr_...) so they are recognisable in logs and URLs.
CREATE TABLE partners (
    id           text PRIMARY KEY,
    slug         text NOT NULL UNIQUE,
    display_name text NOT NULL,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id           text PRIMARY KEY,
    partner_id   text NOT NULL REFERENCES partners (id),
    slug         text NOT NULL UNIQUE,
    display_name text NOT NULL,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    settings     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_partner_idx ON tenants (partner_id);

CREATE TABLE users (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    -- the ScaiKey subject (usr_...) for users provisioned from a trusted issuer
    external_id  text,
    email        text,
    display_name text,
    roles        text[] NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_external_id_idx ON users (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_tenant_idx ON users (tenant_id);
