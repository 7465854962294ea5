-- PostgreSQL's version of ../006_plugin_objects.sql (the same number, the same tables and columns).
-- The tables and indexes each plugin's migrations created. (SQLite's version also
-- recorded what plugins had made before this table existed; no PostgreSQL database is
-- that old.)
CREATE TABLE plugin_objects (
    name TEXT COLLATE nocase PRIMARY KEY,
    plugin TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('table', 'index'))
);
