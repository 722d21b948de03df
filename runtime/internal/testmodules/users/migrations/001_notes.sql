-- A user's notes, kept plain and sealed, for the export and erase tests.
CREATE TABLE notes (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL,
  body    text NOT NULL,
  sealed  bytea NOT NULL
);
