-- Ids that are never reused (AUTOINCREMENT): a delivery's id is what subscribers and a
-- second delivering process tell deliveries apart by, and a check's id is what a later
-- resolution names. Each check also records which implementers were asked (one plugin id
-- per line): only those may reject it later. States are checked.
CREATE TABLE event_deliveries_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO event_deliveries_new SELECT * FROM event_deliveries;
DROP TABLE event_deliveries;
ALTER TABLE event_deliveries_new RENAME TO event_deliveries;
CREATE INDEX event_deliveries_queue ON event_deliveries (subscriber, community_id, id);

CREATE TABLE extension_checks_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    community_id INTEGER NOT NULL REFERENCES communities(id),
    point TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    resolution TEXT CHECK (resolution IN ('released', 'rejected')),
    asked TEXT NOT NULL DEFAULT ''
);
INSERT INTO extension_checks_new (id, community_id, point, created_at, resolution)
    SELECT id, community_id, point, created_at, resolution FROM extension_checks;

CREATE TABLE extension_holds_new (
    check_id INTEGER NOT NULL REFERENCES extension_checks_new(id),
    plugin TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released', 'rejected')),
    PRIMARY KEY (check_id, plugin)
) WITHOUT ROWID;
INSERT INTO extension_holds_new SELECT * FROM extension_holds;
DROP TABLE extension_holds;
DROP TABLE extension_checks;
ALTER TABLE extension_checks_new RENAME TO extension_checks;
ALTER TABLE extension_holds_new RENAME TO extension_holds;
