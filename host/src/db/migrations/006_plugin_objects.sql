-- Which plugin owns which table and index: recorded when the plugin's migration creates
-- them, and the only names a plugin's SQL may use (an allow-list by ownership, never by a
-- name prefix). SQLite's automatic indexes (`sqlite_autoindex_{table}_N`) go with their
-- table and are not recorded.
CREATE TABLE plugin_objects (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    plugin TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('table', 'index'))
) STRICT;

-- Databases made before this migration: a plugin's tables and indexes were named
-- `{id}_...`. The portal's own names (db::HOST_SCHEMA) and SQLite's are never a plugin's.
INSERT INTO plugin_objects (name, plugin, kind)
SELECT s.name, p.plugin, s.type
FROM sqlite_schema s
JOIN (SELECT DISTINCT plugin FROM plugin_migrations) p
  ON s.name LIKE replace(replace(replace(p.plugin, '\', '\\'), '_', '\_'), '%', '\%') || '\_%' ESCAPE '\'
WHERE s.type IN ('table', 'index')
  AND s.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND lower(s.name) NOT IN ('communities', 'users', 'users_by_name', 'groups', 'groups_by_name',
      'group_members', 'group_members_by_user', 'sessions', 'sessions_by_user',
      'ability_grants', 'plugin_settings', 'plugin_migrations', 'notifications',
      'notifications_by_user', 'preferences', 'email_outbox', 'email_outbox_due',
      'job_leases', 'job_runs', 'plugin_health', 'plugin_objects');
