package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// TestRevoke: a revocation ends one user's subscriptions to one topic on
// every replica, in order with the topic's events: they get what came
// before it and nothing after; other users and other topics go on; a
// catch-up across it either ends the subscription (revoked after the
// module allowed it) or reloads at once, giving nothing from before it
// (revoked before, then allowed again).
func TestRevoke(t *testing.T) {
	db, _ := coredbtest.Open(t)
	a := newHub(t, db.Pool, realtime.Limits{})
	b := newHub(t, db.Pool, realtime.Limits{}) // a second replica
	ctx := t.Context()

	sub := func(c *client, topic string, last int64) {
		t.Helper()
		if last >= 0 {
			c.send(`{"type":"subscribe","topic":%q,"last_id":%d}`, topic, last)
		} else {
			c.send(`{"type":"subscribe","topic":%q}`, topic)
		}
		c.expect(realtime.TypeSubscribed, topic)
	}
	publish := func(topic, data string) int64 { t.Helper(); return a.publish(t, topic, data) }
	event := func(c *client, topic string, want int64) {
		t.Helper()
		if f := c.expect(realtime.TypeEvent, topic); f.ID != want {
			t.Fatalf("event %d on %s, want %d", f.ID, topic, want)
		}
	}

	aliceA, aliceB, bob := a.dialAs(t, 7), b.dialAs(t, 7), b.dialAs(t, 8)
	sub(aliceA, "t.room", -1)
	sub(aliceA, "t.other", -1)
	sub(aliceB, "t.room", -1)
	sub(bob, "t.room", -1)

	before := publish("t.room", `"before"`)
	if _, err := a.hub.Revoke(ctx, "t.room", 7); err != nil {
		t.Fatal(err)
	}
	after := publish("t.room", `"after"`)
	other := publish("t.other", `"other"`)

	for _, c := range []*client{aliceA, aliceB} {
		event(c, "t.room", before)
		if f := c.expect(realtime.TypeRefused, "t.room"); f.Reason != realtime.ReasonRevoked {
			t.Fatalf("refused %+v, want reason %q", f, realtime.ReasonRevoked)
		}
	}
	event(aliceA, "t.other", other) // not "after": the room's events stopped at the revocation
	event(bob, "t.room", before)
	event(bob, "t.room", after)
	// The revocation is no event to anyone.
	marker := publish("t.room", `"marker"`)
	event(bob, "t.room", marker)

	// Alice is allowed the room again (the module says yes) and catches
	// up from before the revocation: what was published while she was out
	// is not hers, nor is what came before the revocation given back (a
	// module fences a new reader with a revocation: a member who joins a
	// room must not replay what was deleted before), so she is told to
	// reload at once, then gets live events.
	again := a.dialAs(t, 7)
	sub(again, "t.room", before-1)
	if f := again.expect(realtime.TypeReload, "t.room"); f.ID < marker {
		t.Fatalf("reload at %d, want at least %d", f.ID, marker)
	}
	live := publish("t.room", `"live"`)
	event(again, "t.room", live)

	// Revoked while catching up from far back: the events before the
	// revocation, then refused.
	for i := range 20 {
		publish("t.room", fmt.Sprintf("%d", i))
	}
	late := b.dialAs(t, 7)
	late.send(`{"type":"subscribe","topic":"t.room","last_id":%d}`, live)
	late.expect(realtime.TypeSubscribed, "t.room")
	if _, err := b.hub.Revoke(ctx, "t.room", 7); err != nil {
		t.Fatal(err)
	}
	untilRevoked(t, late, "t.room")
	untilRevoked(t, again, "t.room")
	// A new subscription asks the module again; it goes on after the
	// revocations (the module said yes).
	sub(again, "t.room", -1)
	event(again, "t.room", publish("t.room", `"back"`))

	// Bad revocations.
	for _, tt := range []struct {
		topic string
		user  int64
	}{{"", 7}, {"t.room", 0}, {"T!", 7}} {
		if _, err := a.hub.Revoke(ctx, tt.topic, tt.user); err == nil {
			t.Errorf("Revoke(%q, %d) accepted", tt.topic, tt.user)
		}
	}
}

