-- Abilities (feature flags) granted per community, plugin settings overrides, plugin
-- migrations applied, in-app notifications.
CREATE TABLE ability_grants (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities (id),
    ability TEXT NOT NULL,
    grantee_kind TEXT NOT NULL CHECK (grantee_kind IN ('everyone', 'role', 'group', 'user')),
    grantee TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    UNIQUE (community_id, ability, grantee_kind, grantee)
);

CREATE TABLE plugin_settings (
    community_id INTEGER NOT NULL REFERENCES communities (id),
    plugin TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (community_id, plugin, name)
);

CREATE TABLE plugin_migrations (
    plugin TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, version)
);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    plugin TEXT,
    text TEXT NOT NULL,
    link TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX notifications_by_user ON notifications (user_id, read_at, id);
