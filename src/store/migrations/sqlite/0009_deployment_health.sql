-- 0009 deploy health: whether the release a deployment made keeps running healthily after it
-- was deployed. The daemon checks each environment's current deployment periodically and
-- records transitions only, never each check: `unhealthy_since` is set when the deployment
-- became unhealthy (NULL while healthy) and `health_message` says why (or how it recovered);
-- a recovery clears `unhealthy_since` and moves `healthy_since` (0005) to the moment of
-- recovery, so the `soak` gate counts again from there. `deployment_health` keeps every
-- transition, oldest first.

ALTER TABLE deployments ADD COLUMN unhealthy_since INTEGER;
ALTER TABLE deployments ADD COLUMN health_message TEXT;

CREATE TABLE deployment_health (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    health        TEXT    NOT NULL CHECK (health IN ('healthy', 'unhealthy')),
    at            INTEGER NOT NULL,
    message       TEXT    NOT NULL
) STRICT;

CREATE INDEX deployment_health_of ON deployment_health (deployment_id, id);
