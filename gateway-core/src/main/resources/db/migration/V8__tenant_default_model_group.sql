-- Every tenant has exactly one default model group (reference §1: "each tenant has a default model group";
-- seed 003: add a slug to it for visibility across the tenant). Its members are visible to everyone in the
-- tenant, API keys restricted to other groups included. Only tenant groups can be a default; the gateway
-- moves the flag when another group of the tenant becomes the default, and refuses to delete or unflag it.

-- earlier builds let any group carry the flag: keep it only on the oldest flagged tenant group per tenant
UPDATE model_groups SET is_default = false WHERE is_default AND scope <> 'tenant';
UPDATE model_groups g SET is_default = false
WHERE g.is_default AND EXISTS (SELECT 1 FROM model_groups o
                               WHERE o.tenant_id = g.tenant_id AND o.is_default AND (o.created_at, o.id) < (g.created_at, g.id));
ALTER TABLE model_groups ADD CONSTRAINT model_groups_default_is_tenant CHECK (NOT is_default OR scope = 'tenant');
CREATE UNIQUE INDEX model_groups_one_default_per_tenant ON model_groups (tenant_id) WHERE is_default;

-- the gateway's id format (mg_ + 20 base62 characters); not a secret
CREATE FUNCTION new_model_group_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT 'mg_' || string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                                      1 + floor(random() * 62)::int, 1), '')
    FROM generate_series(1, 20)
$$;

-- created with the tenant, in the same transaction, whichever code path inserts it (bootstrap, admin API)
CREATE FUNCTION create_default_model_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_groups (id, name, description, scope, tenant_id, is_default)
    VALUES (new_model_group_id(), 'Default', 'Models everyone in the tenant may use, group-restricted API keys included',
            'tenant', NEW.id, true);
    RETURN NEW;
END
$$;
CREATE TRIGGER tenants_default_model_group AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION create_default_model_group();

INSERT INTO model_groups (id, name, description, scope, tenant_id, is_default)
SELECT new_model_group_id(), 'Default', 'Models everyone in the tenant may use, group-restricted API keys included',
       'tenant', t.id, true
FROM tenants t
WHERE NOT EXISTS (SELECT 1 FROM model_groups g WHERE g.tenant_id = t.id AND g.is_default);
