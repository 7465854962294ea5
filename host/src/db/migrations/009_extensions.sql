-- Plugins extending plugins (ABI 1.2).
-- Events waiting for delivery: one row per subscriber, written in the emitting call's
-- transaction, deleted in the subscriber's transaction once it acknowledged the event.
-- Delivered in `id` order per (subscriber, community); a failed delivery waits until
-- `next_attempt_at`, and the rows behind it wait for it.
CREATE TABLE event_deliveries (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id),
    subscriber TEXT NOT NULL,
    source TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX event_deliveries_queue ON event_deliveries (subscriber, community_id, id);

-- One row per check a plugin asked for (`HostCall::Check`): what a later resolution names.
CREATE TABLE extension_checks (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id),
    point TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- NULL while held or allowed; 'released' once every holder released it; 'rejected'.
    resolution TEXT
);

-- Implementers that answered "hold", until they release or reject.
CREATE TABLE extension_holds (
    check_id INTEGER NOT NULL REFERENCES extension_checks(id),
    plugin TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'held',
    PRIMARY KEY (check_id, plugin)
) WITHOUT ROWID;
