-- SMART Backend Services, keyed authorization numbers and the audit trail (security.md).
-- Same conventions as 0001: TEXT and BIGINT only, times as fixed-width RFC 3339 UTC text.

-- Secrets the adapter generates at first start and shares between its instances: the key of
-- its access tokens and the key authorization numbers are derived with. Never logged.
CREATE TABLE server_secrets (
    name        TEXT NOT NULL PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Client assertion ids (`jti`) seen, kept until the assertion expires: a second use is a
-- replay. The primary key settles two instances receiving the same assertion at once.
CREATE TABLE assertion_jtis (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX assertion_jtis_expires_at ON assertion_jtis (expires_at);

-- Every authenticated request and every refusal: who, what, the outcome, the authorizations
-- touched and the request id. Never clinical content.
CREATE TABLE audit_events (
    id              TEXT   NOT NULL PRIMARY KEY,
    recorded_at     TEXT   NOT NULL,
    agent_kind      TEXT   NOT NULL CHECK (agent_kind IN ('client', 'reviewer', 'anonymous')),
    agent           TEXT   NULL,
    operation       TEXT   NOT NULL,
    method          TEXT   NOT NULL,
    status          BIGINT NOT NULL,
    authorizations  TEXT   NULL,
    request_id      TEXT   NOT NULL
);

CREATE INDEX audit_events_recorded_at ON audit_events (recorded_at);
CREATE INDEX audit_events_agent ON audit_events (agent, recorded_at);
