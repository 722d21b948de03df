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
	clients Clients

	slots chan struct{} // one per open connection
	done  chan struct{} // closed by Close
	once  sync.Once
	per   *counts // by client key

	open    atomic.Int64
	refused atomic.Int64
}

// NewListener caps ln (see Listener); max and perClient must be positive.
func NewListener(ln net.Listener, max, perClient int, clients Clients) *Listener {
	return &Listener{Listener: ln, clients: clients,
		slots: make(chan struct{}, max), done: make(chan struct{}), per: newCounts(perClient)}
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
		return &conn{Conn: c, l: l, key: key}, nil
	}
}

func (l *Listener) release(key string) {
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

// Open is the number of connections handed out and not yet closed.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Refused is the number of connections closed at once, over their
// client's cap.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// conn releases its slot when closed, once.
type conn struct {
	net.Conn
	l    *Listener
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
