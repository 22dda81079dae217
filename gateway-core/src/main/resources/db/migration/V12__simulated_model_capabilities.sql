-- The simulated models that ./scaigrid up registers (SimulatedCatalogue) had their capabilities bound as
-- text, which PostgreSQL stored as a JSON string rather than an object, so the catalogue showed none.
-- Those strings are the gateway's own constants, valid JSON: unwrap them into the objects they spell.
UPDATE frontend_models
SET capabilities = (capabilities #>> '{}')::jsonb, updated_at = now()
WHERE slug IN ('scaigrid/sim-1', 'scaigrid/sim-embed-1')
  AND jsonb_typeof(capabilities) = 'string'
  AND left(capabilities #>> '{}', 1) = '{';
