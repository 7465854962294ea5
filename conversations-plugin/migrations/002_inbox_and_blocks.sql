-- Each participant row carries the conversation's latest message, so the inbox, the unread
-- badge and per-conversation unread state are index lookups on the participant's own rows.
ALTER TABLE conversations_conversation ADD COLUMN last_message_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations_participant ADD COLUMN last_message_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations_participant ADD COLUMN last_message_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_participant_inbox
    ON conversations_participant (actor_kind, actor_id, last_message_at DESC, conversation_id);

-- A member who blocked another: the blocked member cannot start or continue a
-- conversation with them.
CREATE TABLE conversations_block (
    community_id INTEGER NOT NULL,
    blocker_id INTEGER NOT NULL,
    blocked_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
