-- Keys the gateway signs its own service tokens with (RS256). The private key is sealed with the
-- platform key-encryption key (scaigrid.kek); the public half is published as JWKS.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    algorithm    text NOT NULL DEFAULT 'RS256',
    public_key   text NOT NULL,
    private_key  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);

-- Service tokens issued by this gateway (the token itself is never stored: only its id, for revocation).
CREATE TABLE service_tokens (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    scopes      text[] NOT NULL,
    tenant_id   text REFERENCES tenants (id),
    created_by  text,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
