-- PostgreSQL's version of ../005_plugin_health.sql (the same number, the same tables and columns).
-- The circuit breaker of each plugin, as `portal plugin status` shows it. Written by the
-- serving process on every failed call and when the breaker closes again.
CREATE TABLE plugin_health (
    plugin TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open')),
    consecutive_failures BIGINT NOT NULL,
    total_failures BIGINT NOT NULL,
    open_until BIGINT,
    last_failure_at BIGINT,
    last_error TEXT,
    updated_at BIGINT NOT NULL
);
