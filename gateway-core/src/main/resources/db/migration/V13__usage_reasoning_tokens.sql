-- Of completion_tokens, how many were a reasoning model's thinking (the backend's figure, or the gateway's
-- own count when the upstream reported no usage); 0 for other models and for rows written before this.
ALTER TABLE usage_records ADD COLUMN reasoning_tokens integer NOT NULL DEFAULT 0;
