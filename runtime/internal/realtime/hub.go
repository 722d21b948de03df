package realtime

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/pgnotify"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// Limits bound the hub. Zero fields take the defaults shown; every limit
// is per replica.
type Limits struct {
	// MaxConnections caps the replica's WebSocket connections (10000);
	// past it an upgrade is answered 503.
	MaxConnections int
	// MaxPerUser caps one signed-in user's connections (16); past it: 429.
	MaxPerUser int
	// MaxPerAnonymousIP caps the anonymous connections of one client
	// address, or one IPv6 /64 (8); past it: 429.
	MaxPerAnonymousIP int
	// MaxSubscriptions caps one connection's subscriptions (64); past it
	// a subscribe is refused ("too_many").
	MaxSubscriptions int
	// MaxFrameBytes caps a client frame (16 KiB); a larger one closes the
	// connection with 1009.
	MaxFrameBytes int
	// MaxEventBytes caps a published event's data, compacted (64 KiB); a
	// larger publish is refused (abi.HostErrInvalid).
	MaxEventBytes int
	// SendQueue is how many frames wait for a slow client (1024: about
	// ten seconds behind at 100 events a second; a queued event is one
	// slot, its frame shared by every client); when its queue is full the
	// connection is closed with 1013, and the fan-out goes on without
	// waiting.
	SendQueue int
	// MessagesPerSecond is each connection's rate of client frames
	// (subscribe, unsubscribe, message: 20 a second, bursts of twice
	// that); a frame over it is dropped with an error frame
	// ("rate_limited").
	MessagesPerSecond int
	// PingInterval is how often the hub pings each client (30s); a pong
	// that does not come within WriteTimeout closes the connection.
	PingInterval time.Duration
	// WriteTimeout bounds one frame's write and a ping's pong (10s).
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that has had no subscription for
	// that long (2m).
	IdleTimeout time.Duration
	// CallTimeout bounds the module's answer to a subscribe or a message
	// (5s; the module's pool has its own call deadline too).
	CallTimeout time.Duration
	// Retention keeps events this long for catch-up (1h) and RetainEvents
	// keeps at most this many (100000); older ones are swept every
	// SweepEvery (1m).
	Retention    time.Duration
	RetainEvents int
	SweepEvery   time.Duration
	// MaxCatchUp is the most events one subscription catches up (1000),
	// and MaxCatchUpBytes the most bytes of their data (4 MiB: a caught-up
	// event's frame is the connection's own, not shared); beyond either,
	// the client is told to reload.
	MaxCatchUp      int
	MaxCatchUpBytes int
	// SessionRecheck is how often every signed-in socket's session is
	// looked up again (5m), for those that end without a user event
	// (expiry).
	SessionRecheck time.Duration
}

func (l *Limits) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConnections, 10000)
	def(&l.MaxPerUser, 16)
	def(&l.MaxPerAnonymousIP, 8)
	def(&l.MaxSubscriptions, 64)
	def(&l.MaxFrameBytes, 16<<10)
	def(&l.MaxEventBytes, 64<<10)
	def(&l.SendQueue, 1024)
	def(&l.MessagesPerSecond, 20)
	defD(&l.PingInterval, 30*time.Second)
	defD(&l.WriteTimeout, 10*time.Second)
	defD(&l.IdleTimeout, 2*time.Minute)
	defD(&l.CallTimeout, 5*time.Second)
	defD(&l.Retention, time.Hour)
	def(&l.RetainEvents, 100000)
	defD(&l.SweepEvery, time.Minute)
	def(&l.MaxCatchUp, 1000)
	def(&l.MaxCatchUpBytes, 4<<20)
	defD(&l.SessionRecheck, 5*time.Minute)
}

// Module is a running module as the hub sees it (*modhost.Module).
type Module interface {
	Manifest() *manifest.Manifest
	Call(ctx context.Context, path string, user *abi.User, body []byte, requestID string) (*abi.HTTPResponse, error)
}

