CREATE TABLE conversations_conversation (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL,
    started_by_kind TEXT NOT NULL,
    started_by_id INTEGER NOT NULL,
    participant_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_message_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX conversations_conversation_key
    ON conversations_conversation (community_id, participant_key);

CREATE TABLE conversations_participant (
    conversation_id INTEGER NOT NULL REFERENCES conversations_conversation (id),
    actor_kind TEXT NOT NULL,
    actor_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_read_message_id INTEGER NOT NULL DEFAULT 0,
    muted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, actor_kind, actor_id)
);

CREATE TABLE conversations_message (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations_conversation (id),
    author_id INTEGER NOT NULL,
    on_behalf_of_group INTEGER,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX conversations_message_by_conversation
    ON conversations_message (conversation_id, id);
