-- API tokens: the identities of API clients. Only a keyed hash of each
-- token's secret is stored (see `service/tokens.rs`); a revoked token is
-- kept, marked, so `allot token list` shows what it was.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
