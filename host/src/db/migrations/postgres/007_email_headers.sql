-- PostgreSQL's version of ../007_email_headers.sql (the same number, the same tables and columns).
-- What an email needs for mail providers and mail clients: its Message-ID, the first email
-- of its thread (In-Reply-To / References), its one-click unsubscribe link (RFC 8058)
-- and whether it is bulk (a digest). `plugin` and `preference` name the preference that
-- governs it: when the member turns that off before the email went out, it is withdrawn
-- instead of sent. `thread` is the plugin's own key of the thread (e.g. conversation/7).
ALTER TABLE email_outbox ADD COLUMN message_id TEXT;
ALTER TABLE email_outbox ADD COLUMN in_reply_to TEXT;
ALTER TABLE email_outbox ADD COLUMN unsubscribe_url TEXT;
ALTER TABLE email_outbox ADD COLUMN bulk BIGINT NOT NULL DEFAULT 0;
ALTER TABLE email_outbox ADD COLUMN plugin TEXT;
ALTER TABLE email_outbox ADD COLUMN preference TEXT;
ALTER TABLE email_outbox ADD COLUMN thread TEXT;
ALTER TABLE email_outbox ADD COLUMN withdrawn_at BIGINT;
CREATE INDEX email_outbox_thread ON email_outbox (user_id, plugin, thread) WHERE thread IS NOT NULL;

-- Conversations split its one email preference (`email_digest`: invitations at once and a
-- digest) into `email_invitations` and `email_digest`. A member who had turned the one
-- off keeps both off: their choice is not undone by the split.
INSERT INTO preferences (user_id, plugin, key, value)
SELECT user_id, plugin, 'email_invitations', 0 FROM preferences
WHERE plugin = 'conversations' AND key = 'email_digest' AND value = 0
ON CONFLICT (user_id, plugin, key) DO NOTHING;
