-- The support desk's tables, in the module's own schema (mod_tickets), under
-- its own role. Users are the site's (websonic_api.users, read-only): user
-- ids here carry no foreign key; an erased user's rows are deleted or
-- anonymised by the module's erasure entry point (privacy.go).
--
-- Internal notes live in their own table (notes), never in messages: every
-- path a customer reaches reads messages, so no query, export or transcript
-- written for customers can pick a note up by forgetting a filter.

-- Staff groups: a panel handled by a group is seen and worked only by the
-- group's members (and the site's admins); a panel without a group by every
-- staff member.
CREATE TABLE groups (
  name       text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 80),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
  group_name text NOT NULL REFERENCES groups (name) ON DELETE CASCADE ON UPDATE CASCADE,
  user_id    bigint NOT NULL,
  added_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Panels: the kinds of request a customer chooses from (Bug, Billing…).
-- fields is the form's extra fields, a JSON array checked by the module
-- (panels.go): [{"name", "label", "type": text|textarea|number|select|
-- checkbox|email|date, "required", "options": [...]}]. SLA targets are in
-- minutes of wall-clock time (NULL: none). max_open bounds the tickets a
-- customer has open on the panel at once.
CREATE TABLE panels (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
  description             text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  fields                  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(fields) = 'array'),
  group_name              text REFERENCES groups (name) ON DELETE SET NULL ON UPDATE CASCADE,
  first_response_minutes  integer CHECK (first_response_minutes BETWEEN 1 AND 525600),
  resolution_minutes      integer CHECK (resolution_minutes BETWEEN 1 AND 525600),
  max_open                integer NOT NULL DEFAULT 3 CHECK (max_open BETWEEN 1 AND 100),
  guests                  boolean NOT NULL DEFAULT false,
  position                integer NOT NULL DEFAULT 0,
  archived_at             timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX panels_name ON panels (lower(name)) WHERE archived_at IS NULL;

-- A fresh install has three panels, so the desk is usable at once.
INSERT INTO panels (name, description, first_response_minutes, resolution_minutes, position) VALUES
  ('Question', 'Ask us anything about our products or services.', 480, 2880, 1),
  ('Problem', 'Something does not work as it should.', 240, 1440, 2),
  ('Billing', 'Invoices, payments and refunds.', 480, 4320, 3);

-- Tickets. The opener is a user (opener_id) or a guest (guest_email, with
-- the SHA-256 of their private link's token, which finds the ticket, and
-- the token sealed, for e-mails); an erased opener's tickets are deleted. Status: new (nobody answered yet), open, pending (waiting for
-- the customer: SLA clocks stop), on_hold, solved, closed.
--
-- Priority is urgency × impact (1 low … 3 high each): 1-2 low, 3-4 normal,
-- 6 high, 9 urgent, numbered 1..4.
--
-- SLA: first_response_due and resolution_due are set at opening from the
-- panel's targets; while the ticket is pending, paused_at is set, and when
-- it leaves pending both due times move by the pause's length. next_due is
-- the deadline the ticket runs against now (the earlier of the two until
-- the first response, then the resolution's), NULL when none applies
-- (solved, closed, no target): the queue's overdue and due-soon views read
-- it.
CREATE TABLE tickets (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  panel_id            bigint NOT NULL REFERENCES panels (id),
  opener_id           bigint,
  guest_email         text CHECK (length(guest_email) <= 254),
  guest_name          text CHECK (length(guest_name) <= 80),
  guest_token         bytea UNIQUE CHECK (length(guest_token) = 32),
  -- guest_link: the private link's token sealed with the site's data key
  -- (sdk.Seal, purpose "guest-link"), to put it in later e-mails.
  guest_link          bytea,
  subject             text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
  fields              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(fields) = 'object'),
  status              text NOT NULL DEFAULT 'new'
                      CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'solved', 'closed')),
  urgency             smallint NOT NULL DEFAULT 2 CHECK (urgency BETWEEN 1 AND 3),
  impact              smallint NOT NULL DEFAULT 2 CHECK (impact BETWEEN 1 AND 3),
  priority            smallint GENERATED ALWAYS AS (
                        CASE WHEN urgency * impact <= 2 THEN 1 WHEN urgency * impact <= 4 THEN 2
                             WHEN urgency * impact = 6 THEN 3 ELSE 4 END) STORED,
  assignee_id         bigint,
  merged_into         bigint REFERENCES tickets (id) ON DELETE SET NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  -- last_public_at: the newest message the customer can read; customer_seen_at:
  -- when they last looked (the "new answer" badge is the difference).
  last_public_at      timestamptz NOT NULL DEFAULT now(),
  customer_seen_at    timestamptz NOT NULL DEFAULT now(),
  first_response_at   timestamptz,
  first_response_due  timestamptz,
  resolution_due      timestamptz,
  paused_at           timestamptz,
  next_due            timestamptz GENERATED ALWAYS AS (
                        CASE WHEN status IN ('solved', 'closed') THEN NULL
                             WHEN first_response_at IS NULL THEN least(first_response_due, resolution_due)
                             ELSE resolution_due END) STORED,
  solved_at           timestamptz,
  closed_at           timestamptz,
  rating              smallint CHECK (rating BETWEEN 1 AND 5),
  rating_comment      text NOT NULL DEFAULT '' CHECK (length(rating_comment) <= 2000),
  rated_at            timestamptz,
  -- search: subject, the opener's fields and every message and note, for the
  -- staff queue's full-text search ('simple' configuration: any language).
  search              tsvector NOT NULL DEFAULT ''::tsvector,
  CHECK (opener_id IS NULL OR guest_email IS NULL),
  CHECK ((guest_email IS NULL) = (guest_token IS NULL))
);
CREATE INDEX tickets_opener ON tickets (opener_id, id DESC) WHERE opener_id IS NOT NULL;
CREATE INDEX tickets_queue ON tickets (status, updated_at DESC, id DESC);
CREATE INDEX tickets_updated ON tickets (updated_at DESC, id DESC);
CREATE INDEX tickets_panel ON tickets (panel_id, updated_at DESC, id DESC);
CREATE INDEX tickets_assignee ON tickets (assignee_id, updated_at DESC, id DESC) WHERE assignee_id IS NOT NULL;
CREATE INDEX tickets_due ON tickets (next_due, id) WHERE next_due IS NOT NULL AND paused_at IS NULL;
CREATE INDEX tickets_closed ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX tickets_solved ON tickets (solved_at) WHERE status = 'solved';
CREATE INDEX tickets_search ON tickets USING gin (search);

