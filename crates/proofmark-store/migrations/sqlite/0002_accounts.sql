-- Publisher plane accounts (SPEC §2.1). An organisation is a row of `publishers`: the same id is the capture
-- plane's publisher_id and the publisher plane's signer. Times are Unix seconds (UTC). Secrets are stored
-- only as hashes (passwords: Argon2id PHC strings; session tokens and API keys: SHA-256 hex) or sealed
-- (signing keys: AES-256-GCM under the key-encryption key, sealed by the caller).
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES publishers (publisher_id),
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,             -- trimmed, lower-cased: one account per address
    password_hash TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    role          TEXT NOT NULL,                    -- owner | admin | member
    created_at    INTEGER NOT NULL
);
CREATE INDEX users_org ON users (org_id);

CREATE TABLE user_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_id       TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES publishers (publisher_id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,                     -- the key's first characters, for people to tell keys apart
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,                     -- space-separated: sign read admin
    created_by   TEXT REFERENCES users (user_id),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE signing_keys (
    key_id             TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES publishers (publisher_id),
    name               TEXT NOT NULL,
    algorithm          TEXT NOT NULL,               -- Ed25519
    public_key         TEXT NOT NULL,               -- lower-case hex
    sealed_private_key BLOB NOT NULL,
    created_at         INTEGER NOT NULL,
    retired_at         INTEGER                       -- retired keys sign nothing new and still verify old records
);
CREATE INDEX signing_keys_org ON signing_keys (org_id, created_at);
