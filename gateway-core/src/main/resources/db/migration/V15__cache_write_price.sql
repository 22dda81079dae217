-- What a prompt token written to the provider's prompt cache costs (Anthropic: 1.25 times the input price for
-- its 5-minute cache, twice it for its 1-hour cache); NULL = the input price (the 1-hour price: the write price
-- first). Usage records keep how many of the prompt tokens were written.
ALTER TABLE frontend_models ADD COLUMN cache_write_price_per_mtok numeric(12, 4);
ALTER TABLE frontend_models ADD COLUMN cache_write_1h_price_per_mtok numeric(12, 4);
ALTER TABLE usage_records ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0;
