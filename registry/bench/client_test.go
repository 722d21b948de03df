package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// The client process. The benchmark process re-executes its test binary
// with envChild set (see TestMain) and drives it through its stdin and
// stdout: one JSON command in, one JSON result out, until stdin closes.
// The client's work is kept light — raw HTTP/1.1 requests built once for
// the update checks, a plain read loop for the downloads — and its CPU
// time is measured, so the report can say what it cost.

// envChild, when set, makes the test binary the client process.
const envChild = "REGBENCH_CLIENT"

// Client operations.
const (
	// opDial opens Conns keep-alive connections to Addr for target
	// Target, each sending GET Path with If-None-Match: ETag.
	opDial = "dial"
	// opChecks sends update checks on all of Target's connections, back
	// to back, for For.
	opChecks = "checks"
	// opFetch downloads for For from Workers goroutines: URL over HTTP,
	// or File from disk; the whole Size bytes, or Chunk bytes at random
	// Chunk-aligned offsets (a Range request) when Chunk > 0.
	opFetch = "fetch"
	// opLatencies returns (and forgets) the latencies kept under Key.
	opLatencies = "latencies"
	// opWatch opens Conns watch streams (GET Path, Server-Sent Events) to
	// Addr and returns once every one has received a version.
	opWatch = "watch"
	// opAwait returns once every watch stream has received Version.
	opAwait = "await"
)

// command is one request to the client process.
type command struct {
	Op      string
	Target  string        `json:",omitempty"`
	Addr    string        `json:",omitempty"`
	Path    string        `json:",omitempty"`
	ETag    string        `json:",omitempty"`
	Conns   int           `json:",omitempty"`
	URL     string        `json:",omitempty"`
	File    string        `json:",omitempty"`
	Size    int64         `json:",omitempty"`
	Chunk   int64         `json:",omitempty"`
	Workers int           `json:",omitempty"`
	For     time.Duration `json:",omitempty"`
	Version int64         `json:",omitempty"`
	// Key, if not "", keeps the latencies of opChecks and opFetch in the
	// client for opLatencies, so that results stay small while the
	// servers' CPU time is measured.
	Key string `json:",omitempty"`
}

// result is what one command measured in the client process.
type result struct {
	Error   string          `json:",omitempty"`
	N       int             // requests (or file reads) completed
	Bytes   int64           // body bytes read
	Elapsed time.Duration   // from the start to the last worker's end
	CPU     time.Duration   // the client process's CPU time meanwhile
	Lats    []time.Duration // one per request: opLatencies only
}

// runClient is the client process's main loop.
func runClient(in io.Reader, out io.Writer) int {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	c := newClientState()
	defer c.close()
	for {
		var cmd command
		err := dec.Decode(&cmd)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "regbench client: %v\n", err)
			return 1
		}
		res, err := c.do(cmd)
		if err != nil {
			res = result{Error: err.Error()}
		}
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(os.Stderr, "regbench client: %v\n", err)
			return 1
		}
	}
}

// clientState holds the client's connections between commands. It serves
// one command at a time.
type clientState struct {
	watchers *watchers
	targets  map[string][]*checkConn
	http     *http.Client
	lats     map[string][]time.Duration
}

func newClientState() *clientState {
	return &clientState{
		targets: map[string][]*checkConn{},
		lats:    map[string][]time.Duration{},
		http: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		}},
	}
}

func (c *clientState) close() {
	if c.watchers != nil {
		for _, conn := range c.watchers.conns {
			conn.Close()
		}
	}
	for _, conns := range c.targets {
		for _, cc := range conns {
			cc.conn.Close()
		}
	}
	c.http.CloseIdleConnections()
}

func (c *clientState) do(cmd command) (res result, err error) {
	defer func() {
		if cmd.Key != "" && cmd.Op != opLatencies {
			c.lats[cmd.Key] = append(c.lats[cmd.Key], res.Lats...)
			res.Lats = nil
		}
	}()
	switch cmd.Op {
	case opDial:
		for _, cc := range c.targets[cmd.Target] {
			cc.conn.Close()
		}
		delete(c.targets, cmd.Target)
		conns, err := dialAll(cmd)
		if err != nil {
			return result{}, err
		}
		c.targets[cmd.Target] = conns
		return result{N: len(conns)}, nil
	case opChecks:
		conns := c.targets[cmd.Target]
		if len(conns) == 0 {
			return result{}, fmt.Errorf("no connections to %q", cmd.Target)
		}
		return runChecks(conns, cmd.For)
	case opFetch:
		return c.fetch(cmd)
	case opWatch:
		if c.watchers != nil {
			return result{}, errors.New("watch streams are open already")
		}
		w, err := openWatchers(cmd)
		if err != nil {
			return result{}, err
		}
		c.watchers = w
		return result{N: cmd.Conns}, nil
	case opAwait:
		if c.watchers == nil {
			return result{}, errors.New("no watch streams")
		}
		return result{N: len(c.watchers.conns)}, c.watchers.await(cmd.Version, cmd.For+patience)
	case opLatencies:
		l := c.lats[cmd.Key]
		delete(c.lats, cmd.Key)
		return result{N: len(l), Lats: l}, nil
	}
	return result{}, fmt.Errorf("unknown op %q", cmd.Op)
}

