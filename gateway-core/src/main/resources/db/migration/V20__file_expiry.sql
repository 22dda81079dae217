-- Files expire as at OpenAI: an upload's expires_after, batch files after scaigrid.files.batch-expiry (30 days) by
-- default, other files never. Files uploaded before this migration keep no expiry. A batch keeps the expiry policy
-- asked for its output and error files until it writes them.
ALTER TABLE oai_files ADD COLUMN expires_at timestamptz;
CREATE INDEX oai_files_expiry_idx ON oai_files (expires_at) WHERE expires_at IS NOT NULL;
ALTER TABLE oai_batches ADD COLUMN output_expires_seconds integer;
