-- PostgreSQL's version of ../003_preferences.sql (the same number, the same tables and columns).
-- Members' preferences, declared by plugins' manifests; a missing row means the default.
CREATE TABLE preferences (
    user_id BIGINT NOT NULL REFERENCES users (id),
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (user_id, plugin, key)
);
