-- Image generation: what one generated image costs on a frontend model (OpenAI prices DALL-E per image; models
-- that report tokens, as gpt-image-1, are priced by the token prices as well); NULL = images are not charged.
-- Usage records keep how many images a request produced.
ALTER TABLE frontend_models ADD COLUMN price_per_image numeric(12, 4);
ALTER TABLE usage_records ADD COLUMN images integer NOT NULL DEFAULT 0;
