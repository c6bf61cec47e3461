-- 0006 deploy: what each deployment rendered and what its rollout reported, beside its
-- `deployments` row (0005). Secrets are never part of either: the render is made before
-- secrets are decrypted, and target reports mask them.

CREATE TABLE deployment_details (
    deployment_id INTEGER PRIMARY KEY REFERENCES deployments (id),
    -- The config-repo commit the deployment was made from.
    config_sha    TEXT    NOT NULL,
    -- A hash of everything deployed (release, render, targets, run, health): the same
    -- fingerprint is not deployed again.
    fingerprint   TEXT    NOT NULL,
    -- JSON: [{"path", "text"}], the validated render.
    rendered      TEXT    NOT NULL CHECK (json_valid(rendered)),
    -- JSON: [{"step", "target", "ok", "message"}], one entry per target applied.
    report        TEXT    NOT NULL CHECK (json_valid(report)),
    -- Where the release answers, when a target said (the process target's address).
    url           TEXT
) STRICT;
