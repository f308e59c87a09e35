-- Capture plane (SPEC §1.4): publishers, devices, capture sessions, issuer keys, admin tokens.
-- Times are Unix seconds (UTC).
CREATE TABLE publishers (
    publisher_id          TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    name_key              TEXT NOT NULL UNIQUE,   -- lower-cased name: unique case-insensitively
    sandbox               BOOLEAN NOT NULL,
    attestation_provider  TEXT NOT NULL,
    attestation_bundle_id TEXT,
    firebase_project_id   TEXT,
    created_at            INTEGER NOT NULL
);

CREATE TABLE devices (
    device_id              TEXT PRIMARY KEY,
    publisher_id           TEXT NOT NULL REFERENCES publishers (publisher_id),
    external_id            TEXT NOT NULL,
    public_key             TEXT NOT NULL,          -- standard base64 of the 65-byte point
    public_key_fingerprint TEXT NOT NULL,
    token_hash             TEXT NOT NULL UNIQUE,   -- SHA-256 hex of the device token; the token is never stored
    attestation_method     TEXT NOT NULL,
    app_id                 TEXT,
    created_at             INTEGER NOT NULL,
    UNIQUE (publisher_id, external_id)
);

CREATE TABLE capture_sessions (
    capture_id  TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (device_id),
    nonce_hash  TEXT NOT NULL UNIQUE,              -- SHA-256 hex of the nonce
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER                            -- set once, by the single redeeming UPDATE
);

CREATE TABLE issuer_keys (
    kid                TEXT PRIMARY KEY,
    public_jwk         TEXT NOT NULL,
    sealed_private_key BLOB NOT NULL,              -- AES-256-GCM under the key-encryption key
    is_current         BOOLEAN NOT NULL,
    created_at         INTEGER NOT NULL,
    retired_at         INTEGER
);
CREATE UNIQUE INDEX issuer_keys_one_current ON issuer_keys (is_current) WHERE is_current;

CREATE TABLE admin_tokens (
    token_hash TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
