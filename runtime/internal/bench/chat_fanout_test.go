package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/websonic/websonic/runtime/internal/modhost"
	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// Fan-out of the chat (issue 11): how many subscribers, how many messages a
// second, for how long, and how many paired rounds.
const (
	chatFanoutClients  = 1000
	chatFanoutRate     = 100
	chatFanoutDuration = 5 * time.Second
	chatFanoutRounds   = 2
	// chatFanoutPosters is how many signed-in users post (round robin),
	// chatFanoutReaders how many users the subscribers' sockets belong
	// to (each holds clients/readers of them).
	chatFanoutPosters = 4
	chatFanoutReaders = 10
	// chatFanoutMaxPosters is how many post back to back for the
	// ceiling: twice the module's instances, so that one is always
	// waiting.
	chatFanoutMaxPosters = 8
	// chatStamp starts every fan-out message's text; the send time in
	// Unix nanoseconds follows it.
	chatStamp = "fanout#"
)

// BenchmarkChatFanout: 1,000 WebSocket clients on the runtime's /ws, signed
// in as 10 users, subscribed to one room's topic (chat.room.ID, which the
// chat module allows for who may read the room), while 100 messages a
// second are posted for 5 s through the module (POST
// /chat/api/rooms/ID/messages by 4 signed-in posters, round robin, each
// POST on its own goroutine on a fixed schedule, over the runtime's whole
// handler). Each message's text carries its send time (taken before the
// POST is sent); each client records, for every message it reads, the
// time from that stamp to its read: delivery latency through HTTP, the
// module (wasm, its SQL, sdk.Publish), the events table, the hub's fan-out
// and the socket.
//
// The baseline, in the same run and to the same sockets and
// subscriptions: the hub's bare broadcast, the same events (the module's
// own message JSON, restamped) at the same rate published straight
// through realtime.publish, the host service sdk.Publish reaches (the
// decode, the manifest and owner checks, Hub.Publish: the events table
// and its NOTIFY), with no module and no HTTP. The publisher is a second
// hub on the site's database, so the site's hub learns of each event by
// NOTIFY rather than its in-process wake-up: BenchmarkRealtimeNotifyHop
// measured that hop at 0.06 ms. Rounds alternate hub then module.
//
// Reported: module and hub (hub-…) delivery p50/p99, p99 ratio
// (p99/hub), the rate sustained (posted/s: messages the module accepted
// a second of the run; deliveries/s: frames read by the clients a
// second), the share delivered, the POST's own p50/p99, refused posts and
// the server process's CPU per delivered message (its PostgreSQL not
// included). Then the ceiling (max-…): 8 posters (and, for the hub, 8
// publishers) back to back for 5 s: the rate reached, its delivery p99 and
// share delivered. The clients run in a child process (TestChatFleet) so that
// their CPU and sockets are their own.
func BenchmarkChatFanout(b *testing.B) {
	clients, dur, rounds := chatFanoutClients, chatFanoutDuration, chatFanoutRounds
	if smokeRun() {
		clients, dur, rounds = 20, time.Second, 1
	}
	raiseFileLimit(b, clients)
	s := newChatSite(b)
	admin, _ := s.signIn(b, "bench_admin", coresite.RoleAdmin)
	room := s.newRoom(b, admin, "Fan-out")
	topic := fmt.Sprintf("chat.room.%d", room.ID)
	var posters []*http.Client
	for i := range chatFanoutPosters {
		c, _ := s.signIn(b, fmt.Sprintf("poster%d", i+1), coresite.RoleMember)
		posters = append(posters, c)
	}
	var cookies []string
	for i := range chatFanoutReaders {
		c, _ := s.signIn(b, fmt.Sprintf("reader%d", i+1), coresite.RoleMember)
		cookies = append(cookies, s.cookieHeader(b, c))
	}
	postURL := fmt.Sprintf("%s/chat/api/rooms/%d/messages", s.URL, room.ID)
	// The module's message, as the baseline's event: the same JSON.
	var sample map[string]any
	chatAPI(b, posters[0], "POST", postURL, map[string]string{"text": "hello everyone"}, http.StatusCreated, &sample)

	fl := startChatFleet(b, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws", clients, topic, cookies)
	caller := &modhost.Caller{Module: "chat", Manifest: s.mod.Manifest()}
	svc := s.pub.Service()
	var nextID atomic.Int64
	nextID.Store(1 << 40)
	hubPublish := func() error {
		msg := maps.Clone(sample)
		msg["id"] = nextID.Add(1)
		msg["text"] = stampText()
		payload, err := json.Marshal(map[string]any{"topic": topic, "data": map[string]any{"kind": "message", "message": msg}})
		if err != nil {
			return err
		}
		_, err = svc.Serve(context.Background(), caller, payload)
		return err
	}
	modulePost := func(i int) error {
		body := fmt.Sprintf(`{"text":%q}`, stampText())
		req, err := http.NewRequest("POST", postURL, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := posters[i%len(posters)].Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST %s: %s", postURL, resp.Status)
		}
		return nil
	}
	for range b.N {
		var hub, mod fanoutPhase
		for range rounds {
			hub.add(runFanoutPhase(b, fl, dur, func(int) error { return hubPublish() }))
			mod.add(runFanoutPhase(b, fl, dur, modulePost))
		}
		b.ReportMetric(ms(mod.percentile(50)), "p50-ms")
		b.ReportMetric(ms(mod.percentile(99)), "p99-ms")
		b.ReportMetric(ms(hub.percentile(50)), "hub-p50-ms")
		b.ReportMetric(ms(hub.percentile(99)), "hub-p99-ms")
		if p := hub.percentile(99); p > 0 {
			b.ReportMetric(float64(mod.percentile(99))/float64(p), "p99/hub")
		}
		b.ReportMetric(mod.postedRate(), "posted/s")
		b.ReportMetric(hub.postedRate(), "hub-posted/s")
		b.ReportMetric(mod.deliveryRate(), "deliveries/s")
		b.ReportMetric(mod.deliveredShare(clients), "delivered-%")
		b.ReportMetric(hub.deliveredShare(clients), "hub-delivered-%")
		b.ReportMetric(ms(mod.sendPercentile(50)), "post-p50-ms")
		b.ReportMetric(ms(mod.sendPercentile(99)), "post-p99-ms")
		b.ReportMetric(float64(mod.refused), "posts-refused")
		b.ReportMetric(float64(hub.refused), "hub-refused")
		b.ReportMetric(mod.cpuPerDelivery(), "server-µs/delivery")
		b.ReportMetric(hub.cpuPerDelivery(), "hub-server-µs/delivery")
		b.ReportMetric(mod.cores(mod.cpu), "server-cores")
		b.ReportMetric(hub.cores(hub.cpu), "hub-server-cores")
		b.ReportMetric(mod.cores(mod.clientCPU), "client-cores")
		b.ReportMetric(hub.cores(hub.clientCPU), "hub-client-cores")
		b.ReportMetric(mod.cores(mod.machine), "machine-cores")
		b.ReportMetric(hub.cores(hub.machine), "hub-machine-cores")
		// The ceiling: as many messages as chatFanoutMaxPosters
		// posters (and as many publishers) manage back to back, for dur.
		hubMax := runFanoutMax(b, fl, dur, func(int) error { return hubPublish() })
		modMax := runFanoutMax(b, fl, dur, modulePost)
		b.ReportMetric(modMax.postedRate(), "max-posted/s")
		b.ReportMetric(hubMax.postedRate(), "hub-max-posted/s")
		b.ReportMetric(ms(modMax.percentile(99)), "max-p99-ms")
		b.ReportMetric(ms(hubMax.percentile(99)), "hub-max-p99-ms")
		b.ReportMetric(modMax.deliveredShare(clients), "max-delivered-%")
		b.ReportMetric(modMax.cores(modMax.machine), "max-machine-cores")
		b.ReportMetric(hubMax.deliveredShare(clients), "hub-max-delivered-%")
		b.ReportMetric(float64(mod.closed+hub.closed+modMax.closed+hubMax.closed), "sockets-dropped")
	}
	fl.stop(b)
}

// stampText is a fan-out message's text: the stamp and the time now.
func stampText() string {
	return chatStamp + strconv.FormatInt(time.Now().UnixNano(), 10) + " hello everyone"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fanoutPhase is what one or more phases of a fan-out measured.
type fanoutPhase struct {
	lat      []time.Duration // every delivery's latency
	sends    []time.Duration // how long each send (POST, publish) took
	events   int             // events sent (accepted)
	refused  int             // sends that failed
	closed   int             // sockets the server dropped
	wall     time.Duration   // the sending's length
	cpu      time.Duration   // the server process's CPU time
	received int
	// clientCPU is the fleet's CPU time, machine the machine's busy
	// time (every process, /proc/stat), over the phase.
	clientCPU, machine time.Duration
	// span is the phase's length, sending and settling.
	span time.Duration
}

func (p *fanoutPhase) add(o fanoutPhase) {
	p.lat = append(p.lat, o.lat...)
	p.sends = append(p.sends, o.sends...)
	p.events += o.events
	p.refused += o.refused
	p.closed += o.closed
	p.wall += o.wall
	p.cpu += o.cpu
	p.received += o.received
	p.clientCPU += o.clientCPU
	p.machine += o.machine
	p.span += o.span
}

// cores is how many cores d kept busy over the phases' length.
func (p *fanoutPhase) cores(d time.Duration) float64 { return d.Seconds() / p.span.Seconds() }

func pct(l []time.Duration, q int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	return l[(len(l)-1)*q/100]
}

func (p *fanoutPhase) percentile(q int) time.Duration     { return pct(p.lat, q) }
func (p *fanoutPhase) sendPercentile(q int) time.Duration { return pct(p.sends, q) }
func (p *fanoutPhase) postedRate() float64                { return float64(p.events) / p.wall.Seconds() }
func (p *fanoutPhase) deliveryRate() float64              { return float64(p.received) / p.wall.Seconds() }

func (p *fanoutPhase) deliveredShare(clients int) float64 {
	if p.events == 0 {
		return 0
	}
	return 100 * float64(p.received) / float64(p.events*clients)
}

func (p *fanoutPhase) cpuPerDelivery() float64 {
	if p.received == 0 {
		return 0
	}
	return float64(p.cpu.Microseconds()) / float64(p.received)
}

// runFanoutPhase calls send chatFanoutRate times a second for dur, each
// call on its own goroutine on a fixed schedule (a slow one does not push
// the next back), waits for the stragglers, and collects what the fleet
// read.
func runFanoutPhase(b *testing.B, fl *chatFleet, dur time.Duration, send func(i int) error) fanoutPhase {
	b.Helper()
	fl.report(b) // forget what came before
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		p     fanoutPhase
		first error
	)
	n := chatFanoutRate * int(dur/time.Millisecond) / 1000
	cpu0, busy0 := cpuTime(), machineBusy()
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / chatFanoutRate)))
		wg.Go(func() {
			t0 := time.Now()
			err := send(i)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			p.sends = append(p.sends, took)
			if err != nil {
				p.refused++
				if first == nil {
					first = err
				}
				return
			}
			p.events++
		})
	}
	wg.Wait()
	p.wall = time.Since(start)
	if first != nil {
		b.Logf("%d of %d sends failed, the first: %v", p.refused, n, first)
	}
	// The last events' deliveries: until every client has them all, or a
	// few seconds.
	deadline := time.Now().Add(settleTime)
	for time.Now().Before(deadline) && fl.received() < p.events*fl.n {
		time.Sleep(20 * time.Millisecond)
	}
	p.cpu, p.machine, p.span = cpuTime()-cpu0, machineBusy()-busy0, time.Since(start)
	r := fl.report(b)
	p.lat, p.closed, p.received, p.clientCPU = r.lat, r.Closed, len(r.lat), r.CPU
	return p
}

