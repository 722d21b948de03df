-- Runs under the module's own role, in its own schema (mod_bench). The
-- native side of the database benchmark reads the same table through the
-- module's own pool, so both sides fetch the same rows.
CREATE TABLE items (
  id          bigint PRIMARY KEY,
  name        text NOT NULL,
  description text NOT NULL,
  price_cents bigint NOT NULL,
  updated_at  timestamptz NOT NULL
);
INSERT INTO items (id, name, description, price_cents, updated_at)
SELECT g, 'Item ' || g, 'A plain item used by the benchmarks, number ' || g || '.', 100 + g * 7,
       timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 1000) AS g;
