-- The realtime hub's events (package realtime): what modules published, in
-- commit order (a publish locks the table, so ids grow with commits), for
-- every replica's hub to read after the last id it saw and for clients
-- that reconnect to catch up. Bounded by the hub's sweep (time and count);
-- realtime_horizon records the newest id swept, below which a client's
-- last_id can no longer be caught up (it is told to reload). Owned and
-- used by the serving role only: modules have no grant on schema websonic.
CREATE TABLE websonic.realtime_events (
  id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL CHECK (length(topic) BETWEEN 1 AND 200),
  data  json NOT NULL,
  at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX realtime_events_topic ON websonic.realtime_events (topic, id);
CREATE INDEX realtime_events_at ON websonic.realtime_events (at);

CREATE TABLE websonic.realtime_horizon (
  one           boolean PRIMARY KEY DEFAULT true CHECK (one),
  swept_through bigint NOT NULL DEFAULT 0
);
INSERT INTO websonic.realtime_horizon DEFAULT VALUES;
