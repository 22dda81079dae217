-- One row per inference request (written in batches off the hot path), and per-tenant limits and
-- budgets that override the configured defaults.
CREATE TABLE usage_records (
    id                text PRIMARY KEY,
    request_id        text NOT NULL,
    partner_id        text,
    tenant_id         text NOT NULL,
    user_id           text,
    api_key_id        text,
    model             text NOT NULL,
    backend_id        text,
    provider_type     text,
    -- chat | generate | embed
    endpoint          text NOT NULL,
    -- native | oai | grpc
    api               text NOT NULL,
    stream            boolean NOT NULL,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    total_tokens      integer NOT NULL DEFAULT 0,
    cost              numeric(20, 8) NOT NULL DEFAULT 0,
    latency_ms        integer NOT NULL,
    ttft_ms           integer,
    status            text NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
    error_code        text,
    created_at        timestamptz NOT NULL
);
CREATE INDEX usage_records_tenant_time_idx ON usage_records (tenant_id, created_at);
CREATE INDEX usage_records_time_idx ON usage_records (created_at);

CREATE TABLE tenant_limits (
    tenant_id                 text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    requests_per_minute       integer CHECK (requests_per_minute IS NULL OR requests_per_minute > 0),
    tokens_per_minute         integer CHECK (tokens_per_minute IS NULL OR tokens_per_minute > 0),
    key_requests_per_minute   integer CHECK (key_requests_per_minute IS NULL OR key_requests_per_minute > 0),
    key_tokens_per_minute     integer CHECK (key_tokens_per_minute IS NULL OR key_tokens_per_minute > 0),
    user_requests_per_minute  integer CHECK (user_requests_per_minute IS NULL OR user_requests_per_minute > 0),
    -- budget per period; NULL = no budget
    budget_tokens             bigint CHECK (budget_tokens IS NULL OR budget_tokens >= 0),
    budget_cost               numeric(20, 4) CHECK (budget_cost IS NULL OR budget_cost >= 0),
    budget_period             text NOT NULL DEFAULT 'month' CHECK (budget_period IN ('day', 'month')),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
