-- 0005 promotions: what moves releases between environments and what it is judged on.
--
-- `deployments`: each attempt to run a release in an environment, written by deploy; the
-- health input of the `from` and `soak` gates (the latest row of an (app, env) is its state;
-- `healthy_since` is when it first became healthy). `approvals`: each approval or rejection
-- of a release for an environment, by identity (access.yaml), never deleted (expiry is
-- computed). `promotions`: each pin commit Sluice pushed to the config repo (promotion or
-- rollback). `audit_log`: every operation asked of the daemon, allowed or refused; triggers
-- make it append-only.

CREATE TABLE deployments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app           TEXT    NOT NULL,
    env           TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'deploying', 'healthy', 'failed',
                      'rolled_back')),
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    healthy_since INTEGER,
    message       TEXT
) STRICT;

CREATE INDEX deployments_latest ON deployments (app, env, id DESC);

CREATE TABLE approvals (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app        TEXT    NOT NULL,
    env        TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    -- The access.yaml identity that approved or rejected.
    identity   TEXT    NOT NULL,
    verdict    TEXT    NOT NULL CHECK (verdict IN ('approve', 'reject')),
    comment    TEXT,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX approvals_of_release ON approvals (app, env, version, id);

CREATE TABLE promotions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    app              TEXT    NOT NULL,
    env              TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('promote', 'rollback')),
    -- The version pinned before (none for a first promotion).
    previous_version TEXT,
    -- The config-repo commit that changed the pin.
    commit_sha       TEXT    NOT NULL,
    -- Who asked; NULL for an automatic promotion.
    identity         TEXT,
    -- JSON: [{"gate", "state", "why"}] and ["alice", …].
    gates            TEXT    NOT NULL CHECK (json_valid(gates)),
    approvers        TEXT    NOT NULL CHECK (json_valid(approvers)),
    created_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX promotions_of_env ON promotions (app, env, id DESC);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    -- The access.yaml identity, when the token maps to one.
    identity   TEXT,
    -- The API token's name (never its value); NULL for the daemon itself.
    token_name TEXT,
    -- The peer address of the request.
    remote     TEXT,
    action     TEXT    NOT NULL,
    app        TEXT,
    env        TEXT,
    version    TEXT,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('recorded', 'refused', 'failed')),
    detail     TEXT    NOT NULL
) STRICT;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
