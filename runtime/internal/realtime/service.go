package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// Names of the hub's host services.
const (
	PublishService     = "realtime.publish"
	RevokeService      = "realtime.revoke"
	ConnectionsService = "users.connections"
)

// PublishReply is the answer of realtime.publish.
type PublishReply struct {
	ID int64 `json:"id"`
}

// Service is the realtime.publish host service: the payload is a
// PublishRequest; a topic the caller's manifest does not declare, or that
// another module owns (Hub.owner: the first running module declaring it),
// is refused (abi.HostErrDenied), data over Limits.MaxEventBytes too
// (abi.HostErrLimit), a malformed payload is abi.HostErrInvalid.
func (h *Hub) Service() modhost.Service {
	return modhost.ServiceFunc(func(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
		p, err := DecodePublish(payload, h.lim.MaxEventBytes)
		if err != nil {
			return nil, publishError(err)
		}
		if c.Manifest == nil || !manifest.TopicAllowed(c.Manifest.Capabilities.Topics, p.Topic) {
			return nil, modhost.Denied("topic %q is not among the module's topics", p.Topic)
		}
		// Another running module may declare the topic too (nothing
		// refuses overlapping topics): its events are its owner's, the
		// module that decides who subscribes, and no one else's.
		if o := h.owner(p.Topic); o == nil || o.Manifest().Name != c.Module {
			return nil, modhost.Denied("topic %q belongs to another module", p.Topic)
		}
		id, err := h.Publish(ctx, p.Topic, p.Data)
		if err != nil {
			return nil, publishError(err)
		}
		return json.Marshal(PublishReply{ID: id})
	})
}

// RevokeRequest is the payload of realtime.revoke.
type RevokeRequest struct {
	Topic  string `json:"topic"`
	UserID int64  `json:"user_id,omitempty"`
	// Everyone, instead of a user, ends every subscription to Topic.
	Everyone bool `json:"everyone,omitempty"`
}

// RevokeService is the realtime.revoke host service: it ends a user's
// subscriptions to a topic the caller owns, on every replica (Hub.Revoke),
// and answers {"id": N} like a publish. The checks are publish's: a topic
// the caller does not own is denied, a malformed payload invalid.
func (h *Hub) RevokeService() modhost.Service {
	return modhost.ServiceFunc(func(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
		var p RevokeRequest
		if len(payload) > 1024 {
			return nil, modhost.Invalid("realtime.revoke: payload of %d bytes", len(payload))
		}
		if err := decodeStrict(payload, &p); err != nil {
			return nil, modhost.Invalid("realtime.revoke takes {\"topic\": T, \"user_id\": N} or {\"topic\": T, \"everyone\": true}: %v", err)
		}
		if !manifest.ValidTopic(p.Topic) || p.Everyone == (p.UserID != 0) || p.UserID < 0 {
			return nil, modhost.Invalid("realtime.revoke takes a valid topic and either a user_id above 0 or \"everyone\": true")
		}
		if c.Manifest == nil || !manifest.TopicAllowed(c.Manifest.Capabilities.Topics, p.Topic) {
			return nil, modhost.Denied("topic %q is not among the module's topics", p.Topic)
		}
		if o := h.owner(p.Topic); o == nil || o.Manifest().Name != c.Module {
			return nil, modhost.Denied("topic %q belongs to another module", p.Topic)
		}
		user := p.UserID
		if p.Everyone {
			user = RevokeEveryone
		}
		id, err := h.Revoke(ctx, p.Topic, user)
		if err != nil {
			return nil, publishError(err)
		}
		return json.Marshal(PublishReply{ID: id})
	})
}

// publishError is the host error of a failed publish.
func publishError(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge):
		return &abi.HostError{Code: abi.HostErrLimit, Message: err.Error()}
	case errors.Is(err, ErrFrame):
		return modhost.Invalid("%v", err)
	}
	return err
}

// MaxListed caps the connections users.connections lists.
const MaxListed = 1000

// ConnectionsReply is the answer of users.connections.
type ConnectionsReply struct {
	Connections []Connection `json:"connections"`
	// Truncated: there were more than MaxListed.
	Truncated bool `json:"truncated,omitempty"`
}

// ConnectionsService is the users.connections host service: the
// replica's connections (Connections), oldest first, for a module whose
// manifest lists the user action manifest.UserConnections; each lists only
// its subscriptions to the caller's own topics. The payload must be an
// empty object.
func (h *Hub) ConnectionsService() modhost.Service {
	return modhost.ServiceFunc(func(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
		if c.Manifest == nil || !slices.Contains(c.Manifest.Capabilities.UserActions, manifest.UserConnections) {
			return nil, modhost.Denied("the module's manifest does not list the user action %q", manifest.UserConnections)
		}
		var empty struct{}
		if len(payload) > 0 {
			if err := decodeStrict(payload, &empty); err != nil {
				return nil, modhost.Invalid("users.connections takes an empty object: %v", err)
			}
		}
		all := h.Connections()
		// Which topics of another module a user follows is that
		// module's: each connection lists the caller's own topics only.
		owned := map[string]bool{}
		for i := range all {
			topics := all[i].Topics[:0]
			for _, t := range all[i].Topics {
				own, seen := owned[t]
				if !seen {
					o := h.owner(t)
					own = o != nil && o.Manifest().Name == c.Module
					owned[t] = own
				}
				if own {
					topics = append(topics, t)
				}
			}
			all[i].Topics = topics
		}
		r := ConnectionsReply{Connections: all}
		if len(all) > MaxListed {
			r.Connections, r.Truncated = all[:MaxListed], true
		}
		return json.Marshal(r)
	})
}
