-- Conversations of OpenAI's Responses API (/oai/v1/conversations; docs/inference.md, "Conversations"). A conversation
-- belongs to its owner, like stored responses: the user who created it (or its credential), in that tenant. It keeps
-- its items until it is deleted; a response made "in" it adds its input and output items after it finishes.
CREATE TABLE oai_conversations (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL,
    owner_id   text NOT NULL,
    metadata   json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE oai_conversation_items (
    conversation_id text NOT NULL REFERENCES oai_conversations (id) ON DELETE CASCADE,
    -- the order items were added in (a conversation's history is replayed in it)
    seq             bigserial,
    id              text NOT NULL,
    -- the item as listed (json: in the field order it was written); a reasoning item keeps the signed thinking it
    -- carries in encrypted_content, shown only when asked for
    item            json NOT NULL,
    PRIMARY KEY (conversation_id, id)
);
CREATE INDEX oai_conversation_items_order_idx ON oai_conversation_items (conversation_id, seq);
