-- Publisher plane content (SPEC §2.2): one record per signed (or client-registered) file, and the
-- deployment's own secrets (the watermark key), sealed under the KEK by the caller.
CREATE TABLE deployment_secrets (
    name       TEXT PRIMARY KEY,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE content_records (
    record_id          TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES publishers (publisher_id),
    signing_key_id     TEXT NOT NULL REFERENCES signing_keys (key_id),
    signer             TEXT NOT NULL,               -- the principal in the fingerprint (user or API key id)
    origin_type        TEXT,                        -- CAMERA | EDIT | AI_FULL | AI_EDIT | COMPOSITE | SCAN | SCREEN
    sha256             TEXT NOT NULL,               -- lower-case hex of the original
    watermarked_sha256 TEXT,                        -- of the watermarked file, when one was made
    phash              INTEGER NOT NULL,             -- the 64 bits, as a signed integer
    fingerprint        TEXT NOT NULL,               -- the exact string that was signed
    signature          TEXT NOT NULL,               -- Ed25519, lower-case hex
    watermark_payload  TEXT,                        -- SHA256(signature)[:16], hex, when watermarked
    file_name          TEXT,
    media_type         TEXT NOT NULL,
    file_size          INTEGER NOT NULL,
    width              INTEGER,
    height             INTEGER,
    original_object    TEXT,                        -- object-store keys; none for client-registered hashes
    watermarked_object TEXT,
    source             TEXT NOT NULL,               -- signed | registered
    created_at         INTEGER NOT NULL,
    deleted_at         INTEGER                       -- tombstone: the record stays provable
);
CREATE INDEX content_records_org ON content_records (org_id, created_at, record_id);
CREATE INDEX content_records_sha256 ON content_records (sha256);
CREATE INDEX content_records_watermarked_sha256 ON content_records (watermarked_sha256);
CREATE INDEX content_records_payload ON content_records (watermark_payload);
CREATE INDEX content_records_created ON content_records (created_at, record_id);
