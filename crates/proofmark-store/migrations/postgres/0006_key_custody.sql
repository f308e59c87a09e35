-- Who holds a signing key's private half: the server (sealed here) or the client (only the public key is
-- stored; the client signs hashes itself and registers them with POST /api/v1/register).
ALTER TABLE signing_keys ADD COLUMN custody TEXT NOT NULL DEFAULT 'server';
