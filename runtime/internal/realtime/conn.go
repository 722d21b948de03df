package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/sdk/abi"
)

// conn is one WebSocket connection. The handler's goroutine reads the
// client's frames (and makes the module calls they ask for, one at a
// time); a writer goroutine drains the send queue.
type conn struct {
	h     *Hub
	ws    *websocket.Conn
	id    Identity
	num   int64
	since time.Time
	ctx   context.Context
	stop  context.CancelFunc
	calls atomic.Int64
	// writing is when the write in progress started (unix ns; 0: none).
	writing atomic.Int64

	// qmu guards queue: the frames waiting for the writer, at most
	// Limits.SendQueue. wake (capacity 1) is signalled when the queue
	// turns non-empty, so a writer that is behind is not woken per frame.
	qmu   sync.Mutex
	queue [][]byte
	wake  chan struct{}

	closeOnce sync.Once
	code      websocket.StatusCode
	reason    string

	mu         sync.Mutex
	subs       map[string]*sub
	lastActive time.Time // when it last had no subscription
}

// sub is one subscription of a connection to a topic.
type sub struct {
	c     *conn
	topic string
	// asked is the newest event dispatched when the module was asked
	// (and allowed it): a revocation up to it came before the allowance.
	asked int64

	mu sync.Mutex
	// cursor is the id of the last event given (or skipped by a reload).
	cursor int64
	// catchingUp holds live events back while the table is read;
	// skipped is the newest event held back.
	catchingUp bool
	skipped    int64
	// revokedAt is the id of the revocation that ended the subscription
	// (0: none): no later event is given to it.
	revokedAt int64
}

// revoke marks the subscription ended by the revocation id; it reports
// whether it was still going (the caller then ends it: conn.endSub).
func (s *sub) revoke(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedAt != 0 {
		return false
	}
	s.revokedAt = id
	return true
}

// deliver queues an event frame for the subscription unless it already
// had it, or holds it back while catching up. It does not wake the
// writer: true means the caller must (conn.wakeUp), the queue was empty.
func (s *sub) deliver(id int64, frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedAt != 0 {
		return false
	}
	if s.catchingUp {
		s.skipped = max(s.skipped, id)
		return false
	}
	if id <= s.cursor {
		return false
	}
	s.cursor = id
	return s.c.enqueue(frame)
}

// send queues a frame and wakes the writer, or drops the connection
// whose queue is full: it never waits. The frame is shared (one per
// event for every client) and must not be changed.
func (c *conn) send(frame []byte) {
	if c.enqueue(frame) {
		c.wakeUp()
	}
}

// enqueue queues a frame, or drops the connection whose queue is full;
// true when the queue was empty (the writer must be woken).
func (c *conn) enqueue(frame []byte) bool {
	c.qmu.Lock()
	if len(c.queue) >= c.h.lim.SendQueue {
		c.qmu.Unlock()
		c.drop(CloseSlow, "too slow: send queue full")
		return false
	}
	c.queue = append(c.queue, frame)
	first := len(c.queue) == 1
	c.qmu.Unlock()
	return first
}

// wakeUp tells the writer there is something queued.
func (c *conn) wakeUp() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take empties the queue into spare (whose backing array it reuses) and
// returns what was queued.
func (c *conn) take(spare [][]byte) [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	q := c.queue
	c.queue = spare[:0]
	return q
}

// drop closes the connection with code (once; the writer does it).
func (c *conn) drop(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.code, c.reason = code, reason
		c.stop()
	})
}

func (c *conn) allSubs() []*sub {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*sub, 0, len(c.subs))
	for _, s := range c.subs {
		out = append(out, s)
	}
	return out
}

func (c *conn) topicList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.subs))
	for t := range c.subs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ServeHTTP upgrades a request to the hub's WebSocket protocol. A request
// from another origin is refused (403) before the upgrade, as is one over
// a connection limit (429, or 503 when the replica is full).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := CheckOrigin(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	c := &conn{h: h, id: h.cfg.Identify(r), num: h.nextID.Add(1), since: time.Now(), subs: map[string]*sub{}}
	c.lastActive = c.since
	c.wake = make(chan struct{}, 1)
	c.ctx, c.stop = context.WithCancel(h.ctx)
	if err := h.register(c); err != nil {
		c.stop()
		var le *errLimit
		if errors.As(err, &le) {
			if le.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "10")
			}
			http.Error(w, le.msg, le.status)
		}
		return
	}
	// The server's read and write deadlines are for requests, not for a
	// connection that lasts: the hub keeps its own (pings, write timeout).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // CheckOrigin did, with the scheme too
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		c.stop()
		h.unregister(c)
		return
	}
	c.ws = ws
	ws.SetReadLimit(int64(h.lim.MaxFrameBytes))
	// The connection is hijacked: the handler returns (its goroutine's
	// stack, grown through the site's middleware, goes with it) and two
	// goroutines with small stacks serve the connection.
	go func() {
		defer h.unregister(c)
		done := make(chan struct{})
		go func() { defer close(done); c.write() }()
		c.read()
		c.drop(websocket.StatusNormalClosure, "")
		<-done
	}()
}

