-- Emails wait in the outbox until the delivery worker sends them; they are written in the
-- same transaction as the change that caused them.
CREATE TABLE email_outbox (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- One row per (plugin, job, community): when it last ran, and who holds it now (a lease,
-- so two portal processes on one database never run the same job at once).
CREATE TABLE job_leases (
    plugin TEXT NOT NULL,
    job TEXT NOT NULL,
    community_id INTEGER NOT NULL REFERENCES communities (id),
    last_run_at INTEGER NOT NULL DEFAULT 0,
    holder TEXT,
    expires_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, job, community_id)
);

-- Every job run, for operators.
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    job TEXT NOT NULL,
    community_id INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    summary TEXT NOT NULL
);