// checkConn is one keep-alive connection sending the same conditional GET.
type checkConn struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
}

// dialAll opens cmd.Conns connections, 64 handshakes at a time.
func dialAll(cmd command) ([]*checkConn, error) {
	req := []byte("GET " + cmd.Path + " HTTP/1.1\r\nHost: " + cmd.Addr +
		"\r\nUser-Agent: regbench\r\nIf-None-Match: " + cmd.ETag + "\r\n\r\n")
	conns := make([]*checkConn, cmd.Conns)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, 64)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conn, err := dialFrom(i, cmd.Addr)
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
				return
			}
			cc := &checkConn{conn: conn, r: bufio.NewReaderSize(conn, 512), req: req}
			conns[i] = cc
			// One check opens the server's side of the connection too.
			if err := cc.check(); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		for _, cc := range conns {
			if cc != nil {
				cc.conn.Close()
			}
		}
		return nil, first
	}
	return conns, nil
}

// check sends the request and reads a 304 answer: its status line and
// headers (a 304 has no body).
func (cc *checkConn) check() error {
	if _, err := cc.conn.Write(cc.req); err != nil {
		return err
	}
	line, err := cc.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 304 ")) {
		return fmt.Errorf("update check answered %q, want 304", bytes.TrimSpace(line))
	}
	for {
		line, err := cc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 { // the blank line ending the headers
			return nil
		}
	}
}

// runChecks sends checks on every connection, back to back, until d has
// passed; requests in flight at the deadline complete.
func runChecks(conns []*checkConn, d time.Duration) (result, error) {
	lats := make([][]time.Duration, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(d)
	for i, cc := range conns {
		wg.Go(func() {
			l := make([]time.Duration, 0, 256)
			for {
				t0 := time.Now()
				if err := cc.check(); err != nil {
					errs[i] = err
					break
				}
				t1 := time.Now()
				l = append(l, t1.Sub(t0))
				if t1.After(deadline) {
					break
				}
			}
			lats[i] = l
		})
	}
	wg.Wait()
	res := result{Elapsed: time.Since(start), CPU: cpuTime() - cpu0}
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	for _, l := range lats {
		res.Lats = append(res.Lats, l...)
	}
	res.N = len(res.Lats)
	return res, nil
}

// readBuf is the read size of every download, over HTTP and from disk.
const readBuf = 128 << 10

// fetch runs cmd's downloads (opFetch).
func (c *clientState) fetch(cmd command) (result, error) {
	if (cmd.URL == "") == (cmd.File == "") || cmd.Size <= 0 || cmd.Workers <= 0 {
		return result{}, errors.New("fetch needs one of URL and File, Size and Workers")
	}
	if cmd.Chunk > 0 && cmd.Size%cmd.Chunk != 0 {
		return result{}, errors.New("fetch: Size must be a multiple of Chunk")
	}
	lats := make([][]time.Duration, cmd.Workers)
	bytesRead := make([]int64, cmd.Workers)
	errs := make([]error, cmd.Workers)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(cmd.For)
	for w := range cmd.Workers {
		wg.Go(func() {
			buf := make([]byte, readBuf)
			// The same offsets, worker by worker, on both sources.
			rng := rand.New(rand.NewPCG(uint64(w)+1, 0x5eed))
			var l []time.Duration
			for {
				off, n := int64(0), cmd.Size
				if cmd.Chunk > 0 {
					off, n = rng.Int64N(cmd.Size/cmd.Chunk)*cmd.Chunk, cmd.Chunk
				}
				t0 := time.Now()
				var got int64
				var err error
				if cmd.URL != "" {
					got, err = c.fetchHTTP(cmd.URL, off, n, cmd.Chunk > 0, buf)
				} else {
					got, err = fetchFile(cmd.File, off, n, buf)
				}
				if err == nil && got != n {
					err = fmt.Errorf("read %d bytes at %d, want %d", got, off, n)
				}
				if err != nil {
					errs[w] = err
					break
				}
				t1 := time.Now()
				l = append(l, t1.Sub(t0))
				bytesRead[w] += got
				if t1.After(deadline) {
					break
				}
			}
			lats[w] = l
		})
	}
	wg.Wait()
	res := result{Elapsed: time.Since(start), CPU: cpuTime() - cpu0}
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	for w := range lats {
		res.Lats = append(res.Lats, lats[w]...)
		res.Bytes += bytesRead[w]
	}
	res.N = len(res.Lats)
	return res, nil
}

// fetchHTTP GETs url (n bytes at off with a Range header if ranged) and
// reads the body.
func (c *clientState) fetchHTTP(url string, off, n int64, ranged bool, buf []byte) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	want := http.StatusOK
	if ranged {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
		want = http.StatusPartialContent
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return 0, fmt.Errorf("GET %s: %s, want %d", url, resp.Status, want)
	}
	return drain(resp.Body, buf)
}

