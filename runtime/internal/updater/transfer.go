package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/websonic/websonic/internal/ocipkg"
)

// ErrTooSlow: a registry transfer was abandoned by the updater's Limits.
var ErrTooSlow = errors.New("updater: registry too slow")

// maxAnswer is the largest answer the updater takes from the registry (a
// wasm blob; TUF metadata and manifests are smaller): the deadline of an
// answer of unknown length is sized for it.
const maxAnswer = ocipkg.MaxWasmSize

// limitClient returns a copy of hc whose transport bounds every request
// (see limitedTransport). hc itself is left as it was built.
func limitClient(hc *http.Client, lim Limits) *http.Client {
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *hc
	c.Transport = &limitedTransport{next: next, lim: lim}
	return &c
}

// limitedTransport bounds each request through it, so that a registry (or
// a man in the middle) that stalls or drips bytes cannot hold the updater:
//
//   - the response headers must come within HeaderTimeout (connecting and
//     TLS included);
//   - the body must then move at least MinRate × StallWindow bytes in every
//     StallWindow until it ends (a shorter rest must end within the window);
//   - and it must end within its deadline: StallWindow plus the time its
//     length takes at MinRate. The length is the declared Content-Length,
//     which oras-go holds to the descriptor's size and the TUF fetcher to
//     the signed or maximum length; unknown, it is maxAnswer.
//
// A transfer that breaks a bound is cancelled and its error wraps
// ErrTooSlow, saying which bound; the caller's own cancellation is reported
// as usual.
type limitedTransport struct {
	next http.RoundTripper
	lim  Limits
}

// RoundTrip implements http.RoundTripper.
func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	headers := time.AfterFunc(t.lim.HeaderTimeout, func() {
		cancel(fmt.Errorf("%w: no answer within %s", ErrTooSlow, t.lim.HeaderTimeout))
	})
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	headers.Stop()
	if cause := context.Cause(ctx); errors.Is(cause, ErrTooSlow) {
		if err == nil {
			resp.Body.Close()
		}
		cancel(nil)
		return nil, cause
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = newMeteredBody(ctx, cancel, resp.Body, resp.ContentLength, t.lim)
	return resp, nil
}

// meteredBody enforces the rate and the deadline on a response body.
type meteredBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	lim    Limits

	read     atomic.Int64 // bytes so far
	done     atomic.Bool  // ended or closed
	stall    *time.Timer
	deadline *time.Timer
	last     int64 // bytes at the previous window; the stall timer's alone
}

func newMeteredBody(ctx context.Context, cancel context.CancelCauseFunc, rc io.ReadCloser, length int64, lim Limits) *meteredBody {
	b := &meteredBody{rc: rc, ctx: ctx, cancel: cancel, lim: lim}
	if length < 0 || length > maxAnswer {
		length = maxAnswer
	}
	allowed := lim.StallWindow + time.Duration(float64(length)/float64(lim.MinRate)*float64(time.Second))
	b.deadline = time.AfterFunc(allowed, func() {
		b.cancel(fmt.Errorf("%w: not done within the %s that %d bytes allow at %s/s", ErrTooSlow, allowed.Round(time.Second), length, kib(lim.MinRate)))
	})
	b.stall = time.AfterFunc(lim.StallWindow, b.check)
	return b
}

// check runs at the end of each window.
func (b *meteredBody) check() {
	if b.done.Load() {
		return
	}
	n := b.read.Load()
	if float64(n-b.last) < float64(b.lim.MinRate)*b.lim.StallWindow.Seconds() {
		b.cancel(fmt.Errorf("%w: under %s/s for %s", ErrTooSlow, kib(b.lim.MinRate), b.lim.StallWindow))
		return
	}
	b.last = n
	b.stall.Reset(b.lim.StallWindow)
}

func (b *meteredBody) finish() {
	b.done.Store(true)
	b.stall.Stop()
	b.deadline.Stop()
}

// Read implements io.Reader.
func (b *meteredBody) Read(p []byte) (int, error) {
	if cause := context.Cause(b.ctx); errors.Is(cause, ErrTooSlow) {
		return 0, cause
	}
	n, err := b.rc.Read(p)
	b.read.Add(int64(n))
	switch {
	case err == io.EOF:
		b.finish()
	case err != nil:
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrTooSlow) {
			return n, cause
		}
	}
	return n, err
}

// Close implements io.Closer.
func (b *meteredBody) Close() error {
	b.finish()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// kib formats a rate for the owner.
func kib(n int64) string { return strconv.FormatFloat(float64(n)/1024, 'f', -1, 64) + " KiB" }
