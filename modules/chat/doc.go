// Command chat is Web Sonic's team chat module: rooms by department with
// join requests, friends and private conversations, mentions, unread
// counts, search, presence and typing, profiles with avatars, all live
// through the runtime's realtime hub, moderated by the site's admins with
// commands and admin pages. API.md is its HTTP and realtime contract;
// README.md says how to run, configure and extend it.
//
// # Design
//
// The module is plain net/http code (one package mux, each file adding its
// routes in its init function) run by the runtime in its wasm sandbox. All
// state is in PostgreSQL, in the module's own schema (migrations/), so any
// replica answers any request and nothing is lost when an instance is
// recycled; the users themselves are the site's (the read-only view
// websonic_api.users), never a copy.
//
// Who may read what is decided in one place, roomRow.readable (rooms.go):
// the HTTP handlers (readableRoom) and the realtime subscriptions (canRead)
// ask it, and search applies the same rule in SQL. Rooms of kind "room" are
// readable by their members, by everyone when their policy is
// "everyone", and by the chat's admins (the site's staff and admins); groups
// and direct messages by their members only, admins included.
//
// Private messages are sealed. The texts of groups and direct messages are
// stored as sdk.Seal output (purpose "message"): the site's data key, which
// lives outside the database, is needed to read them, so a copy of the
// database alone does not reveal them. Search therefore cannot use
// PostgreSQL's text index for them and opens the reader's newest private
// messages instead (search.go).
//
// Events carry ids only where the text is private. Realtime events are kept
// by the runtime (a reconnecting page catches up from its last event id),
// so an event on a group or dm topic is {"kind", "id", "room_id"} and the
// page fetches the message through the API, which checks the reader again.
// A room's message event carries the message whole unless it would pass
// 60 KiB of JSON.
//
// Losing access ends the subscription. The runtime asks OnSubscribe
// (realtime.go) once per subscription; when a member is removed from a room
// or leaves it, the module calls sdk.Unsubscribe (the host service
// realtime.revoke), which ends that user's subscriptions to the room's topic
// on every replica: their pages get every event published before and none
// after. Gaining access is fenced the same way, before it commits, so that
// a catch-up from an older last_id replays nothing from before: a new
// member (fenceJoin), a room opened to everyone or unarchived
// (sdk.UnsubscribeAll), a new chat admin through make_admin (every named
// room they could not read).
//
// Presence is computed, not stored as a flag. Each page sends a heartbeat on
// chat.presence every 30 s; a user's effective presence is "offline" when
// they chose it or nothing of theirs was seen for 90 s, else the status they
// chose. A change is published once however many pages the user has open,
// and the minute job "presence" announces the users whose heartbeats
// stopped (presence.go).
//
// Moderation (commands.go, moderation.go) acts through the runtime's core
// user services (ban, suspend, set_password, roles, connections, status),
// never through chat tables, so that a ban or a kick holds on the whole
// site; the runtime audits every command and the module's audit table adds
// what the core's entries lack.
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .
package main