// CheckOrigin refuses a cross-site upgrade (cross-site WebSocket
// hijacking): a request with an Origin must name this host, and the
// scheme the client used to reach the site (clientaddr.HTTPS, which
// believes X-Forwarded-Proto from trusted proxies only). A request without
// Origin comes from no browser and may go on.
func CheckOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("realtime: cross-origin WebSocket refused: bad Origin %q", truncate(origin))
	}
	want := "http"
	if clientaddr.HTTPS(r) {
		want = "https"
	}
	if !strings.EqualFold(u.Host, r.Host) || !strings.EqualFold(u.Scheme, want) {
		return fmt.Errorf("realtime: cross-origin WebSocket refused: Origin %q is not %s://%s", truncate(origin), want, r.Host)
	}
	return nil
}

// write sends the queued frames and pings until the connection is
// dropped, then closes it with the drop's code. Consecutive event frames
// found queued together go in one events frame (Batch): a client that
// fell behind costs one write per wake-up, not one per event.
func (c *conn) write() {
	lim := c.h.lim
	ping := time.NewTicker(lim.PingInterval)
	defer ping.Stop()
	var spare [][]byte
	for {
		select {
		case <-c.ctx.Done():
			c.close()
			return
		case <-c.wake:
			q := c.take(spare)
			if !c.writeFrames(q) {
				c.drop(websocket.StatusAbnormalClosure, "")
			}
			clear(q) // the frames are the hub's; let them go
			spare = q
		case <-ping.C:
			if c.idle(lim.IdleTimeout) {
				c.drop(CloseIdle, "idle: no subscription")
				continue
			}
			// The pong comes through the reader; waiting for it here
			// holds the queue back for one round trip at most.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), lim.WriteTimeout)
				defer cancel()
				if err := c.ws.Ping(ctx); err != nil {
					c.drop(websocket.StatusPolicyViolation, "no pong")
				}
			}()
		}
	}
}

// writeFrames writes q, batching runs of event frames; false when a
// write failed.
func (c *conn) writeFrames(q [][]byte) bool {
	for len(q) > 0 {
		n := batchLen(q, maxBatchBytes)
		var msg []byte
		var buf *[]byte
		if n == 1 {
			msg = q[0]
		} else {
			buf = c.h.bufs.Get().(*[]byte)
			msg = appendBatch((*buf)[:0], q[:n])
		}
		q = q[n:]
		if c.ctx.Err() != nil {
			// Dropped meanwhile: what is left is not sent.
			if buf != nil {
				c.h.bufs.Put(buf)
			}
			return true
		}
		// A write without a context deadline (which would cost the
		// library a context.AfterFunc per frame, and a timer here): the
		// hub's watchdog cuts a write that takes longer than
		// WriteTimeout (Hub.runWatchdog). Not c.ctx either: a drop lets
		// the write in progress end (cancelling it would cut the socket
		// before the close frame).
		c.writing.Store(time.Now().UnixNano())
		err := c.ws.Write(context.Background(), websocket.MessageText, msg)
		c.writing.Store(0)
		if buf != nil {
			*buf = msg
			c.h.bufs.Put(buf)
		}
		if err != nil {
			return false
		}
	}
	return true
}

// close ends the connection with the drop's code: a close frame if the
// client reads it soon, else the socket is cut.
func (c *conn) close() {
	if c.code == websocket.StatusAbnormalClosure || c.code == 0 { // 0: the hub's context ended first
		c.ws.CloseNow()
		return
	}
	// A client that does not read (a slow one) will not read the close
	// frame either: it gets WriteTimeout, then the socket is cut.
	cut := time.AfterFunc(c.h.lim.WriteTimeout, func() { c.ws.CloseNow() })
	_ = c.ws.Close(c.code, c.reason)
	cut.Stop()
}

func (c *conn) idle(after time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subs) == 0 && time.Since(c.lastActive) > after
}

// read reads and serves the client's frames until the connection ends.
func (c *conn) read() {
	lim := rate.NewLimiter(rate.Limit(c.h.lim.MessagesPerSecond), 2*c.h.lim.MessagesPerSecond)
	for {
		// Not c.ctx: the writer's close (after a drop) ends this read,
		// and a cancelled read would cut the socket before it.
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				c.drop(websocket.StatusMessageTooBig, "frame too large")
			}
			return
		}
		if typ != websocket.MessageText {
			c.drop(websocket.StatusUnsupportedData, "text frames only")
			return
		}
		if !lim.Allow() {
			c.send(errorFrame(CodeRateLimited, fmt.Sprintf("at most %d frames a second", c.h.lim.MessagesPerSecond)))
			continue
		}
		f, err := DecodeClientFrame(b)
		if err != nil {
			c.send(errorFrame(CodeBadFrame, err.Error()))
			continue
		}
		switch f.Type {
		case TypeSubscribe:
			c.subscribe(f)
		case TypeUnsubscribe:
			c.unsubscribe(f.Topic)
		case TypeMessage:
			c.message(f)
		}
	}
}

