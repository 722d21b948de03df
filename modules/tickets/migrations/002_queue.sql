-- The staff queue's indexes (queue.go): every sort of the queue reads its
-- first page from an index in its order, keyset-paged on (key, id), so a
-- page of 50 costs the same on 100,000 tickets as on 100. The default view
-- lists active tickets (new, open, pending, on_hold), a few among many
-- solved and closed ones: partial indexes keep to those (queue.go writes
-- the statuses out as constants, which the planner needs to use them);
-- status=all reads the whole-table ones.
CREATE INDEX tickets_active_updated ON tickets (updated_at, id)
  WHERE status IN ('new', 'open', 'pending', 'on_hold');
CREATE INDEX tickets_active_created ON tickets (created_at, id)
  WHERE status IN ('new', 'open', 'pending', 'on_hold');
CREATE INDEX tickets_active_priority ON tickets (priority, id)
  WHERE status IN ('new', 'open', 'pending', 'on_hold');
-- The due sort puts tickets without a due time last (queue.go's noDue).
CREATE INDEX tickets_active_due ON tickets ((coalesce(next_due, '9999-12-31 00:00:00+00'::timestamptz)), id)
  WHERE status IN ('new', 'open', 'pending', 'on_hold');
CREATE INDEX tickets_created ON tickets (created_at, id);
CREATE INDEX tickets_priority ON tickets (priority, id);
CREATE INDEX tickets_due_all ON tickets ((coalesce(next_due, '9999-12-31 00:00:00+00'::timestamptz)), id);
-- "Mine" and "unassigned", the views staff open most.
CREATE INDEX tickets_active_assignee ON tickets (assignee_id, updated_at, id)
  WHERE status IN ('new', 'open', 'pending', 'on_hold');
CREATE INDEX tickets_active_unassigned ON tickets (updated_at, id)
  WHERE status IN ('new', 'open', 'pending', 'on_hold') AND assignee_id IS NULL;
-- The counts (queue.go, countsRoute) read every active ticket of the
-- panels one works: from this index alone (an index-only scan), not the
-- table.
CREATE INDEX tickets_active_counts ON tickets (panel_id) INCLUDE (status, assignee_id, next_due, paused_at)
  WHERE status IN ('new', 'open', 'pending', 'on_hold');
