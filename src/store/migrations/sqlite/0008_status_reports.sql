-- 0008 forge: the outbox of commit statuses reported to the forges. A pipeline's status
-- change writes its report in the same transaction (so a crash never loses one); the
-- daemon's reporter sends it and records the outcome.

-- The projects that report, and the prefix of their status name. The daemon rewrites this
-- at start from `projects[].forge`; a project absent here writes no reports.
CREATE TABLE status_report_contexts (
    project_id INTEGER PRIMARY KEY REFERENCES projects (id),
    context    TEXT    NOT NULL
) STRICT;

-- One row per (project, commit, status name): only the newest state needs sending.
CREATE TABLE status_reports (
    id                 INTEGER PRIMARY KEY,
    project_id         INTEGER NOT NULL REFERENCES projects (id),
    sha                TEXT    NOT NULL,
    -- `<context>/<pipeline source>`, as the forge shows it.
    context            TEXT    NOT NULL,
    -- The newest pipeline for this (project, sha, context), and its status word.
    pipeline_id        INTEGER NOT NULL REFERENCES pipelines (id),
    status             TEXT    NOT NULL,
    -- Bumped by every change; the report is pending while `version > sent_version`.
    version            INTEGER NOT NULL,
    sent_version       INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL,
    -- Failed sends of the pending version, when the next may be made, and since when it fails.
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL,
    failing_since      INTEGER,
    -- What the forge gave back to update later (a GitHub check run's id), and for which
    -- pipeline.
    remote_id          TEXT,
    remote_pipeline_id INTEGER,
    UNIQUE (project_id, sha, context)
) STRICT;

CREATE INDEX status_reports_pending ON status_reports (next_attempt_at) WHERE version > sent_version;