-- People added to a ticket besides its opener: they read it and reply, as
-- the opener does.
CREATE TABLE participants (
  ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  user_id   bigint NOT NULL,
  added_by  bigint,
  added_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX participants_user ON participants (user_id);

-- The public conversation: what the customer reads. kind 'reply' is a
-- message someone wrote (author_id NULL with guest true: the guest opener;
-- NULL without: an erased user); 'event' a line the desk writes (status
-- changes, claims, merges) with its data in event.
CREATE TABLE messages (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket_id  bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  kind       text NOT NULL DEFAULT 'reply' CHECK (kind IN ('reply', 'event')),
  author_id  bigint,
  guest      boolean NOT NULL DEFAULT false,
  staff      boolean NOT NULL DEFAULT false,
  body       text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
  event      jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'event') = (event IS NOT NULL))
);
CREATE INDEX messages_ticket ON messages (ticket_id, id);
CREATE INDEX messages_author ON messages (author_id) WHERE author_id IS NOT NULL;

-- Internal notes: staff only, never shown to a customer by any path.
CREATE TABLE notes (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket_id  bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  author_id  bigint,
  body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_ticket ON notes (ticket_id, id);
CREATE INDEX notes_author ON notes (author_id) WHERE author_id IS NOT NULL;

-- Attachments, stored here: one belongs to a message or to a note (a note's
-- is staff-only like the note). Until the message is sent an upload has
-- neither (draft, uploader's own; the retention job drops drafts after a day).
CREATE TABLE attachments (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  message_id  bigint REFERENCES messages (id) ON DELETE CASCADE,
  note_id     bigint REFERENCES notes (id) ON DELETE CASCADE,
  uploader_id bigint,
  guest       boolean NOT NULL DEFAULT false,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  type        text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
  size        integer NOT NULL CHECK (size BETWEEN 1 AND 1000000),
  sha256      bytea NOT NULL CHECK (length(sha256) = 32),
  data        bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (message_id IS NULL OR note_id IS NULL)
);
CREATE INDEX attachments_ticket ON attachments (ticket_id, id);
CREATE INDEX attachments_message ON attachments (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_note ON attachments (note_id) WHERE note_id IS NOT NULL;

-- Canned replies: texts staff insert into a reply; panel_id NULL for every
-- panel.
CREATE TABLE canned (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 120),
  body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
  panel_id   bigint REFERENCES panels (id) ON DELETE CASCADE,
  created_by bigint,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The desk's own record of staff actions (the runtime audits admin
-- commands too): who did what to which ticket.
CREATE TABLE audit (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  actor_id  bigint,
  action    text NOT NULL CHECK (length(action) BETWEEN 1 AND 40),
  ticket_id bigint,
  detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_ticket ON audit (ticket_id, id) WHERE ticket_id IS NOT NULL;
CREATE INDEX audit_at ON audit (at);

-- Mail to send (a transactional outbox): written in the statement that
-- makes the change it announces, sent right after and, if the relay failed,
-- by the "mail" job every minute, up to 10 attempts.
CREATE TABLE outbox (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticket_id  bigint REFERENCES tickets (id) ON DELETE CASCADE,
  to_addr    text NOT NULL CHECK (length(to_addr) BETWEEN 3 AND 254),
  subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 250),
  body       text NOT NULL CHECK (length(body) <= 65536),
  created_at timestamptz NOT NULL DEFAULT now(),
  attempts   integer NOT NULL DEFAULT 0,
  next_try   timestamptz NOT NULL DEFAULT now(),
  sent_at    timestamptz,
  message_id text,
  last_error text
);
CREATE INDEX outbox_due ON outbox (next_try) WHERE sent_at IS NULL AND attempts < 10;
