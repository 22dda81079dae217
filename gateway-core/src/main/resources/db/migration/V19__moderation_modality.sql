-- Moderation classifiers (omni-moderation and the like) are a modality of their own: /oai/v1/moderations and
-- /v1/inference/moderate serve them, and nothing else does.
ALTER TABLE frontend_models DROP CONSTRAINT frontend_models_modality_check;
ALTER TABLE frontend_models ADD CONSTRAINT frontend_models_modality_check
    CHECK (modality IN ('chat', 'embedding', 'image', 'audio', 'moderation'));
