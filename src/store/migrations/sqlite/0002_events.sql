-- 0002 events: the durable queue of things that should start a pipeline, and the last seen
-- tip of every watched ref (for polling).
--
-- An event row is written before the sender is answered (a webhook's 2xx) and before any
-- work starts; the worker takes `pending` rows oldest first and marks each one `done`
-- (with its pipeline), `failed` (with the reason) or `ignored`. `dedup_key` recognises a
-- redelivery of the same signal within a project.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id),
    dedup_key   TEXT    NOT NULL,
    -- gitlab, github, gerrit, poll, schedule, api
    source      TEXT    NOT NULL,
    -- push, tag_push, merge_request, recheck, schedule, api
    kind        TEXT    NOT NULL,
    -- The full ref name (`refs/heads/main`, `refs/tags/v1.0.0`).
    git_ref     TEXT    NOT NULL,
    sha         TEXT,
    before_sha  TEXT,
    fetch_ref   TEXT,
    -- The whole event as JSON (never a secret: events hold what forges sent about commits).
    payload     TEXT    NOT NULL CHECK (json_valid(payload)),
    received_at INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'ignored')),
    pipeline_id INTEGER REFERENCES pipelines (id),
    error       TEXT,
    UNIQUE (project_id, dedup_key)
) STRICT;

-- The worker's queue: pending events, oldest first.
CREATE INDEX events_pending ON events (id) WHERE state = 'pending';

CREATE TABLE ref_heads (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    ref        TEXT    NOT NULL,
    sha        TEXT    NOT NULL,
    PRIMARY KEY (project_id, ref)
) STRICT, WITHOUT ROWID;
