-- The transparency log (SPEC §5, docs/transparency-log.md): one append-only RFC 9162 Merkle log of every
-- content record. A batch writes its leaves, the stored hashes they complete and the checkpoint it signed in
-- one transaction, so the tree and its checkpoints never disagree.
-- Records waiting for the log, in insertion order; a batch takes the oldest and deletes them in the same
-- transaction that appends them. A queue of its own, so a batch never rewrites content_records rows (and
-- their seven indexes). Records that exist when this migration runs are queued too.
CREATE TABLE log_queue (
    seq INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE REFERENCES content_records (record_id)
);
INSERT INTO log_queue (record_id) SELECT record_id FROM content_records ORDER BY rowid;

CREATE TABLE log_leaves (
    leaf_index INTEGER PRIMARY KEY,                            -- dense, from 0
    record_id  TEXT NOT NULL UNIQUE REFERENCES content_records (record_id),
    data       BLOB NOT NULL,                              -- the leaf: the record's canonical bytes
    created_at INTEGER NOT NULL
);

-- Every leaf hash and every complete subtree's hash, at its stored-hash index: proofs and tiles read
-- O(log n) of these and never rebuild the tree.
CREATE TABLE log_hashes (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);

CREATE TABLE log_checkpoints (
    tree_size  INTEGER PRIMARY KEY,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,                               -- the checkpoint as the log signed it
    created_at INTEGER NOT NULL
);

-- Witness cosignatures (C2SP tlog-cosignature) on the log's checkpoints, verified before they are stored.
CREATE TABLE log_cosignatures (
    tree_size   INTEGER NOT NULL REFERENCES log_checkpoints (tree_size),
    witness     TEXT NOT NULL,                              -- the witness key's name
    key_id      INTEGER NOT NULL,
    line        TEXT NOT NULL,                              -- the note signature line, with its newline
    cosigned_at INTEGER NOT NULL,                              -- the cosignature's own timestamp
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tree_size, witness, key_id)
);
