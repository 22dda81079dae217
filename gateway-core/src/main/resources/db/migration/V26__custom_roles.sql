-- Custom roles (reference §3.2): tenant-scoped, additive sets of permissions. A user's effective permissions are the
-- union of their built-in roles' and their custom roles'. A user holds custom roles of their own tenant only.
CREATE TABLE custom_roles (
    id                 text PRIMARY KEY,
    tenant_id          text NOT NULL REFERENCES tenants (id),
    name               text NOT NULL,
    slug               text NOT NULL,
    description        text,
    core_permissions   text[] NOT NULL DEFAULT '{}',
    module_permissions text[] NOT NULL DEFAULT '{}',
    created_by         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug)
);

ALTER TABLE users ADD COLUMN custom_role_ids text[] NOT NULL DEFAULT '{}';
