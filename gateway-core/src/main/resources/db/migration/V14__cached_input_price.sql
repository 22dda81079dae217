-- What a prompt token read from the provider's prompt cache costs (Anthropic: a tenth of the input price,
-- OpenAI: a half or less); NULL = the input price. Usage records keep how many of the prompt tokens that was.
ALTER TABLE frontend_models ADD COLUMN cached_input_price_per_mtok numeric(12, 4);
ALTER TABLE usage_records ADD COLUMN cached_tokens integer NOT NULL DEFAULT 0;
