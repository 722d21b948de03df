package main

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk"
)

func TestSeedRooms(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  chatConfig
		want []seedRoom
	}{
		{"defaults", chatConfig{}, []seedRoom{
			{"general", "General", policyEveryone}, {"blabla", "Blabla", policyOpen},
			{"dept1", "Sales", policyRequest}, {"dept2", "Support", policyRequest}, {"dept3", "Engineering", policyRequest},
		}},
		{"configured", chatConfig{GeneralName: " Lobby ", BlablaName: "Café", Departments: "Legal,, HR ,"}, []seedRoom{
			{"general", "Lobby", policyEveryone}, {"blabla", "Café", policyOpen},
			{"dept1", "Legal", policyRequest}, {"dept2", "HR", policyRequest},
		}},
		{"bad names take the defaults", chatConfig{GeneralName: "a\nb", BlablaName: strings.Repeat("x", 81)}, []seedRoom{
			{"general", "General", policyEveryone}, {"blabla", "Blabla", policyOpen},
			{"dept1", "Sales", policyRequest}, {"dept2", "Support", policyRequest}, {"dept3", "Engineering", policyRequest},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := seedRooms(tc.cfg); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("seedRooms = %+v\nwant %+v", got, tc.want)
			}
		})
	}
	many := seedRooms(chatConfig{Departments: strings.Repeat("d,", 30)})
	if len(many) != 22 {
		t.Fatalf("%d rooms seeded from 30 departments, want 2 + 20", len(many))
	}
}

func TestRoomAccess(t *testing.T) {
	member := &sdk.User{ID: 7, Username: "mia", Roles: []string{"member"}}
	admin := &sdk.User{ID: 1, Username: "root", Roles: []string{"admin", "staff", "member"}}
	type want struct{ readable, listed bool }
	for _, tc := range []struct {
		name string
		room roomRow
		user *sdk.User
		want want
	}{
		{"everyone room, anyone", roomRow{Kind: kindRoom, Policy: policyEveryone}, member, want{true, true}},
		{"archived everyone room, not a member", roomRow{Kind: kindRoom, Policy: policyEveryone, Archived: true}, member, want{false, false}},
		{"archived room, a member", roomRow{Kind: kindRoom, Policy: policyRequest, Archived: true, Member: true}, member, want{true, true}},
		{"open room, not a member", roomRow{Kind: kindRoom, Policy: policyOpen}, member, want{false, true}},
		{"request room, not a member", roomRow{Kind: kindRoom, Policy: policyRequest}, member, want{false, true}},
		{"invite room, not a member", roomRow{Kind: kindRoom, Policy: policyInvite}, member, want{false, false}},
		{"invite room, an admin", roomRow{Kind: kindRoom, Policy: policyInvite}, admin, want{true, true}},
		{"archived room, an admin", roomRow{Kind: kindRoom, Policy: policyRequest, Archived: true}, admin, want{true, true}},
		{"group, a member", roomRow{Kind: kindGroup, Member: true}, member, want{true, true}},
		{"group, an admin not in it", roomRow{Kind: kindGroup}, admin, want{false, false}},
		{"dm, an admin not in it", roomRow{Kind: kindDM, DMKey: sql.NullString{String: "2:3", Valid: true}}, admin, want{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := want{tc.room.readable(tc.user), tc.room.listed(tc.user)}
			if got != tc.want {
				t.Fatalf("readable, listed = %v, want %v", got, tc.want)
			}
			err := tc.room.refuseRead(tc.user)
			if ae, ok := err.(*apiError); !ok || tc.want.listed && ae.Status != 403 || !tc.want.listed && ae.Status != 404 {
				t.Fatalf("refuseRead = %v", err)
			}
		})
	}
}

func TestDMOther(t *testing.T) {
	r := roomRow{Kind: kindDM, DMKey: sql.NullString{String: "4:12", Valid: true}}
	if r.dmOther(4) != 12 || r.dmOther(12) != 4 {
		t.Fatalf("dmOther: %d, %d", r.dmOther(4), r.dmOther(12))
	}
	if (&roomRow{Kind: kindRoom}).dmOther(4) != 0 {
		t.Fatal("a room has another person")
	}
}

func TestDecodeStrict(t *testing.T) {
	var v struct {
		Type string `json:"type"`
	}
	for in, ok := range map[string]bool{
		`{"type":"typing"}`:       true,
		`{"type":"typing","x":1}`: false,
		`{"type":"typing"} {}`:    false,
		`"typing"`:                false,
		``:                        false,
	} {
		if err := decodeStrict([]byte(in), &v); (err == nil) != ok {
			t.Errorf("decodeStrict(%s): %v", in, err)
		}
	}
}
