-- Issue 10: a request is identified by (submitter, Claim identifier, prior) plus content, no
-- longer by (submitter, Claim identifier): the PAS conformance kit sends an original request
-- and its updates under one Claim identifier, each update naming its prior. `prior_key` is
-- the prior as the request names it ('' for an original request); `claim_full_url` and
-- `claim_resource_id` let a later update name this version by a literal reference.
--
-- SQLite cannot drop a table constraint, so both tables are rebuilt, the same way on SQLite
-- and PostgreSQL, keeping every row: authorizations are set aside first so that nothing
-- references the old submissions table when it is dropped.

CREATE TABLE authorizations_0002 AS SELECT * FROM authorizations;
DROP TABLE authorizations;

CREATE TABLE submissions_0002 (
    id                  TEXT    NOT NULL PRIMARY KEY,
    chain_id            TEXT    NOT NULL,
    version             BIGINT  NOT NULL,
    supersedes          TEXT    NULL REFERENCES submissions_0002 (id),
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
    prior_key           TEXT    NOT NULL DEFAULT '',
    claim_full_url      TEXT    NULL,
    claim_resource_id   TEXT    NULL,
    -- The identity of a request: the same content again is a replay, different content a
    -- conflict; an update names its prior, so it is another request even under the same
    -- Claim identifier.
    CONSTRAINT submissions_identity UNIQUE (submitter, claim_identifier, prior_key),
    -- Versions of one authorization are linear: two updates of the same version cannot both win.
    CONSTRAINT submissions_versions UNIQUE (chain_id, version)
);

INSERT INTO submissions_0002 (id, chain_id, version, supersedes, status, received_at,
    submitter, bundle_identifier, claim_identifier, content_hash, patient_member_id,
    provider_id, insurer_id, policy_revision, authorized_until, request_json, response_json,
    decision_trace_json)
SELECT id, chain_id, version, supersedes, status, received_at, submitter, bundle_identifier,
    claim_identifier, content_hash, patient_member_id, provider_id, insurer_id,
    policy_revision, authorized_until, request_json, response_json, decision_trace_json
FROM submissions ORDER BY version;

DROP TABLE submissions;
ALTER TABLE submissions_0002 RENAME TO submissions;

CREATE INDEX submissions_claim_identifier ON submissions (claim_identifier);
CREATE INDEX submissions_member ON submissions (patient_member_id, provider_id, insurer_id);
CREATE INDEX submissions_authorized_until ON submissions (authorized_until);
CREATE INDEX submissions_claim_full_url ON submissions (submitter, claim_full_url);
CREATE INDEX submissions_claim_resource_id ON submissions (submitter, claim_resource_id);

CREATE TABLE authorizations (
    submission_id  TEXT   NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    item_sequence  BIGINT NOT NULL,
    number         TEXT   NOT NULL,
    review_action  TEXT   NOT NULL,
    period_start   TEXT   NULL,
    period_end     TEXT   NULL,
    PRIMARY KEY (submission_id, item_sequence)
);

INSERT INTO authorizations (submission_id, item_sequence, number, review_action,
    period_start, period_end)
SELECT submission_id, item_sequence, number, review_action, period_start, period_end
FROM authorizations_0002;
DROP TABLE authorizations_0002;

CREATE INDEX authorizations_number ON authorizations (number);
