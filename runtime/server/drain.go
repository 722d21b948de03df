package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// freshConns counts the connections that have not sent a request yet.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]bool
	none  chan struct{} // closed and replaced when the count drops to 0
}

// trackFresh makes hs report its new connections to the returned counter.
func trackFresh(hs *http.Server) *freshConns {
	f := &freshConns{conns: map[net.Conn]bool{}}
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if st == http.StateNew {
			f.conns[c] = true
		} else {
			delete(f.conns, c)
		}
		if len(f.conns) == 0 && f.none != nil {
			close(f.none)
			f.none = nil
		}
	}
	return f
}

// wait returns once no connection waits for its first request, or when
// ctx ends.
func (f *freshConns) wait(ctx context.Context) {
	f.mu.Lock()
	if len(f.conns) == 0 {
		f.mu.Unlock()
		return
	}
	if f.none == nil {
		f.none = make(chan struct{})
	}
	none := f.none
	f.mu.Unlock()
	select {
	case <-none:
	case <-ctx.Done():
	}
}

// drain stops hs without failing a request: net/http's Shutdown closes,
// unanswered, a connection whose first request it reads after Shutdown
// began, which a client on a new connection cannot retry. So drain first
// ends keep-alives (idle connections close: a client retries an
// idempotent request there), stops accepting (with a graceful restart the
// new process accepts from the same socket meanwhile), waits until every
// connection accepted has sent its request (at most ReadHeaderTimeout),
// and only then shuts down, which waits for the handlers. serveErr is
// Serve's result.
func drain(ctx context.Context, hs *http.Server, ln net.Listener, f *freshConns, serveErr <-chan error) error {
	hs.SetKeepAlivesEnabled(false)
	var err error
	if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	if e := <-serveErr; e != nil && !errors.Is(e, net.ErrClosed) && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	wctx, cancel := context.WithTimeout(ctx, hs.ReadHeaderTimeout+time.Second)
	f.wait(wctx)
	cancel()
	return errors.Join(err, hs.Shutdown(ctx))
}
