-- The transparency log (SPEC §5, docs/transparency-log.md): one append-only RFC 9162 Merkle log of every
-- content record. A batch writes its leaves, the stored hashes they complete and the checkpoint it signed in
-- one transaction, so the tree and its checkpoints never disagree.
-- Records waiting for the log, in insertion order; a batch takes the oldest and deletes them in the same
-- transaction that appends them. A queue of its own, so a batch never rewrites content_records rows (and
-- their seven indexes). Records that exist when this migration runs are queued too.
CREATE TABLE log_queue (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE REFERENCES content_records (record_id)
);
INSERT INTO log_queue (record_id) SELECT record_id FROM content_records ORDER BY seq;

CREATE TABLE log_leaves (
    leaf_index BIGINT PRIMARY KEY,                            -- dense, from 0
    record_id  TEXT NOT NULL UNIQUE REFERENCES content_records (record_id),
    data       BYTEA NOT NULL,                              -- the leaf: the record's canonical bytes
    created_at BIGINT NOT NULL
);

-- Every leaf hash and every complete subtree's hash, at its stored-hash index: proofs and tiles read
-- O(log n) of these and never rebuild the tree.
CREATE TABLE log_hashes (
    idx  BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL
);

CREATE TABLE log_checkpoints (
    tree_size  BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,                               -- the checkpoint as the log signed it
    created_at BIGINT NOT NULL
);

-- Witness cosignatures (C2SP tlog-cosignature) on the log's checkpoints, verified before they are stored.
CREATE TABLE log_cosignatures (
    tree_size   BIGINT NOT NULL REFERENCES log_checkpoints (tree_size),
    witness     TEXT NOT NULL,                              -- the witness key's name
    key_id      BIGINT NOT NULL,
    line        TEXT NOT NULL,                              -- the note signature line, with its newline
    cosigned_at BIGINT NOT NULL,                              -- the cosignature's own timestamp
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tree_size, witness, key_id)
);