// Identity is who opens a connection: derived from the upgrade request by
// Config.Identify.
type Identity struct {
	// User is the signed-in user (nil: anonymous).
	User *abi.User
	// IP is the client's address (clientaddr).
	IP netip.Addr
	// Alive reports whether the session the connection was opened with
	// still resolves to User, with User's roles; nil for anonymous
	// connections.
	Alive func(ctx context.Context) (bool, error)
}

// Config configures a Hub.
type Config struct {
	// Pool is the serving role's pool (websonic.realtime_events).
	Pool *pgxpool.Pool
	// Modules lists the running modules (topic owners), in start order.
	Modules func() []Module
	// Identify derives the connection's identity from the upgrade request
	// (after the site's session middleware).
	Identify func(r *http.Request) Identity
	Limits   Limits
	Logger   hclog.Logger
}

// Close codes of the hub (besides the protocol's 1000, 1001, 1009).
const (
	// CloseSlow: the client did not read fast enough (its queue filled).
	CloseSlow = websocket.StatusTryAgainLater
	// CloseSessionEnded: the session ended, or the user was kicked or
	// banned.
	CloseSessionEnded websocket.StatusCode = 4001
	// CloseIdle: no subscription for Limits.IdleTimeout.
	CloseIdle websocket.StatusCode = 4002
)

// Hub is the realtime hub of one replica. See the package doc for its
// contract; New makes one, Start runs it, Close stops it.
type Hub struct {
	cfg    Config
	lim    Limits
	log    hclog.Logger
	st     store
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Int64
	// bufs holds the buffers events frames are built in (*[]byte; not
	// one per connection: most connections are never behind).
	bufs sync.Pool
	// woken is dispatch's list of writers to wake (runEvents' only).
	woken []*conn

	mu     sync.RWMutex
	topics map[string]map[*sub]struct{}
	conns  map[*conn]struct{}
	byUser map[int64]map[*conn]struct{}
	byIP   map[netip.Addr]int
	closed bool
	// seen is the id of the last event handed to the subscribers: stored
	// under mu's read lock with the fan-out, read under its write lock by
	// addSub (so the two exclude each other), or alone.
	seen atomic.Int64
}

// New makes a hub: it finds (or makes) the site's realtime channel and
// the newest event id; Start runs it.
func New(ctx context.Context, cfg Config) (*Hub, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	cfg.Limits.defaults()
	ch, err := pgnotify.Channel(ctx, cfg.Pool, Purpose)
	if err != nil {
		return nil, fmt.Errorf("realtime: %w", err)
	}
	h := &Hub{
		cfg: cfg, lim: cfg.Limits, log: cfg.Logger, st: store{pool: cfg.Pool, channel: ch},
		kick:   make(chan struct{}, 1),
		topics: map[string]map[*sub]struct{}{},
		conns:  map[*conn]struct{}{},
		byUser: map[int64]map[*conn]struct{}{},
		byIP:   map[netip.Addr]int{},
	}
	h.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	last, err := h.st.last(ctx)
	if err != nil {
		return nil, err
	}
	h.seen.Store(last)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// Start runs the hub's loops (events, user events, sweep) until Close.
func (h *Hub) Start(ctx context.Context) error {
	users, err := pgnotify.Channel(ctx, h.cfg.Pool, site.UserEventsPurpose)
	if err != nil {
		return fmt.Errorf("realtime: %w", err)
	}
	lastUser, err := site.LastUserEvent(ctx, h.cfg.Pool)
	if err != nil {
		return fmt.Errorf("realtime: %w", err)
	}
	events := pgnotify.Listen(h.ctx, pgnotify.ListenConfig{Pool: h.cfg.Pool, Channel: h.st.channel, AppName: "websonic realtime", Logger: h.log})
	userEvents := pgnotify.Listen(h.ctx, pgnotify.ListenConfig{Pool: h.cfg.Pool, Channel: users, AppName: "websonic realtime users", Logger: h.log})
	h.wg.Add(4)
	go func() { defer h.wg.Done(); h.runWatchdog() }()
	go func() { defer h.wg.Done(); h.runEvents(events) }()
	go func() { defer h.wg.Done(); h.runUsers(userEvents, lastUser) }()
	go func() { defer h.wg.Done(); h.runSweep() }()
	return nil
}

// Close closes every connection (1001) and stops the hub's loops.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.DropAll(websocket.StatusGoingAway, "the server is shutting down")
	h.cancel()
	h.wg.Wait()
}

