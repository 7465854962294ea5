-- PostgreSQL's version of ../010_extension_ids.sql (the same number, the same tables and columns).
-- SQLite's version rebuilds the tables of 009 so that ids are never reused (AUTOINCREMENT);
-- an identity column never reuses its values, so here only the columns and checks change.
ALTER TABLE extension_checks ADD COLUMN asked TEXT NOT NULL DEFAULT '';
ALTER TABLE extension_checks ADD CONSTRAINT extension_checks_resolution
    CHECK (resolution IN ('released', 'rejected'));
ALTER TABLE extension_holds ADD CONSTRAINT extension_holds_state
    CHECK (state IN ('held', 'released', 'rejected'));
