-- Moderation's tables. Every row belongs to one community (`community_id`).

-- A community's rules; no row means the defaults (no blocked words, refuse, 7 days).
CREATE TABLE moderation_rules (
    community_id INTEGER PRIMARY KEY,
    blocked_words TEXT NOT NULL,            -- one word or phrase per line
    word_action TEXT NOT NULL CHECK (word_action IN ('refuse', 'hold')),
    new_member_days INTEGER NOT NULL CHECK (new_member_days >= 0),
    updated_by INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A copy of each message Conversations posted (event conversations.message_posted), so
-- a report can show the reported text and check that the reporter can read it.
CREATE TABLE moderation_message (
    community_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    author_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    readers TEXT NOT NULL,                  -- JSON array of member ids
    check_id INTEGER,                       -- the check it passed, if one ran
    posted_at INTEGER NOT NULL,
    PRIMARY KEY (community_id, message_id)
);

-- The queue: messages the check held, and reports.
CREATE TABLE moderation_entry (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('held', 'report')),
    check_id INTEGER,                       -- what a decision resolves
    conversation_id INTEGER,                -- none for the first message of a new conversation
    message_id INTEGER,                     -- reports; held messages once released
    author_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,                   -- held: why; report: the reporter's words
    reporter_id INTEGER,
    created_at INTEGER NOT NULL,
    decision TEXT CHECK (decision IN ('release', 'reject', 'dismiss', 'take_down')),
    decision_reason TEXT,
    decided_by INTEGER,
    decided_at INTEGER
);
-- The queue, newest first, and its badge.
CREATE INDEX moderation_entry_pending ON moderation_entry (community_id, created_at)
    WHERE decision IS NULL;
-- "Recently decided".
CREATE INDEX moderation_entry_decided ON moderation_entry (community_id, decided_at)
    WHERE decision IS NOT NULL;
-- A check holds once, however often it is asked.
CREATE UNIQUE INDEX moderation_entry_held_check ON moderation_entry (community_id, check_id)
    WHERE kind = 'held';
-- The reports of one message; one pending report per reporter and message.
CREATE UNIQUE INDEX moderation_entry_report ON moderation_entry (community_id, message_id, reporter_id)
    WHERE kind = 'report' AND decision IS NULL;
