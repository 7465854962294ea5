-- Rate-limit windows shared by the portal processes on this database (see SQLite's 011).
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    started_ms BIGINT NOT NULL,
    length_ms BIGINT NOT NULL,
    count BIGINT NOT NULL
);