// DropAll closes every connection with code (1001 before maintenance;
// clients reconnect) and returns how many it closed.
func (h *Hub) DropAll(code websocket.StatusCode, reason string) int {
	h.mu.RLock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	for _, c := range conns {
		c.drop(code, reason)
	}
	return len(conns)
}

// Limits returns the hub's limits, defaults filled in.
func (h *Hub) Limits() Limits { return h.lim }

// Publish appends an event to topic (data: compact JSON, at most
// Limits.MaxEventBytes) and wakes the replicas' hubs. It returns the
// event's id. The caller checks the topic is the publisher's.
func (h *Hub) Publish(ctx context.Context, topic string, data []byte) (int64, error) {
	if !manifest.ValidTopic(topic) {
		return 0, fmt.Errorf("%w: invalid topic %q", ErrFrame, truncate(topic))
	}
	if len(data) > h.lim.MaxEventBytes {
		return 0, fmt.Errorf("%w: %w: data of %d bytes: limited to %d", ErrFrame, ErrTooLarge, len(data), h.lim.MaxEventBytes)
	}
	id, err := h.st.insert(ctx, topic, data, 0)
	if err != nil {
		return 0, err
	}
	h.wake() // this replica need not wait for the notification's round trip
	return id, nil
}

// Revoke ends user's subscriptions to topic on every replica, in order
// with the topic's events: the subscriptions get every event published
// before the revocation and none after, then a refused frame with reason
// ReasonRevoked. A later subscription asks the owning module again. It
// returns the revocation's id (an event id no client sees). user
// RevokeEveryone ends every subscription to topic.
func (h *Hub) Revoke(ctx context.Context, topic string, user int64) (int64, error) {
	if !manifest.ValidTopic(topic) {
		return 0, fmt.Errorf("%w: invalid topic %q", ErrFrame, truncate(topic))
	}
	if user <= 0 && user != RevokeEveryone {
		return 0, fmt.Errorf("%w: user_id must be above 0", ErrFrame)
	}
	id, err := h.st.insert(ctx, topic, []byte("null"), user)
	if err != nil {
		return 0, err
	}
	h.wake()
	return id, nil
}

func (h *Hub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// batch is how many events one read of the table takes.
const batch = 500

// runEvents hands new events to the subscribers at each wake-up (a
// notification, a local publish, or every few seconds in case a
// notification was lost).
func (h *Hub) runEvents(l *pgnotify.Listener) {
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-l.C():
		case <-h.kick:
		case <-poll.C:
		}
		for h.ctx.Err() == nil {
			evs, err := h.st.after(h.ctx, h.seen.Load(), batch)
			if err != nil {
				if h.ctx.Err() == nil {
					h.log.Error("reading events failed; retrying at the next wake-up", "error", err)
				}
				break
			}
			h.dispatch(evs)
			if len(evs) < batch {
				break
			}
		}
	}
}

// dispatch hands events to their topics' subscribers, never waiting for
// any of them. Each event's frame is built once for all. The writers are
// woken after the whole run: a connection gets the run's events in one
// wake-up (and one events frame), not one per event.
func (h *Hub) dispatch(evs []Event) {
	wake := h.woken[:0]
	var revoked []*sub
	h.mu.RLock()
	for _, e := range evs {
		h.seen.Store(e.ID) // with the fan-out: see addSub
		if e.RevokeUser != 0 {
			for s := range h.topics[e.Topic] {
				if e.revokes(s.c.id.User) && s.revoke(e.ID) {
					// Told now, in order with the events around it;
					// out of the topic's map after the run.
					s.c.forget(s)
					revoked = append(revoked, s)
				}
			}
			continue
		}
		frame := EventFrame(e.Topic, e.ID, e.Data)
		for s := range h.topics[e.Topic] {
			if s.deliver(e.ID, frame) {
				wake = append(wake, s.c)
			}
		}
	}
	h.mu.RUnlock()
	for _, c := range wake {
		c.wakeUp()
	}
	clear(wake)
	h.woken = wake
	if len(revoked) > 0 {
		h.mu.Lock()
		for _, s := range revoked {
			h.removeSubLocked(s)
		}
		h.mu.Unlock()
	}
}

