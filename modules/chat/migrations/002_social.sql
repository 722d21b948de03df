-- The social slice's lookups (friends.go, presence.go).

-- A refused sender waits before asking the same person again: their
-- refused requests to that person, newest first.
CREATE INDEX friend_requests_refused ON friend_requests (from_id, to_id, decided_at DESC) WHERE state = 'refused';

-- The presence job reads the users last announced present, every minute.
CREATE INDEX presence_announced ON presence (last_seen) WHERE announced <> 'offline';
