-- Messages checked by other plugins (the check point conversations.check_message).
-- `state`:
--   visible   delivered to the participants (every message stored before this migration);
--   held      stored, but shown to nobody except its author until the plugins that hold it
--             release it (it is then delivered as a new message at the end, see
--             store::release) or one of them rejects it;
--   rejected  never delivered: shown to its author only, with `reason`;
--   removed   delivered, then taken down by a checking plugin: its author sees it with
--             `reason`, the other readers see that a moderator removed it.
-- `check_id` is the host's id of the check the message passed or is held by (NULL when no
-- check ran); resolutions find the message by it. Held, rejected and removed messages
-- never move the participants' latest-message columns, so they count for no unread badge,
-- inbox line or digest.
-- A participant's `state` may now also be 'pending': the other participants of a new
-- conversation whose first message is held. The conversation does not exist for them
-- (no inbox line, no invitation) until one of its messages is delivered.
ALTER TABLE conversations_message ADD COLUMN state TEXT NOT NULL DEFAULT 'visible'
    CHECK (state IN ('visible', 'held', 'rejected', 'removed'));
ALTER TABLE conversations_message ADD COLUMN check_id INTEGER;
ALTER TABLE conversations_message ADD COLUMN reason TEXT;
CREATE INDEX conversations_message_by_check ON conversations_message (check_id);
