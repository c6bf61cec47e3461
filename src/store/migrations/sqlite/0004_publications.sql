-- 0004 publications: the exactly-once claim of each (app, version), and the releases that
-- publications produce (what promotion and deployment consume).
--
-- A registry has no "create this tag only if absent", so the claim is here: a row of
-- `publications` is inserted under UNIQUE (app, version) before anything is pushed. Its
-- `state` records how far the publication got (claimed → image_pushed → tag_pushed →
-- released; `failed` when an attempt stopped with `error`). Every step after the claim is
-- idempotent (the registry tag and the git tag are checked before they are written), so a
-- publication whose holder crashed or failed is resumed by taking the claim over: when it
-- is `failed`, or when its lease (`lease_until`) ran out. `attempt` grows with each
-- takeover and fences off a holder whose lease expired: its updates name the old attempt
-- and change nothing.

CREATE TABLE publications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT    NOT NULL,
    -- SemVer without build metadata, as the VERSION gate normalised it (no leading `v`).
    version     TEXT    NOT NULL,
    -- The commit being published; a different commit cannot take the claim over once
    -- anything was pushed.
    sha         TEXT    NOT NULL,
    -- The image reference pushed to (`REGISTRY/REPO:VERSION` or `oci:DIR:VERSION`).
    image       TEXT    NOT NULL,
    -- The manifest digest, once the image is pushed.
    digest      TEXT,
    -- The pipeline of the current attempt (no foreign key: a release outlives pruned
    -- pipeline history, and `sluice run` pipelines live in the run's own store).
    pipeline_id INTEGER,
    state       TEXT    NOT NULL CHECK (state IN ('claimed', 'image_pushed', 'tag_pushed',
                    'released', 'failed')),
    error       TEXT,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    lease_until INTEGER NOT NULL,
    claimed_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (app, version)
) STRICT;

CREATE TABLE releases (
    app         TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    sha         TEXT    NOT NULL,
    image       TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    pipeline_id INTEGER,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app, version)
) STRICT;

CREATE INDEX releases_newest ON releases (app, created_at DESC);
