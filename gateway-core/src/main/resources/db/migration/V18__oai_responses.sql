-- Stored responses of OpenAI's Responses API (/oai/v1/responses; docs/inference.md, "Responses API"). A response
-- belongs to its owner, like files and batches: the user who created it (or, for a caller without a user, its
-- credential), in that tenant. previous_response_id links a conversation's turns; each row keeps only its own turn.
CREATE TABLE oai_responses (
    id                   text PRIMARY KEY,
    tenant_id            text NOT NULL,
    owner_id             text NOT NULL,
    previous_response_id text,
    status               text NOT NULL,
    -- json, not jsonb: returned in the field order OpenAI writes
    response             json NOT NULL,
    -- this request's input items, with ids (GET .../input_items)
    input_items          json NOT NULL,
    -- this turn as chat messages (its input, then the assistant's answer), replayed by later turns
    context              json NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL
);
CREATE INDEX oai_responses_expiry_idx ON oai_responses (expires_at);