// TestRevokeEveryone: a revocation for everyone ends every subscription
// to the topic, signed in or anonymous, on every replica, in order with
// the events; other topics go on; a catch-up across it reloads at once
// and gives nothing from before it (a room opened to everyone replays
// nothing its former members alone could read).
func TestRevokeEveryone(t *testing.T) {
	db, _ := coredbtest.Open(t)
	a := newHub(t, db.Pool, realtime.Limits{})
	b := newHub(t, db.Pool, realtime.Limits{})
	ctx := t.Context()
	publish := func(topic, data string) int64 { t.Helper(); return a.publish(t, topic, data) }
	alice, bob, anon := a.dialAs(t, 7), b.dialAs(t, 8), b.dial(t)
	for _, c := range []*client{alice, bob, anon} {
		c.send(`{"type":"subscribe","topic":"t.room"}`)
		c.expect(realtime.TypeSubscribed, "t.room")
	}
	alice.send(`{"type":"subscribe","topic":"t.other"}`)
	alice.expect(realtime.TypeSubscribed, "t.other")

	secret := publish("t.room", `"members only"`)
	if _, err := b.hub.Revoke(ctx, "t.room", realtime.RevokeEveryone); err != nil {
		t.Fatal(err)
	}
	publish("t.room", `"after"`)
	other := publish("t.other", `"other"`)
	for _, c := range []*client{alice, bob, anon} {
		if f := c.expect(realtime.TypeEvent, "t.room"); f.ID != secret {
			t.Fatalf("event %d, want %d", f.ID, secret)
		}
		if f := c.expect(realtime.TypeRefused, "t.room"); f.Reason != realtime.ReasonRevoked {
			t.Fatalf("refused %+v, want reason %q", f, realtime.ReasonRevoked)
		}
	}
	if f := alice.expect(realtime.TypeEvent, "t.other"); f.ID != other {
		t.Fatalf("t.other: event %d, want %d", f.ID, other)
	}

	// Newcomers and old subscribers alike, catching up from before the
	// revocation: a reload, nothing from before it, then live events.
	for _, c := range []*client{a.dialAs(t, 9), a.dial(t), bob} {
		c.send(`{"type":"subscribe","topic":"t.room","last_id":0}`)
		c.expect(realtime.TypeSubscribed, "t.room")
		if f := c.expect(realtime.TypeReload, "t.room"); f.ID < secret {
			t.Fatalf("reload at %d, want past %d", f.ID, secret)
		}
		live := publish("t.room", `"live"`)
		if f := c.expect(realtime.TypeEvent, "t.room"); f.ID != live {
			t.Fatalf("event %d, want the live %d", f.ID, live)
		}
	}
	if _, err := a.hub.Revoke(ctx, "t.room", -2); err == nil {
		t.Error("Revoke(-2) accepted")
	}
}

// publish publishes data on topic through s's hub, and returns its id.
func (s *hubSite) publish(t testing.TB, topic, data string) int64 {
	t.Helper()
	id, err := s.hub.Publish(t.Context(), topic, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// untilRevoked reads events (or a reload) until c's subscription to topic
// is revoked.
func untilRevoked(t *testing.T, c *client, topic string) {
	t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Type == realtime.TypeRefused && f.Topic == topic && f.Reason == realtime.ReasonRevoked:
			return
		case f.Type == realtime.TypeReload && f.Topic == topic:
			// A catch-up that meets the revocation stored, not yet
			// dispatched here, gives nothing past its cursor.
		case f.Type != realtime.TypeEvent || f.Topic != topic:
			t.Fatalf("got %+v before the revocation of %s", f, topic)
		}
	}
}

// TestRevokeService: realtime.revoke ends subscriptions to the caller's
// own topics only: a module that does not declare the topic, or declares
// it while another module owns it, is denied and nobody's subscription
// ends; malformed payloads are invalid.
func TestRevokeService(t *testing.T) {
	db, _ := coredbtest.Open(t)
	a := newHub(t, db.Pool, realtime.Limits{})
	svc := a.hub.RevokeService()
	victim := a.dialAs(t, 7)
	victim.send(`{"type":"subscribe","topic":"t.room"}`)
	victim.expect(realtime.TypeSubscribed, "t.room")

	caller := func(name string, topics ...string) *modhost.Caller {
		return &modhost.Caller{Module: name, Manifest: &manifest.Manifest{Name: name, Capabilities: manifest.Capabilities{Topics: topics}}}
	}
	for _, tt := range []struct {
		name    string
		c       *modhost.Caller
		payload string
		code    string
	}{
		{"a topic it does not declare", caller("notes", "notes.*"), `{"topic":"t.room","user_id":7}`, abi.HostErrDenied},
		{"a topic another module owns", caller("copycat", "t.*"), `{"topic":"t.room","user_id":7}`, abi.HostErrDenied},
		{"no manifest", &modhost.Caller{Module: "chat"}, `{"topic":"t.room","user_id":7}`, abi.HostErrDenied},
		{"unknown member", caller("chat", "t.*"), `{"topic":"t.room","user_id":7,"all":true}`, abi.HostErrInvalid},
		{"user 0", caller("chat", "t.*"), `{"topic":"t.room","user_id":0}`, abi.HostErrInvalid},
		{"no user", caller("chat", "t.*"), `{"topic":"t.room"}`, abi.HostErrInvalid},
		{"a user and everyone", caller("chat", "t.*"), `{"topic":"t.room","user_id":7,"everyone":true}`, abi.HostErrInvalid},
		{"everyone false", caller("chat", "t.*"), `{"topic":"t.room","everyone":false}`, abi.HostErrInvalid},
		{"everyone, a topic it does not declare", caller("notes", "notes.*"), `{"topic":"t.room","everyone":true}`, abi.HostErrDenied},
		{"a negative user", caller("chat", "t.*"), `{"topic":"t.room","user_id":-1}`, abi.HostErrInvalid},
		{"bad topic", caller("chat", "t.*"), `{"topic":"t.*","user_id":7}`, abi.HostErrInvalid},
		{"not JSON", caller("chat", "t.*"), `revoke everyone`, abi.HostErrInvalid},
		{"too large", caller("chat", "t.*"), `{"topic":"t.room","user_id":7,"x":"` + strings.Repeat("x", 2000) + `"}`, abi.HostErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Serve(t.Context(), tt.c, []byte(tt.payload))
			var he *abi.HostError
			if !errors.As(err, &he) || he.Code != tt.code {
				t.Fatalf("%v, want a %q host error", err, tt.code)
			}
		})
	}
	// None of those ended the victim's subscription: the owner's event
	// reaches it, then the owner's own revocation does.
	id, err := a.hub.Publish(t.Context(), "t.room", []byte(`"still here"`))
	if err != nil {
		t.Fatal(err)
	}
	if f := victim.expect(realtime.TypeEvent, "t.room"); f.ID != id {
		t.Fatalf("event %d, want %d", f.ID, id)
	}
	if _, err := svc.Serve(t.Context(), caller("chat", "t.*"), []byte(`{"topic":"t.room","user_id":7}`)); err != nil {
		t.Fatal(err)
	}
	untilRevoked(t, victim, "t.room")
}

