package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// RealtimeConnection is an open realtime connection (Connections).
type RealtimeConnection = realtime.Connection

// openRealtime starts the realtime hub (package realtime) and registers
// its host services.
func (s *Server) openRealtime(ctx context.Context, services map[string]modhost.Service) (*realtime.Hub, error) {
	hub, err := realtime.New(ctx, realtime.Config{
		Pool: s.db.Pool,
		Modules: func() []realtime.Module {
			ms := s.enabledModules() // a disabled module's topics are refused
			out := make([]realtime.Module, len(ms))
			for i, m := range ms {
				out[i] = m
			}
			return out
		},
		Identify: s.realtimeIdentity,
		Limits:   s.cfg.Realtime,
		Logger:   s.log.Named("realtime"),
	})
	if err != nil {
		return nil, err
	}
	if err := hub.Start(ctx); err != nil {
		hub.Close()
		return nil, err
	}
	services[realtime.PublishService] = hub.Service()
	services[realtime.RevokeService] = hub.RevokeService()
	services[realtime.ConnectionsService] = hub.ConnectionsService()
	return hub, nil
}

// realtimeIdentity is who opens a realtime connection: the session's user
// (site.Sessions ran), whose session (and roles) the hub re-checks later.
func (s *Server) realtimeIdentity(r *http.Request) realtime.Identity {
	id := realtime.Identity{IP: clientIP(r)}
	u := site.UserFrom(r.Context())
	if u == nil {
		return id
	}
	id.User = abiUser(r)
	key, _ := s.site.SessionKey(r)
	store := s.site.Store()
	// The socket carries the roles the user had (modules decided its
	// subscriptions on them): a change of roles ends it too.
	roles := u.Roles()
	id.Alive = func(ctx context.Context) (bool, error) {
		now, err := store.SessionKeyUser(ctx, key)
		return now != nil && now.ID == u.ID && slices.Equal(now.Roles(), roles), err
	}
	return id
}

func clientIP(r *http.Request) netip.Addr {
	if info, ok := clientaddr.FromContext(r.Context()); ok {
		return info.Client
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// Connections lists this replica's open realtime connections, oldest
// first (each replica lists its own).
func (s *Server) Connections() []RealtimeConnection { return s.hub.Connections() }
