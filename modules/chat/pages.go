package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The chat's page: GET /chat (the room list, with the default room open
// beside it on a wide screen) and GET /chat/rooms/{id} (that room open).
// The runtime renders assets/templates/chat.html in the site's theme with
// the first state — who the user is, their rooms with unread badges, the
// open room's newest page of messages — so the page is complete before its
// script runs; the script (assets/chat.js, a signed asset) then keeps it
// live through the runtime's realtime client and the JSON API.
//
// The page reads that state through the module's own API (API.md), served
// in-process by the same mux: the first paint and the script see exactly
// the same shapes, and the page depends on the contract only, not on how
// rooms.go or messages.go compute it.
func init() {
	mux.HandleFunc("GET /chat", chatPage)
	mux.HandleFunc("GET /chat/{$}", chatPage)
	mux.HandleFunc("GET /chat/rooms/{id}", chatPage)
}

// pageRoom is what the page decides with about a room (API.md, "Rooms").
type pageRoom struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	Policy   string `json:"policy"`
	Member   bool   `json:"member"`
	Archived bool   `json:"archived"`
}

// readable says whether the page may load the room's messages for a
// reader who is admin or not: members read, everyone reads an 'everyone'
// room, admins read every room.
func (r pageRoom) readable(admin bool) bool {
	return r.Member || r.Policy == "everyone" || admin
}

// pageData is chat.html's data. Rooms and Messages are the API's own
// objects, as it answered them, so that the template shows them and hands
// them to the script once each (the data a module hands the host is
// bounded: ABI.md, "Host-rendered pages").
type pageData struct {
	Me       json.RawMessage   // GET /chat/api/me
	Rooms    []json.RawMessage // GET /chat/api/rooms, in its order
	RoomID   int64             // the open room, 0 for none
	Room     json.RawMessage   // the open room's object, null for none
	Readable bool              // the open room's messages were loaded
	Messages []json.RawMessage // its newest page, oldest first
	Next     *int64            // the cursor of the page before, null for none
	View     string            // "list" (a phone shows the rooms) or "room" (a phone shows the open room)
	Error    string            // a sentence for the person: what failed

	// Which sections of the room list have rooms.
	HasConvs, HasJoinable, HasArchived bool
	// Avatars are the stand-ins (initials, colour) of the people the page
	// shows, by user id, until the script loads their pictures.
	Avatars map[string]avatarStandIn
}

// avatarStandIn is a user's initials on one of 8 colours, as chat.js
// draws them.
type avatarStandIn struct {
	Initials string `json:"i"`
	Colour   int64  `json:"c"`
}

func standIn(u userRef) avatarStandIn {
	return avatarStandIn{Initials: initials(u), Colour: u.ID % 8}
}

// initials are the first letters of a user's first and last names, or
// the first two of a one-word name, upper-cased (chat.js, initials).
func initials(u userRef) string {
	name := strings.TrimSpace(u.DisplayName)
	if name == "" {
		name = u.Username
	}
	words := strings.Fields(name)
	var s []rune
	switch {
	case len(words) > 1:
		s = []rune{[]rune(words[0])[0], []rune(words[len(words)-1])[0]}
	case len(words) == 1:
		s = []rune(words[0])
		if len(s) > 2 {
			s = s[:2]
		}
	default:
		return "?"
	}
	return strings.ToUpper(string(s))
}