// askingOwner is testOwner that runs before (when set) as it is asked
// about a subscription, before it says yes.
type askingOwner struct {
	owner
	before func(user *abi.User)
}

func (o askingOwner) Call(ctx context.Context, path string, user *abi.User, body []byte, id string) (*abi.HTTPResponse, error) {
	if path == abi.RealtimeSubscribePath && o.before != nil {
		o.before(user)
	}
	return o.owner.Call(ctx, path, user, body, id)
}

// TestRevokeStoredBeforeYes: a module fences new readers (a room opened to
// everyone, a member joining) with a revocation stored on one replica just
// before the change that lets them read commits; the module's yes on
// another replica can come before that replica has the revocation's
// notification. A catch-up from before the fence must still give nothing
// from before it: a reload at once (and the revocation, once dispatched,
// ends the subscription, which asks the module again), never the
// events only the former readers could read.
func TestRevokeStoredBeforeYes(t *testing.T) {
	db, _ := coredbtest.Open(t)
	var (
		topic     string // the topic fenced
		revokeFor int64  // whose revocation the module's yes follows
	)
	own := askingOwner{owner: testOwner(), before: func(u *abi.User) {
		// Stored as another replica stores it, its notification not
		// (yet) here.
		if revokeFor == 0 {
			return // the watcher
		}
		if _, err := db.Pool.Exec(context.Background(), `INSERT INTO websonic.realtime_events (topic, data, revoke_user)
			VALUES ($1, 'null', $2)`, topic, revokeFor); err != nil {
			t.Error(err)
		}
	}}
	a := newHubOwned(t, db.Pool, realtime.Limits{}, own)
	watch := a.dial(t) // tells when the hub has dispatched what came before
	watch.send(`{"type":"subscribe","topic":"t.watch"}`)
	watch.expect(realtime.TypeSubscribed, "t.watch")
	for i, tt := range []struct {
		name   string
		revoke int64 // the fence's user, or RevokeEveryone
		user   int64 // who subscribes (0: anonymous)
	}{
		{"everyone, anonymous", realtime.RevokeEveryone, 0},
		{"everyone, signed in", realtime.RevokeEveryone, 9},
		{"one new member", 9, 9},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic, revokeFor = fmt.Sprintf("t.fence%d", i), tt.revoke
			secret := a.publish(t, topic, `"members only"`)
			if marker := a.publish(t, "t.watch", `"dispatched"`); watch.expect(realtime.TypeEvent, "t.watch").ID != marker {
				t.Fatal("watch: another event")
			}
			c := a.dialAs(t, tt.user)
			c.send(`{"type":"subscribe","topic":%q,"last_id":%d}`, topic, secret-1)
			f, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			if f.Type == realtime.TypeRefused && f.Topic == topic && f.Reason == realtime.ReasonRevoked {
				return // the revocation was dispatched here before the yes (the hub's poll): refused at once
			}
			if f.Type != realtime.TypeSubscribed || f.Topic != topic {
				t.Fatalf("got %+v, want subscribed on %s", f, topic)
			}
			if f, err = c.next(); err != nil {
				t.Fatal(err)
			}
			if f.Type == realtime.TypeRefused && f.Topic == topic && f.Reason == realtime.ReasonRevoked {
				return // the revocation was dispatched here meanwhile (the hub's poll): ended at once
			}
			if f.Type != realtime.TypeReload || f.Topic != topic || f.ID < secret {
				t.Fatalf("got %+v after subscribing across a fence stored before the yes, want a reload past %d", f, secret)
			}
			// The revocation, dispatched with the next event, ends it.
			a.publish(t, "t.other", `"wake"`)
			if f := c.expect(realtime.TypeRefused, topic); f.Reason != realtime.ReasonRevoked {
				t.Fatalf("refused %+v, want reason %q", f, realtime.ReasonRevoked)
			}
		})
	}
}