// fetchFile reads n bytes at off of the file at path, opening it as the
// registry does for each request.
func fetchFile(path string, off, n int64, buf []byte) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return drain(io.NewSectionReader(f, off, n), buf)
}

// drain reads r to its end with buf, the same loop for both sources (not
// io.Copy, whose WriterTo/ReaderFrom shortcuts would pick a different
// buffer for each).
func drain(r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// perSource is how many connections the client opens from one loopback
// source address: few enough for the registry's smallest per-client caps
// (8 watch streams), as thousands of runtimes come from as many hosts.
const perSource = 8

// dialFrom opens connection i to addr from source address 127.1.x.y,
// one address per perSource connections.
func dialFrom(i int, addr string) (net.Conn, error) {
	k := i / perSource
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(k/250), byte(k%250+1))}}
	return d.Dial("tcp", addr)
}

// watchers are the client's watch streams (opWatch): raw HTTP/1.1
// connections read with small buffers, one goroutine each.
type watchers struct {
	conns []net.Conn

	mu     sync.Mutex
	counts map[int64]int // streams that received each version
	got    map[int64]chan struct{}
	failed chan error
}

// openWatchers opens cmd.Conns streams, 64 handshakes at a time, and
// returns once each has received its first version.
func openWatchers(cmd command) (*watchers, error) {
	w := &watchers{conns: make([]net.Conn, cmd.Conns), counts: map[int64]int{}, got: map[int64]chan struct{}{}, failed: make(chan error, 1)}
	first := make(chan error, cmd.Conns)
	handshakes := make(chan struct{}, 64)
	for i := range w.conns {
		handshakes <- struct{}{}
		go func() {
			started := false
			err := w.stream(i, cmd, func() { <-handshakes }, func() {
				if !started {
					started = true
					first <- nil
				}
			})
			if !started {
				first <- err
				return
			}
			select {
			case w.failed <- fmt.Errorf("watch stream %d: %w", i, err):
			default:
			}
		}()
	}
	for range cmd.Conns {
		if err := <-first; err != nil {
			return nil, err
		}
	}
	return w, nil
}

// stream runs watch stream i: it calls handshaken once the response
// headers are in, and counts each event's version.
func (w *watchers) stream(i int, cmd command, handshaken, received func()) error {
	conn, err := dialFrom(i, cmd.Addr)
	if err != nil {
		handshaken()
		return err
	}
	w.mu.Lock()
	w.conns[i] = conn
	w.mu.Unlock()
	if _, err := io.WriteString(conn, "GET "+cmd.Path+" HTTP/1.1\r\nHost: registry\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		handshaken()
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	handshaken()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	r := bufio.NewReaderSize(resp.Body, 128)
	var id int64
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading the stream: %w", err)
		}
		switch {
		case bytes.HasPrefix(line, []byte("id: ")):
			if id, err = strconv.ParseInt(string(bytes.TrimSpace(line[4:])), 10, 64); err != nil {
				return fmt.Errorf("bad id line %q", line)
			}
		case len(line) == 1 && id > 0: // the blank line ending the event
			w.count(id, len(w.conns))
			received()
			id = 0
		}
	}
}

// count records that one more stream received version v.
func (w *watchers) count(v int64, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[v]++
	if w.counts[v] == n {
		if ch, ok := w.got[v]; ok {
			close(ch)
		} else {
			ch := make(chan struct{})
			close(ch)
			w.got[v] = ch
		}
	}
}

// await returns once every stream has received v.
func (w *watchers) await(v int64, patience time.Duration) error {
	w.mu.Lock()
	ch, ok := w.got[v]
	if !ok {
		ch = make(chan struct{})
		w.got[v] = ch
	}
	w.mu.Unlock()
	select {
	case <-ch:
		return nil
	case err := <-w.failed:
		return err
	case <-time.After(patience):
		return fmt.Errorf("not every stream received version %d within %v", v, patience)
	}
}
