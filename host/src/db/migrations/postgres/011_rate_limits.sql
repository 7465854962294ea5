-- Rate-limit windows shared by the portal processes on this database (see SQLite's 011).
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    started_ms BIGINT NOT NULL,
    length_ms BIGINT NOT NULL,
    count BIGINT NOT NULL
);

-- The gate of write transactions (PostgreSQL only; SQLite's writes take turns anyway):
-- each write transaction holds it in ROW SHARE mode, which writers share; a call run
-- again after a serialization conflict takes it in EXCLUSIVE mode, so that it runs alone
-- and cannot conflict again. No column: only its lock is used.
CREATE TABLE portal_write_gate ();
