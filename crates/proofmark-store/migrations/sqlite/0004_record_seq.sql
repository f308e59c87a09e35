-- Insertion order of content records: SQLite's rowid serves (PostgreSQL adds an identity column `seq`).
SELECT 1;