func chatPage(w http.ResponseWriter, r *http.Request) {
	u := sdk.UserFrom(r)
	if u == nil { // the route is for members: the runtime refuses others first
		http.Error(w, "Sign in first.", http.StatusUnauthorized)
		return
	}
	status, d := http.StatusOK, pageData{View: "list", Room: json.RawMessage("null"), Rooms: []json.RawMessage{},
		Messages: []json.RawMessage{}, Avatars: map[string]avatarStandIn{}}
	render := func() {
		sdk.SitePage(w, "Chat")
		if err := sdk.Render(w, status, "chat.html", d); err != nil {
			sdk.Logger().Error("render the chat page", "error", err)
		}
	}
	fail := func(err error) {
		var ae *apiError
		if !errors.As(err, &ae) {
			sdk.Logger().Error("chat page", "path", r.URL.Path, "error", err)
			ae = &apiError{Status: http.StatusInternalServerError, Code: "internal", Msg: "Something went wrong on the server; try again."}
		}
		status, d.Error = ae.Status, ae.Msg
	}

	// Until the API says more, the page shows who the runtime says the
	// user is (a page that fails still names them).
	me := meView{User: refOf(u), Admin: isAdmin(u), Presence: "online"}
	d.Me, _ = json.Marshal(me)
	d.Avatars[strconv.FormatInt(u.ID, 10)] = standIn(me.User)
	if err := subGet(r, "/chat/api/me", &me); err != nil {
		fail(err)
		render()
		return
	}
	d.Me, _ = json.Marshal(me)
	d.Avatars[strconv.FormatInt(me.User.ID, 10)] = standIn(me.User)
	var list struct {
		Rooms []json.RawMessage `json:"rooms"`
	}
	if err := subGet(r, "/chat/api/rooms", &list); err != nil {
		fail(err)
		render()
		return
	}
	rooms := make([]pageRoom, len(list.Rooms))
	for i, raw := range list.Rooms {
		if err := json.Unmarshal(raw, &rooms[i]); err != nil {
			fail(fmt.Errorf("room %d of the list: %w", i, err))
			render()
			return
		}
	}
	if list.Rooms != nil {
		d.Rooms = list.Rooms
	}
	for _, p := range rooms {
		switch {
		case p.Archived:
			d.HasArchived = true
		case p.Kind != "room":
			d.HasConvs = true
		case !p.Member && p.Policy != "everyone":
			d.HasJoinable = true
		}
	}

	open := -1
	if r.PathValue("id") != "" {
		d.View = "room"
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err == nil {
			open = slices.IndexFunc(rooms, func(p pageRoom) bool { return p.ID == id })
		}
		if open < 0 { // not listed to this user: as if it did not exist (API.md)
			fail(notFound("No such room."))
			render()
			return
		}
	} else {
		open = defaultRoom(rooms, me.Admin)
	}
	if open < 0 {
		render()
		return
	}
	d.RoomID, d.Room = rooms[open].ID, list.Rooms[open]
	if !rooms[open].readable(me.Admin) {
		render() // the page offers to join
		return
	}
	var page struct {
		Messages []json.RawMessage `json:"messages"`
		Next     *int64            `json:"next"`
	}
	if err := subGet(r, "/chat/api/rooms/"+strconv.FormatInt(d.RoomID, 10)+"/messages", &page); err != nil {
		fail(err)
		render()
		return
	}
	msgs, next, err := firstPaint(page.Messages, page.Next, firstPaintBudget)
	if err != nil {
		fail(err)
		render()
		return
	}
	for _, m := range msgs {
		if m.Author != nil {
			d.Avatars[strconv.FormatInt(m.Author.ID, 10)] = standIn(*m.Author)
		}
		d.Messages = append(d.Messages, m.raw)
	}
	d.Readable, d.Next = true, next
	render()
}

// firstPaintBudget bounds the bytes of messages a page is rendered with:
// the host takes at most 2 MiB of data and writes at most 4 MiB of page
// (ABI.md, "Host-rendered pages"), and a message's text is in the page
// twice (as HTML and in the script's state), escaped both times. A page of
// 50 messages of 4000 characters fits whole (at worst 1.2 MiB of data and
// a 2 MiB page); with the longest messages the setting allows (10,000
// characters) the oldest of the 50 wait for the script, which loads them
// as the person scrolls up (pages_test.go, TestPageWorstCase).
const firstPaintBudget = 1280 << 10

// paintMessage is a message of the first paint: the API's object, and
// what the page reads of it.
type paintMessage struct {
	raw    json.RawMessage
	ID     int64    `json:"id"`
	Author *userRef `json:"author"`
}

// firstPaint turns the newest page of a room, as the API answers it
// (newest first, and the cursor of the page before), into the messages
// the page is rendered with, oldest first: the newest ones whose JSON
// fits in budget (at least one), and the cursor before the oldest kept.
func firstPaint(page []json.RawMessage, next *int64, budget int) ([]paintMessage, *int64, error) {
	var out []paintMessage
	used := 0
	for i, raw := range page {
		if used += len(raw); used > budget && i > 0 {
			cursor := out[len(out)-1].ID
			next = &cursor
			break
		}
		m := paintMessage{raw: raw}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("message %d of the page: %w", i, err)
		}
		out = append(out, m)
	}
	slices.Reverse(out) // the API answers newest first; the page reads down
	return out, next, nil
}

// defaultRoom is the room /chat opens beside the list: the first room
// everyone reads (General), else the first room the user is in, else none
// (-1).
func defaultRoom(rooms []pageRoom, admin bool) int {
	if i := slices.IndexFunc(rooms, func(p pageRoom) bool {
		return p.Kind == "room" && p.Policy == "everyone" && !p.Archived
	}); i >= 0 {
		return i
	}
	return slices.IndexFunc(rooms, func(p pageRoom) bool { return p.Member && !p.Archived })
}

// subGet reads a page's first state through the module's own API
// (jsonapi.SubGet over mux).
func subGet(r *http.Request, path string, v any) error { return jsonapi.SubGet(mux, r, path, v) }
