-- The last host call the sandbox refused to each plugin (undeclared capability, SQL outside
-- its tables, a limit), so `portal plugin status` shows authors and operators what to fix
-- even when the plugin handled the refusal and the call itself succeeded.
ALTER TABLE plugin_health ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plugin_health ADD COLUMN last_refusal_at INTEGER;
ALTER TABLE plugin_health ADD COLUMN last_refusal TEXT;
