package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func caller(origins ...string) *modhost.Caller {
	return &modhost.Caller{Module: "mod", Manifest: &manifest.Manifest{Name: "mod", Capabilities: manifest.Capabilities{OutboundHTTP: origins}}}
}

func call(t *testing.T, s *Service, c *modhost.Caller, req abi.FetchRequest) (*abi.FetchResponse, *abi.HostError) {
	t.Helper()
	payload, _ := json.Marshal(req)
	out, err := s.Serve(context.Background(), c, payload)
	if err != nil {
		var he *abi.HostError
		if !errors.As(err, &he) {
			t.Fatalf("error %v is no HostError", err)
		}
		return nil, he
	}
	var resp abi.FetchResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp, nil
}

func wantCode(t *testing.T, he *abi.HostError, code, msg string) {
	t.Helper()
	if he == nil || he.Code != code || !strings.Contains(he.Message, msg) {
		t.Fatalf("error %v, want %s containing %q", he, code, msg)
	}
}

// TestServiceAddresses: the address check holds on what is dialled, for
// both families, through the resolver, and the owner's approval opens
// exactly one origin, never a metadata address it does not name.
func TestServiceAddresses(t *testing.T) {
	v6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("v6")) }))
	hs.Listener.Close()
	hs.Listener = v6
	hs.Start()
	defer hs.Close()
	_, port, _ := net.SplitHostPort(v6.Addr().String())
	v6origin := "http://[::1]:" + port

	var logs bytes.Buffer
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "meta.test":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		case "mapped.test":
			return []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1"), netip.MustParseAddr("::1")}, nil
		case "six.test":
			return []netip.Addr{netip.MustParseAddr("::1")}, nil
		}
		return nil, errors.New("no such host")
	}
	s, err := New(Config{
		PrivateOrigins: []string{v6origin, "http://meta.test:80", "http://169.254.169.254:80"},
		Resolve:        resolve, DialTimeout: 200 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &logs}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := caller(v6origin, "http://six.test:"+port, "http://mapped.test:"+port, "http://meta.test:80", "http://169.254.169.254:80", "http://nowhere.test:80")

	resp, he := call(t, s, c, abi.FetchRequest{URL: v6origin + "/"})
	if he != nil || resp.Status != 200 || string(resp.Body) != "v6" {
		t.Fatalf("approved [::1]: %+v %v", resp, he)
	}
	if !strings.Contains(logs.String(), "module=mod method=GET origin="+v6origin+" status=200 result=ok duration=") {
		t.Errorf("no debug log of the fetch:\n%s", logs.String())
	}
	_, he = call(t, s, c, abi.FetchRequest{URL: "http://six.test:" + port + "/"})
	wantCode(t, he, abi.HostErrDenied, "loopback")
	_, he = call(t, s, c, abi.FetchRequest{URL: "http://mapped.test:" + port + "/"})
	wantCode(t, he, abi.HostErrDenied, "loopback")
	_, he = call(t, s, c, abi.FetchRequest{URL: "http://meta.test/"})
	wantCode(t, he, abi.HostErrDenied, "cloud metadata")
	_, he = call(t, s, c, abi.FetchRequest{URL: "http://nowhere.test/"})
	wantCode(t, he, abi.HostErrFailed, "no such host")
	// Not even an approved origin that names it: the check refuses the
	// address before any packet is sent.
	_, he = call(t, s, c, abi.FetchRequest{URL: "http://169.254.169.254/latest"})
	wantCode(t, he, abi.HostErrDenied, "cloud metadata")
	_, he = call(t, s, caller(), abi.FetchRequest{URL: v6origin + "/"})
	wantCode(t, he, abi.HostErrDenied, "capabilities.outbound_http")
	_, he = call(t, s, &modhost.Caller{Module: "nil"}, abi.FetchRequest{URL: v6origin + "/"})
	wantCode(t, he, abi.HostErrDenied, "capabilities.outbound_http")
	_, he = call(t, s, c, abi.FetchRequest{URL: v6origin + "/", Body: make([]byte, 2<<20)})
	wantCode(t, he, abi.HostErrLimit, "")
}

func TestNewRefusesBadPrivateOrigins(t *testing.T) {
	for _, o := range []string{"http://x:80/p", "ftp://x:21", "http://u@x:80", "http://0x7f.1:80", "x:80"} {
		if _, err := New(Config{PrivateOrigins: []string{o}}); err == nil {
			t.Errorf("New accepted private origin %q", o)
		}
	}
}

// TestInFlightHammer: P goroutines × N fetches slots of three modules; no
// module ever holds more than MaxConcurrent, and all are given back.
func TestInFlightHammer(t *testing.T) {
	s, err := New(Config{MaxConcurrent: 3})
	if err != nil {
		t.Fatal(err)
	}
	const P, N = 16, 500
	var held [3]atomic.Int32
	var wg sync.WaitGroup
	for p := range P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := p % 3
			name := string(rune('a' + m))
			for range N {
				if !s.enter(name) {
					continue
				}
				if n := held[m].Add(1); n > 3 {
					t.Errorf("module %s holds %d slots", name, n)
				}
				held[m].Add(-1)
				s.leave(name)
			}
		}()
	}
	wg.Wait()
	if len(s.inFlight) != 0 {
		t.Fatalf("slots left: %v", s.inFlight)
	}
}
