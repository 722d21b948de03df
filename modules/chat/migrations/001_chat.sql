-- The chat's tables, in the module's own schema (mod_chat), under its own
-- role. Users are the site's (websonic_api.users, read-only): user ids here
-- carry no foreign key, and a user erased from the site simply no longer
-- joins (the page shows "deleted user").

-- Rooms and conversations. kind 'room' is a named room the admins manage;
-- 'group' a conversation some friends made; 'dm' two friends. policy (rooms
-- only) says who may join: 'everyone' (every user reads and posts, no
-- joining), 'open' (a join request is approved at once), 'request' (an admin
-- decides), 'invite' (only an admin adds members).
CREATE TABLE rooms (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('room', 'group', 'dm')),
  name            text NOT NULL DEFAULT '' CHECK (length(name) <= 80),
  topic           text NOT NULL DEFAULT '' CHECK (length(topic) <= 300),
  policy          text NOT NULL DEFAULT 'request' CHECK (policy IN ('everyone', 'open', 'request', 'invite')),
  -- seed names the rooms a fresh install has: general, blabla, dept1..dept3.
  seed            text UNIQUE,
  -- dm_key is "A:B" (A < B, user ids) for a dm: one conversation per pair.
  dm_key          text UNIQUE,
  retention_days  integer CHECK (retention_days BETWEEN 1 AND 36500),
  created_by      bigint,
  created_at      timestamptz NOT NULL DEFAULT now(),
  archived_at     timestamptz,
  last_message_id bigint NOT NULL DEFAULT 0,
  CHECK ((kind = 'dm') = (dm_key IS NOT NULL))
);
CREATE UNIQUE INDEX rooms_name ON rooms (lower(name)) WHERE kind = 'room';

-- Who is in a room. For 'everyone' rooms a row appears at a user's first
-- visit (it holds their read marker).
CREATE TABLE members (
  room_id      bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  user_id      bigint NOT NULL,
  role         text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'owner')),
  joined_at    timestamptz NOT NULL DEFAULT now(),
  last_read_id bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE join_requests (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  user_id    bigint NOT NULL,
  state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'refused', 'cancelled')),
  reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz,
  decided_by bigint
);
CREATE UNIQUE INDEX join_requests_pending ON join_requests (room_id, user_id) WHERE state = 'pending';
CREATE INDEX join_requests_queue ON join_requests (user_id, created_at) WHERE state = 'pending';
CREATE INDEX join_requests_user ON join_requests (user_id, id DESC);

CREATE TABLE friend_requests (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_id    bigint NOT NULL,
  to_id      bigint NOT NULL CHECK (to_id <> from_id),
  state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'refused', 'cancelled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz
);
CREATE UNIQUE INDEX friend_requests_pending ON friend_requests (least(from_id, to_id), greatest(from_id, to_id)) WHERE state = 'pending';
CREATE INDEX friend_requests_to ON friend_requests (to_id) WHERE state = 'pending';
CREATE INDEX friend_requests_from ON friend_requests (from_id) WHERE state = 'pending';

-- A friendship, stored once with a < b. forced_by: the admin who made it.
CREATE TABLE friends (
  a         bigint NOT NULL,
  b         bigint NOT NULL CHECK (a < b),
  since     timestamptz NOT NULL DEFAULT now(),
  forced_by bigint,
  PRIMARY KEY (a, b)
);
CREATE INDEX friends_b ON friends (b);

CREATE TABLE blocks (
  blocker    bigint NOT NULL,
  blocked    bigint NOT NULL CHECK (blocked <> blocker),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (blocker, blocked)
);
CREATE INDEX blocks_blocked ON blocks (blocked);

-- Messages. Room messages keep their text in body (searchable); group and
-- dm messages keep it sealed (sdk.Seal, purpose "message"): the database
-- alone does not reveal them. A deleted message keeps its row (the history's
-- shape) with neither. author_id NULL: the author's account was erased.
CREATE TABLE messages (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  author_id  bigint,
  body       text,
  sealed     bytea,
  tsv        tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at  timestamptz,
  deleted_at timestamptz,
  deleted_by bigint,
  CHECK (num_nonnulls(body, sealed) <= 1)
);
CREATE INDEX messages_room ON messages (room_id, id DESC);
CREATE INDEX messages_tsv ON messages USING gin (tsv) WHERE deleted_at IS NULL;
CREATE INDEX messages_author ON messages (author_id);
CREATE INDEX messages_created ON messages (created_at);

-- @mentions, for the mentioned user's badge.
CREATE TABLE mentions (
  message_id bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  user_id    bigint NOT NULL,
  room_id    bigint NOT NULL,
  PRIMARY KEY (user_id, message_id)
);
CREATE INDEX mentions_message ON mentions (message_id);

CREATE TABLE reactions (
  message_id bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  user_id    bigint NOT NULL,
  emoji      text NOT NULL CHECK (length(emoji) BETWEEN 1 AND 16),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, user_id, emoji)
);

-- Presence: status is what the user chose ('offline' = appear offline);
-- last_seen is refreshed by the page's heartbeat; announced is the last
-- effective status published on chat.presence.
CREATE TABLE presence (
  user_id   bigint PRIMARY KEY,
  status    text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'dnd', 'offline')),
  last_seen timestamptz NOT NULL DEFAULT now(),
  announced text NOT NULL DEFAULT 'offline' CHECK (announced IN ('online', 'away', 'dnd', 'offline'))
);

CREATE TABLE profiles (
  user_id      bigint PRIMARY KEY,
  display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 60),
  about        text NOT NULL DEFAULT '' CHECK (length(about) <= 300),
  avatar       bytea CHECK (length(avatar) <= 262144),
  avatar_type  text CHECK (avatar_type IN ('image/png', 'image/jpeg')),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Admin actions of the chat itself (room changes, decisions, forced
-- friendships); the site's audit log records the commands and user actions.
CREATE TABLE audit (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor_id bigint,
  action   text NOT NULL,
  detail   jsonb NOT NULL DEFAULT '{}'
);
