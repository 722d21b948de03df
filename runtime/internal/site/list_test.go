package site

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestListUsers: search over usernames, display names and e-mail
// addresses (LIKE's wildcards taken literally), role and state filters,
// the three orders, paging with the total, erased accounts left out, and
// invalid queries refused.
func TestListUsers(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	st := NewStore(pool)
	mk := func(name, display, email string, role Role) int64 {
		u, err := st.CreateUser(ctx, NewUser{Username: name, DisplayName: display, Email: email, Password: goodPassword, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	boss := mk("boss", "The Boss", "boss@example.com", RoleAdmin)
	mia := mk("mia", "Mia Wong", "mia@shop.example", RoleMember)
	sam := mk("sam", "Sam 100%", "", RoleStaff)
	zoe := mk("zoe_q", "Zoé", "zoe@example.com", RoleMember)
	gone := mk("gone", "Gone", "", RoleMember)
	if _, err := pool.Exec(ctx, `UPDATE websonic.users SET erased_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	// Creation times a second apart, and last-seen times for two of them.
	for i, id := range []int64{boss, mia, sam, zoe} {
		if _, err := pool.Exec(ctx, `UPDATE websonic.users SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, id, 100-i); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.recordAddress(ctx, mia, netip.MustParsePrefix("198.51.100.7/32")); err != nil {
		t.Fatal(err)
	}
	if err := st.recordAddress(ctx, sam, netip.MustParsePrefix("198.51.100.8/32")); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE websonic.user_ips SET last_seen = now() - interval '1 hour' WHERE user_id = $1`, mia); err != nil {
		t.Fatal(err)
	}
	admin := Actor{UserID: boss}
	if err := st.Ban(ctx, admin, zoe, "spam"); err != nil {
		t.Fatal(err)
	}
	if err := st.Suspend(ctx, admin, sam, time.Now().Add(time.Hour), "cool down"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		q     UserQuery
		want  []string
		total int
	}{
		{"everyone by name", UserQuery{}, []string{"boss", "mia", "sam", "zoe_q"}, 4},
		{"username", UserQuery{Search: "MI"}, []string{"mia"}, 1},
		{"display name", UserQuery{Search: "wong"}, []string{"mia"}, 1},
		{"e-mail", UserQuery{Search: "example.com"}, []string{"boss", "zoe_q"}, 2},
		{"accented display name", UserQuery{Search: "zoé"}, []string{"zoe_q"}, 1},
		{"percent is literal", UserQuery{Search: "100%"}, []string{"sam"}, 1},
		{"underscore is literal", UserQuery{Search: "e_q"}, []string{"zoe_q"}, 1},
		{"wildcard matches nothing", UserQuery{Search: "o%"}, nil, 0},
		{"erased are not found", UserQuery{Search: "gone"}, nil, 0},
		{"role", UserQuery{Role: RoleStaff}, []string{"sam"}, 1},
		{"banned", UserQuery{State: StateBanned}, []string{"zoe_q"}, 1},
		{"suspended", UserQuery{State: StateSuspended}, []string{"sam"}, 1},
		{"active", UserQuery{State: StateActive}, []string{"boss", "mia"}, 2},
		{"newest first", UserQuery{Sort: SortByCreated}, []string{"zoe_q", "sam", "mia", "boss"}, 4},
		{"last seen first", UserQuery{Sort: SortByLastSeen}, []string{"sam", "mia", "boss", "zoe_q"}, 4},
		{"page 1", UserQuery{Limit: 3}, []string{"boss", "mia", "sam"}, 4},
		{"page 2", UserQuery{Limit: 3, Offset: 3}, []string{"zoe_q"}, 4},
		{"past the end", UserQuery{Limit: 3, Offset: 9}, nil, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := st.ListUsers(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range got {
				names = append(names, u.Username)
			}
			if !slices.Equal(names, tc.want) || total != tc.total {
				t.Fatalf("got %v (total %d), want %v (total %d)", names, total, tc.want, tc.total)
			}
		})
	}
	got, _, err := st.ListUsers(ctx, UserQuery{Search: "sam"})
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if u := got[0]; u.State() != StateSuspended || u.SuspendReason != "cool down" || !u.Has(RoleStaff) || u.LastSeen.IsZero() {
		t.Errorf("sam: %+v, state %s", u, u.State())
	}
	for _, q := range []UserQuery{
		{Sort: "age"}, {Limit: 201}, {Limit: -1}, {Offset: -1}, {Offset: MaxUserOffset + 1},
		{Role: RoleMember}, {Role: "root"}, {State: "gone"}, {Search: "a\x00b"}, {Search: strings.Repeat("é", 101)},
	} {
		if _, _, err := st.ListUsers(ctx, q); !errors.Is(err, ErrInvalidUserQuery) {
			t.Errorf("%+v: %v, want ErrInvalidUserQuery", q, err)
		}
	}
}
