-- A frontend model's uploaded avatar (reference 1.3: POST /v1/models/{id}/avatar, public GET).
-- Small images only (the service caps them), so they live in the row; gone with their model.
CREATE TABLE model_avatars (
    model_id     text PRIMARY KEY REFERENCES frontend_models (id) ON DELETE CASCADE,
    content_type text NOT NULL,
    image        bytea NOT NULL,
    etag         text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
