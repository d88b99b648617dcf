-- The tokens a first start made (the bootstrap admin token, `arena dev`'s)
-- had their name and the first 12 hex digits of their secret's unsalted
-- SHA-256 as id. The id is shown wherever tokens are listed and logged, and
-- a secret an operator chose may be weak enough for that part of its hash to
-- confirm a guess offline. Those ids become the name and random hex, as new
-- ones are; the secrets, and so the tokens, stay as they are. Nothing refers
-- to a token's id.
UPDATE tokens SET id = name || '-' || lower(hex(randomblob(6)))
    WHERE id = name || '-' || substr(hash, 1, 12);
