-- Review of pended answers (workflow.md sections 1, 2 and 4). Same conventions as 0001: TEXT
-- and BIGINT only, times fixed-width RFC 3339 UTC text.

-- Who gave each stored answer and when: `engine` (version 1, decided by the policy engine),
-- `provider-update` (an update or cancellation from the provider, decided by the engine) or
-- `reviewer` (a plan reviewer's decision; `reviewer` names the account, never sent out).
CREATE TABLE answer_versions (
    submission_id TEXT NOT NULL PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
    answered_by   TEXT NOT NULL CHECK (answered_by IN ('engine', 'provider-update', 'reviewer')),
    reviewer      TEXT NULL,
    answered_at   TEXT NOT NULL
);

-- Answers stored before this migration were all given by the engine, at receipt.
INSERT INTO answer_versions (submission_id, answered_by, reviewer, answered_at)
SELECT id, CASE WHEN version = 1 THEN 'engine' ELSE 'provider-update' END, NULL, received_at
FROM submissions;

-- One review case per stored answer with at least one pended (A4) item. `opened_by` is the
-- version whose pended items the case is about; `closed_by` the version that answered them.
CREATE TABLE review_cases (
    id           TEXT   NOT NULL PRIMARY KEY,
    chain_id     TEXT   NOT NULL,
    opened_by    TEXT   NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    -- Bumped on every change of the case, for optimistic concurrency of decisions.
    version      BIGINT NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('open', 'closed')),
    priority     TEXT   NOT NULL CHECK (priority IN ('expedited', 'standard')),
    received_at  TEXT   NOT NULL,
    closed_at    TEXT   NULL,
    closed_by    TEXT   NULL REFERENCES submissions (id) ON DELETE CASCADE,
    closed_how   TEXT   NULL CHECK (closed_how IN ('reviewer', 'provider-update', 'cancellation')),
    CONSTRAINT review_cases_opened_by UNIQUE (opened_by)
);

CREATE INDEX review_cases_chain ON review_cases (chain_id, status);
CREATE INDEX review_cases_status ON review_cases (status, received_at);

-- Plan reviewers. Only a SHA-256 of the token is kept; the token is shown once.
CREATE TABLE reviewers (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT reviewers_name UNIQUE (name),
    CONSTRAINT reviewers_token_hash UNIQUE (token_hash)
);

-- PAS Subscriptions (R4 Backport, rest-hook, full-resource). `resource_json` is the resource
-- as stored and answered; the columns are what delivery and matching need.
CREATE TABLE subscriptions (
    id                 TEXT   NOT NULL PRIMARY KEY,
    -- The client that created it (its submitter key, `client ID`); empty on a server without
    -- authentication. Only its owner sees or changes it, and it is notified of its owner's
    -- requests only.
    owner              TEXT   NOT NULL,
    status             TEXT   NOT NULL CHECK (status IN ('requested', 'active', 'error', 'off')),
    endpoint           TEXT   NOT NULL,
    -- JSON array of `Name: value` header lines sent with every POST.
    headers_json       TEXT   NOT NULL,
    -- JSON array of the organization identifier values the subscription filters on.
    filters_json       TEXT   NOT NULL,
    end_at             TEXT   NULL,
    -- Events committed for this subscription: the last event number issued.
    events             BIGINT NOT NULL,
    last_error         TEXT   NULL,
    resource_json      TEXT   NOT NULL,
    created_at         TEXT   NOT NULL
);

-- The outbox: one row per event and subscription, written in the transaction of the answer
-- that causes it, deleted never (delivered rows keep `delivered_at`).
CREATE TABLE notifications (
    id              TEXT   NOT NULL PRIMARY KEY,
    subscription_id TEXT   NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    event_number    BIGINT NOT NULL,
    submission_id   TEXT   NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    created_at      TEXT   NOT NULL,
    payload_json    TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at TEXT   NOT NULL,
    -- A delivery in progress: no other worker or instance takes the row before this time.
    leased_until    TEXT   NULL,
    delivered_at    TEXT   NULL,
    abandoned_at    TEXT   NULL,
    last_error      TEXT   NULL,
    CONSTRAINT notifications_event UNIQUE (subscription_id, event_number)
);

CREATE INDEX notifications_due ON notifications (delivered_at, abandoned_at, next_attempt_at);

-- Reviewer page sign-ins: the session cookie's SHA-256, its reviewer, the form token that
-- protects its forms against cross-site posts, and when it ends.
CREATE TABLE review_sessions (
    id_hash     TEXT NOT NULL PRIMARY KEY,
    reviewer_id TEXT NOT NULL REFERENCES reviewers (id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
