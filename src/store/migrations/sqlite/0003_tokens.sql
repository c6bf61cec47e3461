-- 0003 tokens: API tokens. Only the SHA-256 hash of a token is stored (tokens are 32 random
-- bytes, so a fast hash is enough: there is nothing to brute-force); the token itself is
-- shown once, when it is created, and never again.

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    scope        TEXT    NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    -- Lowercase hex of SHA-256 over the whole token text (`sluice_…`).
    hash         TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;
