package main

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// Realtime topics (API.md, "Realtime"). Events carry ids and kinds only,
// never text: a page fetches what changed through the API, whose checks
// decide what it may read, so no event can leak a note or another
// customer's ticket.
//
//	tickets.ticket.ID  the public conversation and state of a ticket: its
//	                   customers and agents
//	tickets.notes.ID   internal notes of a ticket: its agents
//	tickets.panel.ID   the queue of a panel (new tickets, changes): the
//	                   staff who work it
//	tickets.user.ID    one user's own notifications ("your ticket has an
//	                   answer")
const (
	topicTicketPrefix = "tickets.ticket."
	topicNotesPrefix  = "tickets.notes."
	topicPanelPrefix  = "tickets.panel."
	topicUserPrefix   = "tickets.user."
)

func ticketTopic(id int64) string { return topicTicketPrefix + strconv.FormatInt(id, 10) }
func notesTopic(id int64) string  { return topicNotesPrefix + strconv.FormatInt(id, 10) }
func panelTopic(id int64) string  { return topicPanelPrefix + strconv.FormatInt(id, 10) }
func userTopic(id int64) string   { return topicUserPrefix + strconv.FormatInt(id, 10) }

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
	if id, ok := topicID(topic, topicUserPrefix); ok {
		if id != u.ID {
			return errors.New("not yours")
		}
		return nil
	}
	if id, ok := topicID(topic, topicTicketPrefix); ok {
		_, err := need(ctx, u, id, customer)
		return err
	}
	if id, ok := topicID(topic, topicNotesPrefix); ok {
		_, err := need(ctx, u, id, agent)
		return err
	}
	if id, ok := topicID(topic, topicPanelPrefix); ok {
		panels, err := workablePanels(ctx, u)
		if err != nil {
			return err
		}
		if !strings.Contains(","+strings.Trim(panels, "{}")+",", ","+strconv.FormatInt(id, 10)+",") {
			return errors.New("not a panel you work")
		}
		return nil
	}
	return errors.New("no such topic")
}

// event is what every topic carries: a kind and ids (API.md lists them).
type event struct {
	Type    string `json:"type"`
	Ticket  int64  `json:"ticket,omitempty"`
	Message int64  `json:"message,omitempty"`
	Note    int64  `json:"note,omitempty"`
	Panel   int64  `json:"panel,omitempty"`
}

// publish sends an event, logging a failure: the change it announces is
// saved all the same, and a page that missed it catches up on reload.
func publish(ctx context.Context, topic string, e event) {
	if err := sdk.Publish(ctx, topic, e); err != nil {
		sdk.Logger().Warn("publish", "topic", topic, "error", err)
	}
}