// runFanoutMax has chatFanoutMaxPosters goroutines call send back to back
// for dur, then collects what the fleet read, as runFanoutPhase does.
func runFanoutMax(b *testing.B, fl *chatFleet, dur time.Duration, send func(i int) error) fanoutPhase {
	b.Helper()
	fl.report(b)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		p    fanoutPhase
		next atomic.Int64
	)
	cpu0, busy0 := cpuTime(), machineBusy()
	start := time.Now()
	for range chatFanoutMaxPosters {
		wg.Go(func() {
			for time.Since(start) < dur {
				i := int(next.Add(1))
				t0 := time.Now()
				err := send(i)
				took := time.Since(t0)
				mu.Lock()
				p.sends = append(p.sends, took)
				if err != nil {
					p.refused++
				} else {
					p.events++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	p.wall = time.Since(start)
	deadline := time.Now().Add(settleTime)
	for time.Now().Before(deadline) && fl.received() < p.events*fl.n {
		time.Sleep(20 * time.Millisecond)
	}
	p.cpu, p.machine, p.span = cpuTime()-cpu0, machineBusy()-busy0, time.Since(start)
	r := fl.report(b)
	p.lat, p.closed, p.received, p.clientCPU = r.lat, r.Closed, len(r.lat), r.CPU
	return p
}

// machineBusy is the machine's busy CPU time so far, all cores and
// processes (/proc/stat: everything but idle and iowait), 0 if unknown.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:8] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait (guest time is counted in user)
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// Environment of the chat's client fleet (TestChatFleet).
const (
	chatFleetEnv = "WEBSONIC_CHAT_FLEET"
)

// chatFleetConfig is the fleet's task, in its environment as JSON.
type chatFleetConfig struct {
	URL     string
	Clients int
	Topic   string
	// Cookies are the Cookie headers of the signed-in users the sockets
	// belong to, dealt round robin.
	Cookies []string
}

// chatFleet is a child process holding the fan-out's subscribers.
type chatFleet struct {
	cmd   *exec.Cmd
	stdin interface {
		Write([]byte) (int, error)
		Close() error
	}
	out *bufio.Reader
	n   int
	// got counts the deliveries the fleet reported since its last
	// report (a "count" line), for the settle wait.
	got atomic.Int64
	mu  sync.Mutex
}

// chatFleetResult is a fleet's answer to "report": what its clients read
// since the previous report. Lat holds every latency, in microseconds.
type chatFleetResult struct {
	Lat    []int64
	Closed int
	// CPU is the fleet's CPU time since the previous report.
	CPU   time.Duration
	Error string
	lat   []time.Duration
}

func startChatFleet(b *testing.B, url string, n int, topic string, cookies []string) *chatFleet {
	b.Helper()
	cfg, _ := json.Marshal(chatFleetConfig{URL: url, Clients: n, Topic: topic, Cookies: cookies})
	cmd, in, out := startChild(b, "TestChatFleet", chatFleetEnv+"="+string(cfg))
	f := &chatFleet{cmd: cmd, stdin: in, out: bufio.NewReaderSize(out, 1<<20), n: n}
	if line := f.line(b, "fleet ready", "fleet error"); strings.HasPrefix(line, "fleet error") {
		b.Fatal(line)
	}
	return f
}

// line reads the fleet's output until a line starting with one of
// prefixes, and returns it.
func (f *chatFleet) line(b *testing.B, prefixes ...string) string {
	b.Helper()
	for {
		line, err := f.out.ReadString('\n')
		if err != nil {
			b.Fatalf("fleet: %v", err)
		}
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				return strings.TrimSpace(line)
			}
		}
	}
}

// received asks the fleet how many deliveries it counted since its last
// report.
func (f *chatFleet) received() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.stdin.Write([]byte("count\n")); err != nil {
		return 0
	}
	line, err := f.out.ReadString('\n')
	for err == nil && !strings.HasPrefix(line, "fleet count ") {
		line, err = f.out.ReadString('\n')
	}
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "fleet count ")))
	return n
}

