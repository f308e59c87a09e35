-- Anchoring the log on an EVM chain (SPEC §5, docs/transparency-log.md, "Anchoring"): one row per attempt to
-- register a checkpoint. The signed transaction is stored before it is broadcast, so a restarted anchorer
-- broadcasts the same one again (or a fee-bumped replacement with the same nonce) and never a second nonce.
CREATE TABLE log_anchors (
    anchor_id    TEXT PRIMARY KEY,
    tree_size    BIGINT NOT NULL REFERENCES log_checkpoints (tree_size),
    root         BYTEA NOT NULL,
    chain_id     BIGINT NOT NULL,
    contract     TEXT NOT NULL,                         -- 0x address
    nonce        BIGINT NOT NULL,
    state        TEXT NOT NULL,                         -- submitted | confirmed | failed
    transactions TEXT NOT NULL,                         -- hashes signed for this nonce, space-separated, newest last
    raw_tx       BYTEA NOT NULL,                        -- the newest signed transaction
    max_fee      TEXT NOT NULL,                         -- wei per gas, decimal (u128)
    priority_fee TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,                         -- when the newest was signed
    tx_hash      TEXT,                                  -- the one that was mined
    block_number BIGINT,
    confirmed_at BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL
);
-- At most one live (not failed) attempt per checkpoint, and one in flight at a time.
CREATE UNIQUE INDEX log_anchors_live ON log_anchors (tree_size) WHERE state <> 'failed';
CREATE UNIQUE INDEX log_anchors_in_flight ON log_anchors (state) WHERE state = 'submitted';

-- Leader leases for singleton loops across processes (the anchorer).
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
