-- Durable jobs (SPEC §7): the queue every background task uses (webhook deliveries now; log batching and
-- video later). A job is claimed with a lease; one whose worker died is claimed again after the lease ends.
-- Webhooks (SPEC §2.4): an organisation's endpoints, their secrets sealed under the KEK by the caller.
CREATE TABLE jobs (
    job_id       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,                  -- JSON, the kind's own
    state        TEXT NOT NULL,                  -- queued | running | done | dead
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after    BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX jobs_ready ON jobs (state, run_after);

CREATE TABLE webhooks (
    webhook_id    TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES publishers (publisher_id),
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,                 -- space-separated event types
    sealed_secret BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);
