package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/server"
)

// realtimePackage builds the realtime test module into a folder of its own.
var realtimePackage = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "packages", "realtime")
	return dir, modbuild.Package(context.Background(), "../testmodules/realtime", filepath.Join(dir, "realtime"))
})

// Fan-out parameters: events a second and for how long.
const (
	fanoutRate     = 100
	fanoutDuration = 5 * time.Second
)

// raiseFileLimit lifts the process's open-file limit to its hard limit:
// 10,000 clients and their server sides hold 20,000 sockets.
func raiseFileLimit(b testing.TB, n int) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur < uint64(n)+1000 {
		b.Skipf("open-file limit %d: too low for %d connections", l.Cur, n)
	}
}

func realtimeSite(b *testing.B, db *pgtest.DB) (*server.Server, string) {
	b.Helper()
	dir, err := realtimePackage()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: scratch, DatabaseURL: db.URL, ModulesDir: dir, ApproveLocalModules: true, RolePrefix: db.Prefix(), Logger: logger(),
		Realtime: realtime.Limits{MaxConnections: 20000, MaxPerAnonymousIP: 20000, PingInterval: time.Hour, IdleTimeout: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv, serveSite(b, srv)
}

// BenchmarkRealtimeFanout: N WebSocket clients subscribed to one topic, a
// module publishing 100 events a second (POST to the realtime test
// module, which calls realtime.publish: HTTP, wasm, the events table,
// the hub's fan-out), against a bare coder/websocket broadcast to as many
// clients, served by the same process (a goroutine and a queue per
// connection). The baseline is kept what a developer would write: one
// message per event per client, no batching (the hub batches the events
// queued for a client that is behind; the clients count every event of an
// events frame).
// Reported: delivery latency p50/p99 from the publish (the module's
// sdk.Publish, which stamps the event with its clock; the bare broadcast's
// send) to each client's read, how long the POSTs that make the module
// publish took (publish-p50: the site's own request path under the load), the server
// process's memory per connection, and its CPU time per delivered frame
// (the publisher, the module and the fan-out; PostgreSQL is another
// process). The clients run in a child process (a fleet: this test
// binary again, TestRealtimeFleet), so that neither their CPU nor their
// sockets count against the server's process (10,000 clients and their
// server sides would not fit its open-file limit).
func BenchmarkRealtimeFanout(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			raiseFileLimit(b, n)
			for range b.N {
				bare := fanoutBare(b, n)
				hub := fanoutHub(b, n)
				b.ReportMetric(float64(hub.p50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(hub.p99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(bare.p50.Microseconds())/1000, "bare-p50-ms")
				b.ReportMetric(float64(bare.p99.Microseconds())/1000, "bare-p99-ms")
				b.ReportMetric(float64(bare.p99)/float64(hub.p99), "p99-ratio")
				b.ReportMetric(hub.perConn/1024, "KiB/conn")
				b.ReportMetric(bare.perConn/1024, "bare-KiB/conn")
				b.ReportMetric(hub.frameCPU, "server-µs/frame")
				b.ReportMetric(bare.frameCPU, "bare-server-µs/frame")
				b.ReportMetric(bare.frameCPU/hub.frameCPU, "cpu-ratio")
				b.ReportMetric(hub.clientCores, "client-cores")
				b.ReportMetric(float64(hub.publish50.Microseconds())/1000, "publish-p50-ms")
				b.ReportMetric(float64(hub.refused), "publishes-refused")
				b.ReportMetric(hub.delivered, "delivered-%")
				b.ReportMetric(bare.delivered, "bare-delivered-%")
			}
		})
	}
}

type fanout struct {
	p50, p99  time.Duration
	perConn   float64 // bytes
	delivered float64 // percent of the events × clients
	cpu       time.Duration
	frameCPU  float64 // server CPU µs per delivered frame
	// clientCores is the cores the client fleet kept busy.
	clientCores float64
	// publish50 is the median time a publish (the POST) took; refused
	// counts those that failed (the module's instances all busy).
	publish50 time.Duration
	refused   int
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// withCPU adds the server's CPU per delivered frame to r.
func withCPU(r fanout, cpu time.Duration, events, n int) fanout {
	r.cpu = cpu
	if frames := r.delivered / 100 * float64(events*n); frames > 0 {
		r.frameCPU = float64(cpu.Microseconds()) / frames
	}
	return r
}

// heap is the process's memory in use (heap and stacks) after a few GCs
// (each may halve a goroutine stack that grew during a module call).
func heap() float64 {
	for range 4 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse + ms.StackInuse)
}

