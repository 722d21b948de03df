package limit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener caps the connections a net.Listener hands out: at most Max
// open at once (Accept waits for one to close: the next connections wait
// in the kernel's backlog, costing no descriptor of this process), and at
// most PerClient from one client (KeyOf its address), past which a new
// connection is closed at once. Connections from Clients.Trusted (the
// proxies, which carry many clients) count toward Max only.
//
// Both bound what the process spends on sockets: an idle, accepted
// connection holds a file descriptor like any other.
type Listener struct {
	net.Listener
	*caps
	done chan struct{} // closed by Close
	once sync.Once
}

// caps are what the listeners sharing them count against.
type caps struct {
	clients Clients
	slots   chan struct{} // one per open connection
	per     *counts       // by client key
	open    atomic.Int64
	refused atomic.Int64
}

// NewListener caps ln (see Listener); max and perClient must be positive.
func NewListener(ln net.Listener, max, perClient int, clients Clients) *Listener {
	return &Listener{Listener: ln, done: make(chan struct{}),
		caps: &caps{clients: clients, slots: make(chan struct{}, max), per: newCounts(perClient)}}
}

// Share caps ln with l's caps: its connections count toward the same Max
// and per-client caps as l's own (a server's second listener, such as its
// HTTP redirect, holds sockets too). Closing it closes ln only.
func (l *Listener) Share(ln net.Listener) net.Listener {
	return &Listener{Listener: ln, caps: l.caps, done: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection, and returns the
// first that its client's cap admits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		key := ""
		if peer := PeerAddr(c.RemoteAddr().String()); !l.clients.trusted(peer) {
			key = KeyOf(peer)
			if !l.per.take(key) {
				c.Close()
				<-l.slots
				l.refused.Add(1)
				continue
			}
		}
		l.open.Add(1)
		return &conn{Conn: c, l: l.caps, key: key}, nil
	}
}

func (l *caps) release(key string) {
	l.open.Add(-1)
	if key != "" {
		l.per.release(key)
	}
	<-l.slots
}

// Close closes the listener; a waiting Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open is the number of connections handed out and not yet closed, by
// every listener sharing l's caps.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Refused is the number of connections closed at once, over their
// client's cap, by every listener sharing l's caps.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// conn releases its slot when closed, once.
type conn struct {
	net.Conn
	l    *caps
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
