-- The private search finds a user's sealed messages by room, newest first
-- (search.go, searchPrivate). Without this index nothing finds rows with
-- sealed texts but a scan of every message (65 ms and 172 ms for the two
-- queries in a room of a million; BENCHMARKS.md, Chat).
CREATE INDEX messages_sealed ON messages (room_id, id DESC) WHERE sealed IS NOT NULL;