// clients dials n subscribers of url (subscribe frame: sub, "" for none)
// and has each record the latency of every event (data {"t":unixnanos}).
type clientSet struct {
	conns []*websocket.Conn
	lat   [][]time.Duration
	wg    sync.WaitGroup
	// arrived, if set before the first event, receives after each one.
	arrived chan struct{}
}

func dialClients(b *testing.B, url string, n int, sub string) *clientSet {
	b.Helper()
	cs, err := dialFleet(url, n, sub)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

func dialFleet(url string, n int, sub string) (*clientSet, error) {
	cs := &clientSet{conns: make([]*websocket.Conn, n), lat: make([][]time.Duration, n)}
	sem := make(chan struct{}, 64)
	var dwg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		dwg.Add(1)
		go func() {
			defer func() { <-sem; dwg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, url, nil)
			if err == nil && sub != "" {
				if err = ws.Write(ctx, websocket.MessageText, []byte(sub)); err == nil {
					var f []byte
					if _, f, err = ws.Read(ctx); err == nil && !bytes.Contains(f, []byte(`"subscribed"`)) {
						err = fmt.Errorf("subscribe: %s", f)
					}
				}
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			cs.conns[i] = ws
		}()
	}
	dwg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for i, ws := range cs.conns {
		cs.lat[i] = make([]time.Duration, 0, fanoutRate*int(fanoutDuration/time.Second)+10)
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			for {
				_, f, err := ws.Read(context.Background())
				if err != nil {
					return
				}
				// Every stamp of the message: one event, or an events
				// frame holding several.
				now := time.Now().UnixNano()
				for {
					j := bytes.Index(f, []byte(`"t":`))
					if j < 0 {
						break
					}
					end := bytes.IndexByte(f[j:], '}')
					if end < 0 {
						break
					}
					if t, err := strconv.ParseInt(string(f[j+4:j+end]), 10, 64); err == nil {
						cs.lat[i] = append(cs.lat[i], time.Duration(now-t))
						if cs.arrived != nil {
							cs.arrived <- struct{}{}
						}
					}
					f = f[j+end:]
				}
			}
		}()
	}
	return cs, nil
}

// finish closes the clients and summarises what they saw of events sent.
func (cs *clientSet) finish(events int, perConn float64) fanout {
	for _, ws := range cs.conns {
		ws.CloseNow()
	}
	cs.wg.Wait()
	var all []time.Duration
	for _, l := range cs.lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := fanout{perConn: perConn, delivered: 100 * float64(len(all)) / float64(events*len(cs.conns))}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// paced calls publish fanoutRate times a second for fanoutDuration, on a
// schedule (a late call does not push the next ones back), and returns
// how many calls it made.
func paced(publish func(i int)) int {
	n := fanoutRate * int(fanoutDuration/time.Second)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / fanoutRate)))
		publish(i)
	}
	return n
}

// settle gives the last events time to arrive.
const settleTime = 2 * time.Second

func fanoutHub(b *testing.B, n int) fanout {
	db := pgtest.NewDB(b)
	_, url := realtimeSite(b, db)
	before := heap()
	fl := startFleet(b, "ws"+strings.TrimPrefix(url, "http")+"/ws", n)
	perConn := (heap() - before) / float64(n)
	client := &http.Client{}
	cpu0 := cpuTime()
	// On schedule, each publish on its own goroutine (one takes longer
	// than the 10 ms between two).
	var wg sync.WaitGroup
	var mu sync.Mutex
	var took []time.Duration
	var refused atomic.Int64
	events := paced(func(int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			defer func() {
				mu.Lock()
				took = append(took, time.Since(t0))
				mu.Unlock()
			}()
			body := fmt.Sprintf(`{"t":%d}`, time.Now().UnixNano())
			resp, err := client.Post(url+"/rt/publish?stamp&topic=chat.bench", "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK { // 503: the module's instances were all busy for 2 s
				refused.Add(1)
			}
		}()
	})
	wg.Wait()
	events -= int(refused.Load())
	time.Sleep(settleTime)
	cpu := cpuTime() - cpu0
	r := withCPU(fl.finish(b, events, perConn), cpu, events, n)
	slices.Sort(took)
	r.publish50 = took[len(took)/2]
	r.refused = int(refused.Load())
	return r
}

