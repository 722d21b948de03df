package site

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCreateUserErrors(t *testing.T) {
	st := NewStore(newPool(t))
	ctx := context.Background()
	if _, err := st.CreateUser(ctx, NewUser{Username: "Alice", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		nu   NewUser
		want error
	}{
		{"invalid username", NewUser{Username: "a b", Password: goodPassword}, ErrInvalidUsername},
		{"taken", NewUser{Username: "aLiCe", Password: goodPassword}, ErrUsernameTaken},
		{"weak", NewUser{Username: "bob", Password: "short"}, ErrWeakPassword},
		{"too long password", NewUser{Username: "bob", Password: strings.Repeat("x", 1025)}, ErrWeakPassword},
		{"bad display name", NewUser{Username: "bob", Password: goodPassword, DisplayName: "a\x00b"}, ErrInvalidDisplayName},
		{"bad email", NewUser{Username: "bob", Password: goodPassword, Email: "bob@"}, ErrInvalidEmail},
		{"bad role", NewUser{Username: "bob", Password: goodPassword, Role: "root"}, ErrInvalidRole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.CreateUser(ctx, tt.nu)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "site: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	pool := newPool(t)
	st := NewStore(pool)
	ctx := context.Background()
	created, err := st.CreateUser(ctx, NewUser{Username: "alice", DisplayName: "Alice A.", Email: "a@example.com", Password: goodPassword, Role: RoleStaff})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.Authenticate(ctx, "Alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u, created) || u.DisplayName != "Alice A." || !u.Has(RoleStaff) || u.Has(RoleAdmin) {
		t.Errorf("got %+v, want %+v", u, created)
	}
	if _, err := st.Authenticate(ctx, "alice", "wrong password"); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := st.Authenticate(ctx, "nobody", goodPassword); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}

	t.Run("old parameters are upgraded", func(t *testing.T) {
		old := newHash(goodPassword, hashParams{Memory: 8192, Time: 1, Threads: 1})
		if _, err := pool.Exec(ctx, `UPDATE websonic.users SET password_hash = $1 WHERE username = 'alice'`, old); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Authenticate(ctx, "alice", goodPassword); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := pool.QueryRow(ctx, `SELECT password_hash FROM websonic.users WHERE username = 'alice'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("hash not upgraded: %s", stored)
		}
		if _, err := st.Authenticate(ctx, "alice", goodPassword); err != nil {
			t.Errorf("after upgrade: %v", err)
		}
	})
}

func TestSetRole(t *testing.T) {
	pool := newPool(t)
	st := NewStore(pool)
	ctx := context.Background()
	ada, err := st.CreateUser(ctx, NewUser{Username: "ada", Password: goodPassword, Role: RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, NewUser{Username: "bob", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n, err := st.CountAdmins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("%d admins, want 1", n)
	}
	asAda := WithUser(ctx, ada)
	tests := []struct {
		name     string
		username string
		role     Role
		want     error
		admins   int
	}{
		{"promote", "BOB", RoleAdmin, nil, 2},
		{"same role", "bob", RoleAdmin, nil, 2},
		{"demote", "ada", RoleStaff, nil, 1},
		{"last admin", "bob", RoleMember, ErrLastAdmin, 1},
		{"unknown", "nobody", RoleStaff, ErrUnknownUser, 1},
		{"invalid role", "bob", "root", ErrInvalidRole, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := st.SetRole(asAda, tt.username, tt.role); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if n := count(); n != tt.admins {
				t.Errorf("%d admins, want %d", n, tt.admins)
			}
		})
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'user.role' AND actor_id = $1`, ada.ID).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d role audit rows by ada (%v), want 2", n, err)
	}
}

func TestUserEvents(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	last, err := LastUserEvent(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{EventBanned, EventRoles} {
		if err := RecordUserEvent(ctx, pool, 42, kind); err != nil {
			t.Fatal(err)
		}
	}
	if err := RecordUserEvent(ctx, pool, 42, "exploded"); err == nil {
		t.Error("an unknown kind was recorded")
	}
	evs, err := UserEventsAfter(ctx, pool, last, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != EventBanned || evs[1].Kind != EventRoles || evs[0].UserID != 42 || evs[1].ID <= evs[0].ID {
		t.Fatalf("events after %d: %+v", last, evs)
	}
	if evs, _ := UserEventsAfter(ctx, pool, evs[1].ID, 10); len(evs) != 0 {
		t.Errorf("events after the last: %+v", evs)
	}
}
