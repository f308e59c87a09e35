-- Insertion order of content records, for the in-memory pHash index's incremental refresh (SQLite uses its
-- rowid for the same).
ALTER TABLE content_records ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX content_records_seq ON content_records (seq);
