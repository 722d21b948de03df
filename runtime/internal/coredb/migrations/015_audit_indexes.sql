-- The admin area's audit log filters by subject (each user's page), by
-- action and by who acted, newest first (keyset on id). Without these
-- indexes each such page scans the whole log, which failed sign-ins let
-- anyone grow (within the login limits).
CREATE INDEX audit_log_subject_id ON websonic.audit_log (subject, id DESC);
CREATE INDEX audit_log_action_id ON websonic.audit_log (action, id DESC);
CREATE INDEX audit_log_actor_id ON websonic.audit_log (actor_id, id DESC);
