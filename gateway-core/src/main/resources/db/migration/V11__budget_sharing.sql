-- Budgets across gateway replicas.
--
-- tenant_daily_spend: each tenant's spend per UTC day, kept in step with usage_records by the usage
-- flusher (same statement), so a budget check reads at most 31 rows instead of summing a month of
-- usage records. Seeded here from the records already written.
CREATE TABLE tenant_daily_spend (
    tenant_id text    NOT NULL,
    day       date    NOT NULL,
    tokens    bigint  NOT NULL DEFAULT 0,
    cost      numeric(24, 8) NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
INSERT INTO tenant_daily_spend (tenant_id, day, tokens, cost)
SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date, sum(total_tokens), sum(cost)
FROM usage_records GROUP BY 1, 2;

-- budget_holds: what each replica holds against a tenant's budget that the table above does not show
-- yet: reservations of requests in flight and spend not yet flushed. Each replica rewrites its own
-- rows every sync round and adds the others' (fresh ones only) to its ledger. UNLOGGED: worth a round.
CREATE UNLOGGED TABLE budget_holds (
    replica      text        NOT NULL,
    tenant_id    text        NOT NULL,
    period_start timestamptz NOT NULL,
    tokens       bigint      NOT NULL,
    cost         numeric(24, 8) NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (replica, tenant_id, period_start)
);
CREATE INDEX budget_holds_tenant_idx ON budget_holds (tenant_id, period_start);