// runUsers re-checks the sockets of the users named by user events.
func (h *Hub) runUsers(l *pgnotify.Listener, last int64) {
	recheck := time.NewTicker(h.lim.SessionRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-recheck.C:
			h.recheckAll()
			continue
		case <-l.C():
		}
		for h.ctx.Err() == nil {
			evs, err := site.UserEventsAfter(h.ctx, h.cfg.Pool, last, batch)
			if err != nil {
				if h.ctx.Err() == nil {
					h.log.Error("reading user events failed; retrying at the next wake-up", "error", err)
				}
				break
			}
			for _, e := range evs {
				last = e.ID
				h.userEvent(e)
			}
			if len(evs) < batch {
				break
			}
		}
	}
}

// userEvent closes the sockets the event ends.
func (h *Hub) userEvent(e site.UserEvent) {
	for _, c := range h.userConns(e.UserID) {
		switch e.Kind {
		case site.EventKicked, site.EventBanned:
			c.drop(CloseSessionEnded, e.Kind)
		default:
			h.recheck(c)
		}
	}
}

// recheck closes c if its session no longer resolves to its user; a
// failed lookup keeps it (and is logged).
func (h *Hub) recheck(c *conn) {
	if c.id.Alive == nil {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.lim.CallTimeout)
	defer cancel()
	ok, err := c.id.Alive(ctx)
	switch {
	case err != nil:
		if h.ctx.Err() == nil {
			h.log.Warn("re-checking a socket's session failed; it stays open", "user", c.id.User.ID, "error", err)
		}
	case !ok:
		c.drop(CloseSessionEnded, "session ended")
	}
}

func (h *Hub) recheckAll() {
	h.mu.RLock()
	var all []*conn
	for _, cs := range h.byUser {
		for c := range cs {
			all = append(all, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range all {
		if h.ctx.Err() != nil {
			return
		}
		h.recheck(c)
	}
}

func (h *Hub) userConns(id int64) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*conn, 0, len(h.byUser[id]))
	for c := range h.byUser[id] {
		out = append(out, c)
	}
	return out
}

// runWatchdog cuts the connections whose write in progress has lasted
// longer than WriteTimeout (checked four times per WriteTimeout).
func (h *Hub) runWatchdog() {
	t := time.NewTicker(h.lim.WriteTimeout / 4)
	defer t.Stop()
	var conns []*conn
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		conns = conns[:0]
		h.mu.RLock()
		for c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.RUnlock()
		late := time.Now().Add(-h.lim.WriteTimeout).UnixNano()
		for _, c := range conns {
			if w := c.writing.Load(); w != 0 && w < late {
				c.drop(websocket.StatusAbnormalClosure, "")
				if c.ws != nil {
					c.ws.CloseNow()
				}
			}
		}
	}
}

func (h *Hub) runSweep() {
	t := time.NewTicker(h.lim.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		if n, err := h.Sweep(h.ctx); err != nil && h.ctx.Err() == nil {
			h.log.Warn("sweeping events failed", "error", err)
		} else if n > 0 {
			h.log.Debug("swept events", "count", n)
		}
	}
}

// Sweep removes the events beyond the retention window now (the hub does
// it every Limits.SweepEvery) and returns how many.
func (h *Hub) Sweep(ctx context.Context) (int64, error) {
	return h.st.sweep(ctx, h.lim.Retention, h.lim.RetainEvents)
}

// Forget removes the events kept for catch-up up to the newest whose data
// holds one of needles (case-insensitively: an erased user's username and
// e-mail address), as a sweep would once they aged, and returns how many.
// The modules' events name people as the modules please; the hub cannot
// tell which are about whom, so it gives up the catch-up of everything
// before: clients that were behind reload.
func (h *Hub) Forget(ctx context.Context, needles ...string) (int64, error) {
	return h.st.forget(ctx, needles)
}

