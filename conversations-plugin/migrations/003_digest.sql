-- The last message each participant was emailed about (by an invitation or a digest):
-- nobody is emailed twice for the same message. The partial index holds only the rows
-- with something new for the digest, so its cost follows the number of unread
-- conversations, not the number of messages.
ALTER TABLE conversations_participant ADD COLUMN digested_message_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_participant_pending
    ON conversations_participant (actor_kind, actor_id)
    WHERE last_message_id > last_read_message_id AND last_message_id > digested_message_id;
