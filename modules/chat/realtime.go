package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// Realtime topics (API.md, "Realtime"):
//
//	chat.room.ID   a room's or conversation's events, for who may read it
//	chat.user.ID   one user's own events (decisions, friends, mentions…)
//	chat.presence  presence changes, for every signed-in user
//	chat.admin     new join requests, for the chat's admins
const (
	topicRoomPrefix = "chat.room."
	topicUserPrefix = "chat.user."
	topicPresence   = "chat.presence"
	topicAdmin      = "chat.admin"
)

func roomTopic(id int64) string { return topicRoomPrefix + strconv.FormatInt(id, 10) }
func userTopic(id int64) string { return topicUserPrefix + strconv.FormatInt(id, 10) }

// topicID reads the id after prefix in topic.
func topicID(topic, prefix string) (int64, bool) {
	s, ok := strings.CutPrefix(topic, prefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == s
}

// subscribe decides who follows which topic.
func subscribe(ctx context.Context, u *sdk.User, topic string) error {
	if u == nil {
		return errors.New("sign in first")
	}
	switch {
	case topic == topicPresence:
		return nil
	case topic == topicAdmin:
		if !isAdmin(u) {
			return errors.New("admins only")
		}
		return nil
	}
	if id, ok := topicID(topic, topicUserPrefix); ok {
		if id != u.ID {
			return errors.New("not yours")
		}
		return nil
	}
	if id, ok := topicID(topic, topicRoomPrefix); ok {
		return canRead(ctx, u, id) // rooms.go
	}
	return errors.New("no such topic")
}

// message receives what a page sends: typing in a room, the presence
// heartbeat.
func message(ctx context.Context, u *sdk.User, topic string, data json.RawMessage) error {
	if u == nil {
		return errors.New("sign in first")
	}
	if topic == topicPresence {
		return presenceMessage(ctx, u, data) // presence.go
	}
	if id, ok := topicID(topic, topicRoomPrefix); ok {
		return roomMessage(ctx, u, id, data) // rooms.go
	}
	return errors.New("nothing to say on this topic")
}

// publish sends an event, logging a failure: the change it announces is
// saved all the same, and a client that missed it catches up on reload.
func publish(ctx context.Context, topic string, event any) {
	if err := sdk.Publish(ctx, topic, event); err != nil {
		sdk.Logger().Warn("publish", "topic", topic, "error", err)
	}
}
