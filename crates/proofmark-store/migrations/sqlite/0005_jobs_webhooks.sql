-- Durable jobs (SPEC §7): the queue every background task uses (webhook deliveries now; log batching and
-- video later). A job is claimed with a lease; one whose worker died is claimed again after the lease ends.
-- Webhooks (SPEC §2.4): an organisation's endpoints, their secrets sealed under the KEK by the caller.
CREATE TABLE jobs (
    job_id       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,                  -- JSON, the kind's own
    state        TEXT NOT NULL,                  -- queued | running | done | dead
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after    INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX jobs_ready ON jobs (state, run_after);

CREATE TABLE webhooks (
    webhook_id    TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES publishers (publisher_id),
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,                 -- space-separated event types
    sealed_secret BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);