// Connection describes an open connection (Connections).
type Connection struct {
	UserID   int64     `json:"user_id,omitempty"` // 0: anonymous
	Username string    `json:"username,omitempty"`
	ClientIP string    `json:"client_ip"`
	Since    time.Time `json:"since"`
	Topics   []string  `json:"topics"`
}

// Count is the number of this replica's open connections.
func (h *Hub) Count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

// Connections lists this replica's open connections, oldest first.
func (h *Hub) Connections() []Connection {
	h.mu.RLock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	out := make([]Connection, 0, len(conns))
	for _, c := range conns {
		ci := Connection{ClientIP: c.id.IP.String(), Since: c.since, Topics: c.topicList()}
		if u := c.id.User; u != nil {
			ci.UserID, ci.Username = u.ID, u.Username
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// errLimit is an upgrade refused by a connection limit.
type errLimit struct {
	status int
	msg    string
}

func (e *errLimit) Error() string { return e.msg }

// register counts a new connection in, or refuses it.
func (h *Hub) register(c *conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return &errLimit{http.StatusServiceUnavailable, "the server is shutting down"}
	case len(h.conns) >= h.lim.MaxConnections:
		return &errLimit{http.StatusServiceUnavailable, "too many realtime connections on this server; try again later"}
	case c.id.User != nil && len(h.byUser[c.id.User.ID]) >= h.lim.MaxPerUser:
		return &errLimit{http.StatusTooManyRequests, fmt.Sprintf("at most %d realtime connections per user", h.lim.MaxPerUser)}
	case c.id.User == nil && h.byIP[anonKey(c.id.IP)] >= h.lim.MaxPerAnonymousIP:
		return &errLimit{http.StatusTooManyRequests, fmt.Sprintf("at most %d anonymous realtime connections per address; sign in for more", h.lim.MaxPerAnonymousIP)}
	}
	h.conns[c] = struct{}{}
	if u := c.id.User; u != nil {
		if h.byUser[u.ID] == nil {
			h.byUser[u.ID] = map[*conn]struct{}{}
		}
		h.byUser[u.ID][c] = struct{}{}
	} else {
		h.byIP[anonKey(c.id.IP)]++
	}
	return nil
}

// anonKey is what anonymous connections are counted by: the client's
// address, or its /64 for IPv6 (one subscriber's usual allocation, as the
// site's login guard counts).
func anonKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// unregister removes a closed connection and its subscriptions.
func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	if u := c.id.User; u != nil {
		delete(h.byUser[u.ID], c)
		if len(h.byUser[u.ID]) == 0 {
			delete(h.byUser, u.ID)
		}
	} else if k := anonKey(c.id.IP); h.byIP[k] <= 1 {
		delete(h.byIP, k)
	} else {
		h.byIP[k]--
	}
	for _, s := range c.allSubs() {
		h.removeSubLocked(s)
	}
}

// addSub adds s, catching up, to its topic's subscribers. With live, its
// cursor becomes the last event dispatched: every later event reaches it
// (or is held back for it), none before. It returns the cursor.
func (h *Hub) addSub(s *sub, live bool) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if live {
		s.cursor = h.seen.Load()
	}
	if h.topics[s.topic] == nil {
		h.topics[s.topic] = map[*sub]struct{}{}
	}
	h.topics[s.topic][s] = struct{}{}
	return s.cursor
}

func (h *Hub) removeSub(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeSubLocked(s)
}

func (h *Hub) removeSubLocked(s *sub) {
	if m := h.topics[s.topic]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.topics, s.topic)
		}
	}
}

// owner returns the running module that owns topic, or nil.
func (h *Hub) owner(topic string) Module {
	for _, m := range h.cfg.Modules() {
		if manifest.TopicAllowed(m.Manifest().Capabilities.Topics, topic) {
			return m
		}
	}
	return nil
}
