-- One schema for SQLite and PostgreSQL: only types both share (TEXT, BIGINT), ids are UUID
-- text made by the adapter, times are fixed-width RFC 3339 UTC text and dates ISO 8601 text,
-- so ordering and comparison are plain string comparison on both backends.

-- Every submission ($submit request and our answer), one row per version of an authorization.
-- A chain is an original request (version 1) and its updates/cancellations (2, 3, ...).
CREATE TABLE submissions (
    id                  TEXT    NOT NULL PRIMARY KEY,
    chain_id            TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    supersedes          TEXT    NULL REFERENCES submissions (id),
    status              TEXT    NOT NULL CHECK (status IN ('active', 'cancelled')),
    received_at         TEXT    NOT NULL,
    submitter           TEXT    NOT NULL,
    bundle_identifier   TEXT    NULL,
    claim_identifier    TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL,
    patient_member_id   TEXT    NULL,
    provider_id         TEXT    NULL,
    insurer_id          TEXT    NULL,
    policy_revision     TEXT    NOT NULL,
    authorized_until    TEXT    NULL,
    request_json        TEXT    NOT NULL,
    response_json       TEXT    NOT NULL,
    decision_trace_json TEXT    NOT NULL,
    -- A Claim identifier names one request per submitter: the same content again is a replay,
    -- different content is a conflict (updates carry their own identifier).
    CONSTRAINT submissions_submitter_claim UNIQUE (submitter, claim_identifier),
    -- Versions of one authorization are linear: two updates of the same version cannot both win.
    CONSTRAINT submissions_chain_version UNIQUE (chain_id, version)
);

CREATE INDEX submissions_claim_identifier ON submissions (claim_identifier);
CREATE INDEX submissions_member ON submissions (patient_member_id, provider_id, insurer_id);
CREATE INDEX submissions_authorized_until ON submissions (authorized_until);

-- The authorization numbers issued per item of each version. An unchanged item keeps its
-- number across versions, so a number may appear in several versions of one chain.
CREATE TABLE authorizations (
    submission_id  TEXT   NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    item_sequence  BIGINT NOT NULL,
    number         TEXT   NOT NULL,
    review_action  TEXT   NOT NULL,
    period_start   TEXT   NULL,
    period_end     TEXT   NULL,
    PRIMARY KEY (submission_id, item_sequence)
);

CREATE INDEX authorizations_number ON authorizations (number);
