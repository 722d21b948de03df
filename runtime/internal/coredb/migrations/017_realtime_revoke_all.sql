-- A revocation for everyone (realtime.revoke with "everyone": true):
-- revoke_user -1 ends every subscription to the topic, signed in or not,
-- e.g. when a chat room is opened to everyone, so that no one's catch-up
-- from before it replays what the room's former members alone could read.
ALTER TABLE websonic.realtime_events DROP CONSTRAINT realtime_events_revoke_user_check;
ALTER TABLE websonic.realtime_events ADD CONSTRAINT realtime_events_revoke_user_check
  CHECK (revoke_user > 0 OR revoke_user = -1);

-- A subscription that catches up looks for revocations after its cursor
-- (realtime's revokedSince): among revocations only, not every event.
CREATE INDEX realtime_events_revocations ON websonic.realtime_events (topic, id) WHERE revoke_user IS NOT NULL;