func (c *conn) requestID() string {
	return "rt-" + strconv.FormatInt(c.num, 10) + "-" + strconv.FormatInt(c.calls.Add(1), 10)
}

// topicBody is the body of the subscribe call.
type topicBody struct {
	Topic string `json:"topic"`
}

// messageBody is the body of the message call.
type messageBody struct {
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

// ask makes a call into the topic's owner; it reports whether the module
// answered 2xx.
func (c *conn) ask(m Module, path string, body any) bool {
	b, err := json.Marshal(body)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.h.lim.CallTimeout)
	defer cancel()
	// On a goroutine of its own: the guest call's deep stack goes with
	// it, and the connection's reader keeps a small one (thousands of
	// idle readers otherwise each keep the stack a call grew).
	var resp *abi.HTTPResponse
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err = m.Call(ctx, path, c.id.User, b, c.requestID())
	}()
	<-done
	if err != nil {
		c.h.log.Debug("module refused a realtime call", "path", path, "error", err)
		return false
	}
	return resp.Status >= 200 && resp.Status < 300
}

func (c *conn) subscribe(f ClientFrame) {
	c.mu.Lock()
	_, already := c.subs[f.Topic]
	n := len(c.subs)
	c.mu.Unlock()
	switch {
	case already:
		c.send(refusedFrame(f.Topic, ReasonAlready))
		return
	case n >= c.h.lim.MaxSubscriptions:
		c.send(refusedFrame(f.Topic, ReasonTooMany))
		return
	}
	m := c.h.owner(f.Topic)
	if m == nil {
		c.send(refusedFrame(f.Topic, ReasonNoModule))
		return
	}
	asked := c.h.seen.Load()
	if !c.ask(m, abi.RealtimeSubscribePath, topicBody{f.Topic}) {
		c.send(refusedFrame(f.Topic, ReasonDenied))
		return
	}
	// Every subscription starts catching up, holding live events back,
	// so that none comes before the subscribed frame.
	s := &sub{c: c, topic: f.Topic, asked: asked, catchingUp: true, cursor: f.LastID}
	c.mu.Lock()
	c.subs[f.Topic] = s
	c.mu.Unlock()
	pos := c.h.addSub(s, !f.HasLastID)
	if c.revokedWhileAsking(s, asked) {
		return
	}
	s.mu.Lock()
	c.send(positionFrame(TypeSubscribed, f.Topic, pos))
	if !f.HasLastID && s.skipped <= s.cursor {
		s.catchingUp = false // nothing was held back: live at once
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if f.HasLastID && c.revokedBefore(s) {
		// The user lost the topic (or never had it: a module fences a
		// new reader with a revocation) after last_id and was allowed it
		// again since: nothing from before the allowance is given back,
		// not even what came before the revocation, which this client
		// may never have been allowed (a member who joined a room does
		// not replay its deleted messages). The reload covers every
		// event stored so far, dispatched here yet or not.
		newest, err := c.h.st.last(c.ctx)
		if err != nil {
			c.h.log.Warn("reading the newest event failed", "topic", s.topic, "error", err)
		}
		c.reload(s, newest)
		return
	}
	c.catchUp(s)
}

// revokedBefore reports whether a revocation of the user's subscriptions
// to s's topic was stored after its cursor (the client's last_id). One
// from before the module's allowance (s.asked) means the user lost the
// topic, or was fenced as a new reader, and was allowed it since. So may
// one after s.asked that this replica has not dispatched yet: a module
// fences new readers on one replica just before the change that lets
// them read commits, and its yes here can come before the fence's
// notification; nothing tells that from a revocation after the yes. Either
// way nothing past the cursor is given back (a revocation after the yes
// ends s when dispatched: s is in the hub already). A failed lookup counts
// as one: the client reloads, which is always safe.
func (c *conn) revokedBefore(s *sub) bool {
	s.mu.Lock()
	cursor := s.cursor
	s.mu.Unlock()
	yes, err := c.h.st.revokedSince(c.ctx, s.topic, c.userID(), cursor)
	if err != nil {
		c.h.log.Warn("checking revocations failed; the client is told to reload", "topic", s.topic, "error", err)
		return true
	}
	return yes
}

// catchUp gives s the events after its cursor from the table, then turns
// it live once no event held back for it lies beyond what it read; or
// tells the client to reload when the gap cannot be filled.
func (c *conn) catchUp(s *sub) {
	given, bytes := 0, 0
	for c.ctx.Err() == nil {
		s.mu.Lock()
		cursor := s.cursor
		s.mu.Unlock()
		evs, horizon, newest, err := c.h.st.catchUp(c.ctx, s.topic, cursor, batch)
		if err != nil {
			c.h.log.Warn("catching up failed; the client is told to reload", "topic", s.topic, "error", err)
			c.reload(s, 0)
			return
		}
		for _, e := range evs {
			bytes += len(e.Data)
		}
		if cursor < horizon || cursor > newest || given+len(evs) > c.h.lim.MaxCatchUp || bytes > c.h.lim.MaxCatchUpBytes {
			c.reload(s, newest)
			return
		}
		given += len(evs)
		s.mu.Lock()
		for _, e := range evs {
			if s.revokedAt != 0 && e.ID >= s.revokedAt {
				s.mu.Unlock()
				return // ended: endSub told the client
			}
			s.cursor = e.ID
			if e.RevokeUser == 0 {
				c.send(EventFrame(e.Topic, e.ID, e.Data))
			} else if e.revokes(c.id.User) {
				s.mu.Unlock()
				if e.ID <= s.asked {
					// The user lost the topic and was allowed it again
					// since: what was published in between is not theirs.
					c.reload(s, newest)
				} else {
					s.revoke(e.ID)
					c.endSub(s)
				}
				return
			}
		}
		if len(evs) < batch && s.skipped <= s.cursor {
			s.catchingUp = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// reload turns s live after the events held back for it, with a reload
// frame. newest is the newest event of the table the catch-up saw (0:
// unknown).
func (c *conn) reload(s *sub, newest int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedAt != 0 {
		return // ended: endSub told the client
	}
	// Everything up to the newest event stored or dispatched is covered by
	// the client's reload (events stored but not yet dispatched to this
	// replica would otherwise come again, live, after it); later ones come
	// live.
	s.cursor = max(c.h.seen.Load(), s.skipped, newest)
	s.catchingUp = false
	c.send(positionFrame(TypeReload, s.topic, s.cursor))
}

// revokedWhileAsking ends s, just added, when a revocation of its user's
// subscriptions to its topic was dispatched while the module was being
// asked (after asked, the newest event dispatched then): the module's yes
// came before it. Later revocations reach s through dispatch.
func (c *conn) revokedWhileAsking(s *sub, asked int64) bool {
	if c.h.seen.Load() <= asked {
		return false
	}
	yes, err := c.h.st.revokedSince(c.ctx, s.topic, c.userID(), asked)
	if err != nil {
		c.h.log.Warn("checking revocations failed; the subscription is refused", "topic", s.topic, "error", err)
		yes = true
	}
	if yes {
		s.revoke(asked + 1)
		c.endSub(s)
	}
	return yes
}

// userID is the connection's user's id, 0 when not signed in (whom only
// a revocation for everyone concerns).
func (c *conn) userID() int64 {
	if u := c.id.User; u != nil {
		return u.ID
	}
	return 0
}

// endSub ends a revoked subscription and tells the client (once).
func (c *conn) endSub(s *sub) {
	c.forget(s)
	c.h.removeSub(s)
}

// forget removes a revoked subscription from the connection and tells
// the client, once; the hub's topic map is the caller's (removeSub).
func (c *conn) forget(s *sub) {
	c.mu.Lock()
	mine := c.subs[s.topic] == s
	if mine {
		delete(c.subs, s.topic)
		if len(c.subs) == 0 {
			c.lastActive = time.Now()
		}
	}
	c.mu.Unlock()
	if mine {
		c.send(refusedFrame(s.topic, ReasonRevoked))
	}
}

func (c *conn) unsubscribe(topic string) {
	c.mu.Lock()
	s := c.subs[topic]
	delete(c.subs, topic)
	if len(c.subs) == 0 {
		c.lastActive = time.Now()
	}
	c.mu.Unlock()
	if s == nil {
		c.send(errorFrame(CodeNotSubscribed, "not subscribed to "+topic))
		return
	}
	c.h.removeSub(s)
}

func (c *conn) message(f ClientFrame) {
	c.mu.Lock()
	_, ok := c.subs[f.Topic]
	c.mu.Unlock()
	if !ok {
		c.send(errorFrame(CodeNotSubscribed, "subscribe to "+f.Topic+" before sending to it"))
		return
	}
	m := c.h.owner(f.Topic)
	if m == nil || !c.ask(m, abi.RealtimeMessagePath, messageBody{f.Topic, f.Data}) {
		c.send(errorFrame(CodeRefused, "the module did not take the message on "+f.Topic))
	}
}