// bareHub is the baseline: coder/websocket connections, each with a
// writer goroutine and a queue, a broadcaster handing each frame to all.
type bareHub struct {
	mu    sync.Mutex
	conns map[chan []byte]struct{}
}

func (h *bareHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	q := make(chan []byte, 128)
	// The clients' subscribe frame, answered like the hub.
	if _, _, err := ws.Read(r.Context()); err != nil {
		return
	}
	ws.Write(r.Context(), websocket.MessageText, []byte(`{"type":"subscribed"}`))
	h.mu.Lock()
	h.conns[q] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, q)
		h.mu.Unlock()
	}()
	ctx := ws.CloseRead(context.Background())
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-q:
			if ws.Write(ctx, websocket.MessageText, f) != nil {
				return
			}
		}
	}
}

func (h *bareHub) broadcast(f []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for q := range h.conns {
		select {
		case q <- f:
		default:
		}
	}
}

func fanoutBare(b *testing.B, n int) fanout {
	h := &bareHub{conns: map[chan []byte]struct{}{}}
	hs := httptest.NewServer(h)
	defer hs.Close()
	defer hs.CloseClientConnections()
	before := heap()
	fl := startFleet(b, "ws"+strings.TrimPrefix(hs.URL, "http"), n)
	perConn := (heap() - before) / float64(n)
	cpu0 := cpuTime()
	events := paced(func(i int) {
		h.broadcast(fmt.Appendf(nil, `{"type":"event","topic":"chat.bench","id":%d,"data":{"t":%d}}`, i+1, time.Now().UnixNano()))
	})
	time.Sleep(settleTime)
	cpu := cpuTime() - cpu0
	return withCPU(fl.finish(b, events, perConn), cpu, events, n)
}

// BenchmarkRealtimeNotifyHop: what the NOTIFY hop adds to one publish
// seen by a client on another replica (two runtimes on one database),
// against the same client when the publish is made on its own replica.
func BenchmarkRealtimeNotifyHop(b *testing.B) {
	db := pgtest.NewDB(b)
	_, urlA := realtimeSite(b, db)
	_, urlB := realtimeSite(b, db)
	cs := dialClients(b, "ws"+strings.TrimPrefix(urlB, "http")+"/ws", 1, `{"type":"subscribe","topic":"chat.hop"}`)
	cs.arrived = make(chan struct{})
	const rounds = 300
	// One publish at a time, alternating replicas, after a warm-up.
	once := func(url string) time.Duration {
		body := fmt.Sprintf(`{"t":%d}`, time.Now().UnixNano())
		resp, err := http.Post(url+"/rt/publish?topic=chat.hop", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		select {
		case <-cs.arrived:
		case <-time.After(10 * time.Second):
			b.Fatal("an event did not arrive")
		}
		return cs.lat[0][len(cs.lat[0])-1]
	}
	pct := func(l []time.Duration, p int) float64 {
		l = slices.Clone(l)
		slices.Sort(l)
		return float64(l[len(l)*p/100].Microseconds()) / 1000
	}
	for range b.N {
		for range 50 {
			once(urlA)
			once(urlB)
		}
		var same, cross []time.Duration
		for range rounds {
			same = append(same, once(urlB))
			cross = append(cross, once(urlA))
		}
		b.ReportMetric(pct(same, 50), "same-p50-ms")
		b.ReportMetric(pct(same, 99), "same-p99-ms")
		b.ReportMetric(pct(cross, 50), "cross-p50-ms")
		b.ReportMetric(pct(cross, 99), "cross-p99-ms")
		b.ReportMetric(pct(cross, 50)-pct(same, 50), "hop-p50-ms")
	}
	go func() {
		for range cs.arrived { // the reader may still send while it closes
		}
	}()
	cs.finish(1, 0)
	close(cs.arrived)
}

// Environment of the client fleet (TestRealtimeFleet).
const (
	fleetURL     = "WEBSONIC_REALTIME_FLEET_URL"
	fleetClients = "WEBSONIC_REALTIME_FLEET_CLIENTS"
)

// fleet is a child process holding the clients of a fan-out.
type fleet struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Reader
	n     int
}

