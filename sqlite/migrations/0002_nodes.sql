-- Nodes: the machines agents run on. Only the hash of a node's credential is
-- kept; the rest of the description is a JSON document like a session's.
CREATE TABLE nodes (
    id              TEXT    NOT NULL PRIMARY KEY,
    credential_hash TEXT    NOT NULL DEFAULT '',
    doc             TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX nodes_credential ON nodes (credential_hash) WHERE credential_hash != '';
