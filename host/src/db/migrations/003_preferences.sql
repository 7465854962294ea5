-- Members' preferences, declared by plugins' manifests; a missing row means the default.
CREATE TABLE preferences (
    user_id INTEGER NOT NULL REFERENCES users (id),
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (user_id, plugin, key)
);
