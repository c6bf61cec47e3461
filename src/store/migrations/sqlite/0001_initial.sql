-- 0001 initial: projects, pipelines, jobs and the append-only job transition log.
--
-- Conventions: times are unix milliseconds (UTC) in INTEGER columns; statuses and failure
-- reasons are GitLab's words; JSON is stored as TEXT checked by json_valid(); booleans are
-- 0/1. Tables are STRICT (SQLite >= 3.37, which the bundled SQLite provides). Ids use
-- AUTOINCREMENT so that an id shown to a user is never reused after old rows are pruned.

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE pipelines (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id),
    ref         TEXT    NOT NULL,
    tag         INTEGER NOT NULL CHECK (tag IN (0, 1)),
    sha         TEXT    NOT NULL,
    before_sha  TEXT,
    source      TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('created', 'waiting_for_resource',
                    'preparing', 'pending', 'running', 'success', 'failed', 'canceled',
                    'skipped', 'manual', 'scheduled')),
    -- The plan the pipeline was started from, as JSON, so history survives config changes.
    plan        TEXT    NOT NULL CHECK (json_valid(plan)),
    -- [{"name", "value", "masked"}]; a masked variable's value is always null.
    variables   TEXT    NOT NULL CHECK (json_valid(variables)),
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    duration_ms INTEGER
) STRICT;

CREATE INDEX pipelines_by_project_newest ON pipelines (project_id, created_at DESC, id DESC);
CREATE INDEX pipelines_newest ON pipelines (created_at DESC, id DESC);

CREATE TABLE jobs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id        INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,
    stage              TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('created', 'waiting_for_resource',
                           'preparing', 'pending', 'running', 'success', 'failed', 'canceled',
                           'skipped', 'manual', 'scheduled')),
    "when"             TEXT    NOT NULL CHECK ("when" IN ('on_success', 'on_failure', 'always',
                           'manual', 'delayed', 'never')),
    allow_failure      INTEGER NOT NULL CHECK (allow_failure IN (0, 1)),
    -- 1 for the first run; a retry is a new row with attempt + 1 and retry_of = previous id.
    attempt            INTEGER NOT NULL CHECK (attempt >= 1),
    retry_of           INTEGER REFERENCES jobs (id),
    exit_code          INTEGER,
    failure_reason     TEXT,
    created_at         INTEGER NOT NULL,
    started_at         INTEGER,
    finished_at        INTEGER,
    duration_ms        INTEGER,
    -- The job's process; process_start_time tells a reused pid apart after a crash.
    pid                INTEGER,
    pgid               INTEGER,
    process_start_time INTEGER,
    log_path           TEXT,
    resource_group     TEXT
) STRICT;

CREATE INDEX jobs_of_pipeline ON jobs (pipeline_id, id);
-- Crash recovery reads the jobs that may have a live process.
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('preparing', 'running');

CREATE TABLE job_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- NULL in the record of the job's creation.
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    reason      TEXT
) STRICT;

CREATE INDEX job_transitions_of_job ON job_transitions (job_id, id);

-- The log is append-only: rows go away only with their job (retention), never change.
CREATE TRIGGER job_transitions_append_only BEFORE UPDATE ON job_transitions
BEGIN
    SELECT RAISE(ABORT, 'job_transitions is append-only');
END;
