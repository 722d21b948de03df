package limit

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// patience bounds the waits of these tests; it asserts no speed.
const patience = 30 * time.Second

func dialFrom(t *testing.T, ip string, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(patience))
	return c
}

// accepted runs Accept in a loop and hands out what it accepts.
func accepted(t *testing.T, l *Listener) <-chan net.Conn {
	out := make(chan net.Conn)
	go func() {
		defer close(out)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return out
}

func TestListenerPerClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, 100, 2, NewClients([]netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}))
	conns := accepted(t, l)
	var server []net.Conn
	for _, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3"} {
		dialFrom(t, ip, ln.Addr())
		server = append(server, <-conns)
	}
	over := dialFrom(t, "127.0.0.2", ln.Addr())
	// Closed by the listener: the client reads EOF (or a reset).
	var ne net.Error
	if _, err := over.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("read on a connection over the client's cap: %v", err)
	}
	// A trusted proxy carries many clients.
	for range 3 {
		dialFrom(t, "127.0.0.9", ln.Addr())
		server = append(server, <-conns)
	}
	if l.Open() != 6 || l.Refused() != 1 {
		t.Fatalf("open %d, refused %d; want 6, 1", l.Open(), l.Refused())
	}
	server[0].Close()
	server[0].Close() // releases once
	dialFrom(t, "127.0.0.2", ln.Addr())
	<-conns
	if l.Open() != 6 {
		t.Fatalf("open %d after a close and a new one, want 6", l.Open())
	}
}

func TestListenerMax(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, 2, 10, Clients{})
	conns := accepted(t, l)
	dialFrom(t, "127.0.0.2", ln.Addr())
	a := <-conns
	dialFrom(t, "127.0.0.3", ln.Addr())
	<-conns
	third := dialFrom(t, "127.0.0.4", ln.Addr()) // waits in the backlog
	select {
	case c := <-conns:
		t.Fatalf("a third connection accepted over Max 2: %v", c.RemoteAddr())
	default:
	}
	a.Close()
	c := <-conns
	if c.RemoteAddr().String() != third.LocalAddr().String() {
		t.Fatalf("accepted %v, want the waiting %v", c.RemoteAddr(), third.LocalAddr())
	}
	// Close ends an Accept waiting for a slot.
	l.Close()
	if _, ok := <-conns; ok {
		t.Fatal("accepted after Close")
	}
}
