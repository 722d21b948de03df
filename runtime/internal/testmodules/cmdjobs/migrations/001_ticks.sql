-- One row per run of a job, so tests count the runs of each tick.
CREATE TABLE ticks (job text NOT NULL, tick timestamptz NOT NULL, at timestamptz NOT NULL DEFAULT now());
