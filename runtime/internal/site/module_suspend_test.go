package site

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestModuleCannotShortenSuspension: a module's suspension never replaces
// a longer one in force (the owner's, an admin's or another module's):
// suspending for a minute would otherwise lift the owner's month.
func TestModuleCannotShortenSuspension(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	boss := e.user("boss", goodPassword, RoleAdmin)
	mia := e.user("mia", goodPassword, RoleMember)
	mod := Actor{Module: "chat"}
	month := time.Now().Add(30 * 24 * time.Hour)
	if err := st.Suspend(ctx, Actor{UserID: boss.ID}, mia.ID, month, "a month"); err != nil {
		t.Fatal(err)
	}
	if err := st.Suspend(ctx, mod, mia.ID, time.Now().Add(time.Minute), "a minute"); !errors.Is(err, ErrNotYours) {
		t.Errorf("a module shortening the admin's suspension: %v, want ErrNotYours", err)
	}
	u, err := st.LookupUser(ctx, "", mia.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.SuspendedUntil.Before(month.Add(-time.Second)) || u.SuspendReason != "a month" {
		t.Errorf("suspended until %v (%q), want %v", u.SuspendedUntil, u.SuspendReason, month)
	}
	// Lengthening one is fine.
	if err := st.Suspend(ctx, mod, mia.ID, time.Now().Add(60*24*time.Hour), "longer"); err != nil {
		t.Errorf("a module lengthening a suspension: %v", err)
	}
}