// fleetResult is what the fleet reports when its stdin closes.
type fleetResult struct {
	P50, P99 time.Duration
	Count    int
	// CPU is the fleet's CPU time from ready to stop, Wall that time.
	CPU, Wall time.Duration
	Error     string
}

// serveSite serves srv over HTTP until b ends, and answers its URL.
func serveSite(b *testing.B, srv *server.Server) string {
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Close(context.Background())
	})
	return hs.URL
}

// startChild runs this test binary's test in a child process with env
// added, and answers its stdin and stdout; the child is killed when b ends.
func startChild(b *testing.B, test string, env ...string) (*exec.Cmd, io.WriteCloser, io.Reader) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, in, out
}

// startFleet starts n clients of url subscribed to chat.bench in a child
// process and waits until they all are.
func startFleet(b *testing.B, url string, n int) *fleet {
	b.Helper()
	cmd, in, out := startChild(b, "TestRealtimeFleet", fleetURL+"="+url, fleetClients+"="+strconv.Itoa(n))
	f := &fleet{cmd: cmd, stdin: in, out: bufio.NewReader(out), n: n}
	for {
		line, err := f.out.ReadString('\n')
		if err != nil {
			b.Fatalf("fleet: %v", err)
		}
		if strings.HasPrefix(line, "fleet ready") {
			return f
		}
		if strings.HasPrefix(line, "fleet error") {
			b.Fatal(line)
		}
	}
}

// finish stops the fleet and summarises what its clients saw.
func (f *fleet) finish(b *testing.B, events int, perConn float64) fanout {
	f.stdin.Close()
	for {
		line, err := f.out.ReadString('\n')
		if err != nil {
			b.Fatalf("fleet: %v", err)
		}
		if r, ok := strings.CutPrefix(line, "fleet result "); ok {
			var res fleetResult
			if err := json.Unmarshal([]byte(r), &res); err != nil {
				b.Fatal(err)
			}
			if res.Error != "" {
				b.Fatal(res.Error)
			}
			f.cmd.Wait()
			return fanout{p50: res.P50, p99: res.P99, perConn: perConn, delivered: 100 * float64(res.Count) / float64(events*f.n),
				clientCores: res.CPU.Seconds() / res.Wall.Seconds()}
		}
	}
}

// TestRealtimeFleet is the client side of BenchmarkRealtimeFanout, run in
// a child process; without its environment it does nothing.
func TestRealtimeFleet(t *testing.T) {
	url := os.Getenv(fleetURL)
	if url == "" {
		t.Skip("the client fleet of BenchmarkRealtimeFanout (run by it)")
	}
	n, _ := strconv.Atoi(os.Getenv(fleetClients))
	raiseFileLimit(t, n)
	cs, err := dialFleet(url, n, `{"type":"subscribe","topic":"chat.bench"}`)
	if err != nil {
		fmt.Printf("fleet error %v\n", err)
		return
	}
	fmt.Println("fleet ready")
	cpu0, start := cpuTime(), time.Now()
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes it
	cpu, wall := cpuTime()-cpu0, time.Since(start)
	for _, ws := range cs.conns {
		ws.CloseNow()
	}
	cs.wg.Wait()
	var all []time.Duration
	for _, l := range cs.lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := fleetResult{Count: len(all), CPU: cpu, Wall: wall}
	if len(all) > 0 {
		res.P50, res.P99 = all[len(all)/2], all[len(all)*99/100]
	}
	j, _ := json.Marshal(res)
	fmt.Printf("fleet result %s\n", j)
}
