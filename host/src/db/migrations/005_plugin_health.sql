-- The circuit breaker of each plugin, as `portal plugin status` shows it. Written by the
-- serving process on every failed call and when the breaker closes again.
CREATE TABLE plugin_health (
    plugin TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open')),
    consecutive_failures INTEGER NOT NULL,
    total_failures INTEGER NOT NULL,
    open_until INTEGER,
    last_failure_at INTEGER,
    last_error TEXT,
    updated_at INTEGER NOT NULL
) STRICT;
