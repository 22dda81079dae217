-- The ScaiInfer node registry, shared by every gateway replica. A node registers with its first
-- heartbeat (scaiinfer.v1.HeartbeatService) and refreshes its row with every later one; liveness is
-- now() - last_heartbeat_at against scaigrid.nodes.heartbeat-timeout (database clock, so replicas
-- need no synchronised clocks). Operators drain and re-enable nodes through admin_state.
CREATE TABLE inference_nodes (
    id                 text PRIMARY KEY,
    -- host:port of the node's scaiinfer.v1.InferenceService
    address            text NOT NULL,
    version            text NOT NULL DEFAULT '',
    engine             text NOT NULL DEFAULT '',
    labels             jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- [{name, state, modality, context_window, max_output_tokens, quantization, in_flight, capabilities}]
    models             jsonb NOT NULL DEFAULT '[]'::jsonb,
    gpus               jsonb NOT NULL DEFAULT '[]'::jsonb,
    max_concurrency    integer NOT NULL DEFAULT 0 CHECK (max_concurrency >= 0),
    in_flight          integer NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
    queue_depth        integer NOT NULL DEFAULT 0 CHECK (queue_depth >= 0),
    -- the node's own view of its health
    health             text NOT NULL DEFAULT 'HEALTHY'
                       CHECK (health IN ('HEALTHY', 'DEGRADED', 'UNHEALTHY', 'DRAINING', 'UNSPECIFIED')),
    health_message     text NOT NULL DEFAULT '',
    -- the operator's decision
    admin_state        text NOT NULL DEFAULT 'ACTIVE' CHECK (admin_state IN ('ACTIVE', 'DRAINING', 'DISABLED')),
    admin_reason       text,
    admin_changed_at   timestamptz NOT NULL DEFAULT now(),
    -- per node process (started_at); out-of-order reports are not written
    sequence           bigint NOT NULL DEFAULT 0,
    started_at         timestamptz,
    sent_at            timestamptz,
    last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    registered_at      timestamptz NOT NULL DEFAULT now(),
    -- service-token ids of the first and the latest report
    registered_by      text,
    reported_by        text,
    -- the gateway replica that wrote the latest report (replicas re-read only what others changed)
    reporter_replica   text,
    -- the node's service token sealed with the platform KEK: the gateway presents it when calling the node
    call_token_sealed  text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inference_nodes_heartbeat_idx ON inference_nodes (last_heartbeat_at);
CREATE INDEX inference_nodes_admin_changed_idx ON inference_nodes (admin_changed_at);