// report collects what the fleet read since its last report.
func (f *chatFleet) report(b *testing.B) chatFleetResult {
	b.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.stdin.Write([]byte("report\n")); err != nil {
		b.Fatalf("fleet: %v", err)
	}
	line := f.line(b, "fleet result ")
	var r chatFleetResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "fleet result ")), &r); err != nil {
		b.Fatal(err)
	}
	if r.Error != "" {
		b.Fatal(r.Error)
	}
	r.lat = make([]time.Duration, len(r.Lat))
	for i, us := range r.Lat {
		r.lat[i] = time.Duration(us) * time.Microsecond
	}
	return r
}

// stop ends the fleet.
func (f *chatFleet) stop(b *testing.B) {
	f.stdin.Close()
	f.cmd.Wait()
}

// TestChatFleet is the client side of BenchmarkChatFanout, run in a child
// process; without its environment it does nothing. It dials the sockets,
// subscribes each to the topic, says "fleet ready", then answers its
// stdin's lines: "count" with the deliveries read since the last report,
// "report" with their latencies (and forgets them); it ends at EOF.
func TestChatFleet(t *testing.T) {
	env := os.Getenv(chatFleetEnv)
	if env == "" {
		t.Skip("the client fleet of BenchmarkChatFanout (run by it)")
	}
	var cfg chatFleetConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		t.Fatal(err)
	}
	raiseFileLimit(t, cfg.Clients)
	type client struct {
		ws  *websocket.Conn
		mu  sync.Mutex
		lat []int64
	}
	var (
		cs     = make([]*client, cfg.Clients)
		closed atomic.Int64
		count  atomic.Int64
		wg     sync.WaitGroup
	)
	sub := []byte(fmt.Sprintf(`{"type":"subscribe","topic":%q}`, cfg.Topic))
	var dial sync.WaitGroup
	sem := make(chan struct{}, 32)
	var errMu sync.Mutex
	var dialErr error
	for i := range cs {
		sem <- struct{}{}
		dial.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, cfg.URL, &websocket.DialOptions{
				HTTPHeader: http.Header{"Cookie": {cfg.Cookies[i%len(cfg.Cookies)]}},
			})
			if err == nil {
				if err = ws.Write(ctx, websocket.MessageText, sub); err == nil {
					var f []byte
					if _, f, err = ws.Read(ctx); err == nil && !bytes.Contains(f, []byte(`"subscribed"`)) {
						err = fmt.Errorf("subscribe to %s: %s", cfg.Topic, f)
					}
				}
			}
			if err != nil {
				errMu.Lock()
				dialErr = err
				errMu.Unlock()
				return
			}
			cs[i] = &client{ws: ws}
		})
	}
	dial.Wait()
	if dialErr != nil {
		fmt.Printf("fleet error %v\n", dialErr)
		return
	}
	marker := []byte(chatStamp)
	for _, c := range cs {
		wg.Go(func() {
			for {
				_, f, err := c.ws.Read(context.Background())
				if err != nil {
					closed.Add(1)
					return
				}
				now := time.Now().UnixNano()
				// Every stamp in the frame: one event, or an events
				// frame holding several.
				for {
					j := bytes.Index(f, marker)
					if j < 0 {
						break
					}
					f = f[j+len(marker):]
					k := 0
					for k < len(f) && f[k] >= '0' && f[k] <= '9' {
						k++
					}
					if ts, err := strconv.ParseInt(string(f[:k]), 10, 64); err == nil {
						c.mu.Lock()
						c.lat = append(c.lat, (now-ts)/1000)
						c.mu.Unlock()
						count.Add(1)
					}
				}
			}
		})
	}
	fmt.Println("fleet ready")
	sc := bufio.NewScanner(os.Stdin)
	var lastClosed int64
	lastCPU := cpuTime()
	for sc.Scan() {
		switch sc.Text() {
		case "count":
			fmt.Printf("fleet count %d\n", count.Load())
		case "report":
			var r chatFleetResult
			for _, c := range cs {
				c.mu.Lock()
				r.Lat = append(r.Lat, c.lat...)
				c.lat = c.lat[:0]
				c.mu.Unlock()
			}
			count.Add(-int64(len(r.Lat)))
			n := closed.Load()
			r.Closed = int(n - lastClosed)
			lastClosed = n
			cpu := cpuTime()
			r.CPU, lastCPU = cpu-lastCPU, cpu
			j, _ := json.Marshal(r)
			fmt.Printf("fleet result %s\n", j)
		}
	}
	for _, c := range cs {
		c.ws.CloseNow()
	}
	wg.Wait()
}
