-- 0007 event dedup index: the lookup that recognises a push seen twice (a webhook and
-- polling, or Gerrit's change-merged and ref-updated for one merge) reads events by project,
-- kind, ref and new tip. Without an index it scanned every event of the project, on the path
-- of every acknowledged delivery; with it, one index seek. (The lookup by delivery id has the
-- UNIQUE (project_id, dedup_key) index since 0002.)

CREATE INDEX events_by_tip ON events (project_id, git_ref, sha, kind);
