-- An upload session's bytes are now parts, one file per chunk, listed here
-- in order (see Handler.appendChunk), in a folder per session. Sessions of
-- the former layout (one file each) cannot continue: they end here, and
-- their files go with the next sweep of the upload folder.
DELETE FROM distribution.uploads;
ALTER TABLE distribution.uploads ADD COLUMN parts text[] NOT NULL DEFAULT '{}';
