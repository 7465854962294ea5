-- PostgreSQL's version of ../008_plugin_refusals.sql (the same number, the same tables and columns).
-- The last host call the sandbox refused to each plugin (undeclared capability, SQL outside
-- its tables, a limit), so `portal plugin status` shows authors and operators what to fix
-- even when the plugin handled the refusal and the call itself succeeded.
ALTER TABLE plugin_health ADD COLUMN refusals BIGINT NOT NULL DEFAULT 0;
ALTER TABLE plugin_health ADD COLUMN last_refusal_at BIGINT;
ALTER TABLE plugin_health ADD COLUMN last_refusal TEXT;
