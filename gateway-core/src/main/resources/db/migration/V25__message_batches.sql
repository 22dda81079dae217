-- Anthropic's Message Batches (/anthropic/v1/messages/batches) run on the OpenAI batch runner: which door a batch
-- was made at, so each door lists and shows only its own.
ALTER TABLE oai_batches ADD COLUMN api text NOT NULL DEFAULT 'oai';
DROP INDEX oai_batches_owner_idx;
CREATE INDEX oai_batches_owner_idx ON oai_batches (tenant_id, owner_id, api, created_at DESC, id DESC);
