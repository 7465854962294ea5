-- Rate-limit windows that several portal processes on one database share (sign-in
-- attempts, sending): per key, when its window began, how long it lasts, and how many
-- events it counted. One process on SQLite keeps them in memory; the table is here so
-- that both engines have the same schema.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    length_ms INTEGER NOT NULL,
    count INTEGER NOT NULL
) WITHOUT ROWID;
