package site

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLastAdminConcurrentRevokes: two admins each losing admin at the same
// time leave one of them admin. The first revocation holds the admins'
// rows (as act does) and deletes its role row; the second waits for those
// rows, and must then see the first one's commit, not the admins of the
// snapshot it started with (a role change updates no users row, so
// PostgreSQL does not recheck the join after the wait).
func TestLastAdminConcurrentRevokes(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	a := e.user("anna", goodPassword, RoleAdmin)
	b := e.user("bert", goodPassword, RoleAdmin)

	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT id FROM websonic.users WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`, a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM websonic.user_roles WHERE user_id = $1 AND role = 'admin'`, a.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.RevokeRole(ctx, Actor{}, b.ID, RoleAdmin) }()
	// Wait until the second revocation waits for the rows tx holds.
	deadline := time.Now().Add(30 * time.Second)
	for e.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second revocation never waited for the admins' rows")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrLastAdmin) {
		t.Errorf("revoking the last admin after a concurrent revocation: %v, want ErrLastAdmin", err)
	}
	if n := e.count(`SELECT count(*) FROM websonic.user_roles WHERE role = 'admin'`); n != 1 {
		t.Errorf("%d admins left, want 1", n)
	}
}
