package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

func fixedClock() func() time.Time {
	t := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func messages(p Page) []string {
	var ms []string
	for _, e := range p.Entries {
		ms = append(ms, e.Message)
	}
	return ms
}

func TestQuery(t *testing.T) {
	s := New(Config{Now: fixedClock()})
	s.Accept("websonic", hclog.Info, "serving", "url", "http://127.0.0.1:8080")
	s.Accept("websonic.module.noticeboard", hclog.Info, "module started", "version", "1.0.0")
	s.Accept("websonic.module.noticeboard", hclog.Error, "module call failed", "error", errors.New("trap: Unreachable"))
	s.Accept("websonic.module.chat", hclog.Warn, "slow subscriber", "topic", "chat.lobby")
	s.Accept("websonic.module.noticeboard.db", hclog.Warn, "quota nearly used")
	s.Accept("websonic.updater", hclog.Error, "update failed", "module", "chat")
	s.Accept("websonic.module.noticeboards", hclog.Info, "another module")
	s.Accept("websonic", hclog.Debug, "below the store's level")

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"everything, newest first", Query{}, []string{"another module", "update failed", "quota nearly used", "slow subscriber", "module call failed", "module started", "serving"}},
		{"warnings and worse", Query{Level: hclog.Warn}, []string{"update failed", "quota nearly used", "slow subscriber", "module call failed"}},
		{"errors", Query{Level: hclog.Error}, []string{"update failed", "module call failed"}},
		{"one module and its sub-loggers", Query{Component: ModuleComponent("noticeboard")}, []string{"quota nearly used", "module call failed", "module started"}},
		{"a component", Query{Component: "updater"}, []string{"update failed"}},
		{"text in a field value, any case", Query{Text: "UNREACHABLE"}, []string{"module call failed"}},
		{"text in a message", Query{Text: "chat"}, []string{"update failed", "slow subscriber"}},
		{"text and level", Query{Text: "chat", Level: hclog.Error}, []string{"update failed"}},
		{"nothing", Query{Text: "no such thing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := messages(s.Query(tt.q))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	s := New(Config{Now: fixedClock()})
	for i := range 25 {
		s.Accept("websonic", hclog.Info, fmt.Sprintf("entry %d", i))
	}
	var got []string
	q := Query{Limit: 10}
	pages := 0
	for {
		p := s.Query(q)
		pages++
		got = append(got, messages(p)...)
		if p.Next == 0 {
			break
		}
		q.Before = p.Next
	}
	if pages != 3 || len(got) != 25 || got[0] != "entry 24" || got[24] != "entry 0" {
		t.Fatalf("%d pages: %q", pages, got)
	}
	// A page filled exactly has no next page.
	if p := s.Query(Query{Limit: 25}); p.Next != 0 || len(p.Entries) != 25 {
		t.Errorf("next %d after %d entries", p.Next, len(p.Entries))
	}
}

func TestBounds(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		s := New(Config{MaxEntries: 3})
		for i := range 10 {
			s.Accept("x", hclog.Info, fmt.Sprint(i))
		}
		if got := messages(s.Query(Query{})); fmt.Sprint(got) != "[9 8 7]" {
			t.Errorf("kept %q", got)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		s := New(Config{MaxBytes: 5 * (entryOverhead + 101), MaxMessage: 100})
		for i := range 10 {
			s.Accept("x", hclog.Info, strings.Repeat(fmt.Sprint(i), 100))
		}
		n, b := s.Len()
		if n != 5 || b > 5*(entryOverhead+101) {
			t.Errorf("%d entries, %d bytes", n, b)
		}
	})
	t.Run("strings and fields", func(t *testing.T) {
		s := New(Config{MaxMessage: 10, MaxValue: 8, MaxFields: 2})
		s.Accept("x", hclog.Info, "a message longer than ten bytes", "key", "ééééééééé", "k2", 2, "k3", 3)
		e := s.Query(Query{}).Entries[0]
		if len(e.Message) > 10 || !strings.HasSuffix(e.Message, Truncated) {
			t.Errorf("message %q", e.Message)
		}
		if len(e.Fields) != 2 || len(e.Fields[0].Value) > 8 || !utf8.ValidString(e.Fields[0].Value) {
			t.Errorf("fields %q", e.Fields)
		}
	})
	t.Run("odd arguments", func(t *testing.T) {
		s := New(Config{})
		s.Accept("x", hclog.Info, "m", "k", 1, "lonely")
		if f := s.Query(Query{}).Entries[0].Fields; fmt.Sprint(f) != "[{k 1} {EXTRA_VALUE_AT_END lonely}]" {
			t.Errorf("fields %q", f)
		}
	})
	t.Run("skip", func(t *testing.T) {
		s := New(Config{Skip: func(name string, _ hclog.Level, _ string) bool { return name == "http" }})
		s.Accept("http", hclog.Info, "request")
		s.Accept("updater", hclog.Info, "checked")
		if got := messages(s.Query(Query{})); fmt.Sprint(got) != "[checked]" {
			t.Errorf("kept %q", got)
		}
	})
}

// TestTee: the tee's output is byte for byte the logger's own, and the
// store keeps what was printed and nothing below the logger's level.
func TestTee(t *testing.T) {
	opts := func(w *bytes.Buffer) *hclog.LoggerOptions {
		return &hclog.LoggerOptions{Name: "websonic", Level: hclog.Warn, Output: w, DisableTime: true}
	}
	var plain, teed bytes.Buffer
	s := New(Config{})
	loggers := []hclog.Logger{hclog.New(opts(&plain)), Tee(hclog.New(opts(&teed)), s)}
	for _, l := range loggers {
		l.Info("not printed at Warn", "a", 1)
		l.Warn("printed", "a", 1, "err", errors.New("boom"))
		m := l.Named("module").Named("chat").With("version", "1.2.0")
		m.Error("module call failed", "status", 500)
		m.SetLevel(hclog.Info) // hclog: sub-loggers share their parent's level
		l.Info("printed now", "h", hclog.Hex(255))
		std := l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
		std.Print("[ERROR] http: TLS handshake error")
		std.Print("plain line")
		l.ResetNamed("other").Warn("reset")
	}
	if plain.String() != teed.String() {
		t.Fatalf("tee changed the output:\n%s\nwant:\n%s", teed.String(), plain.String())
	}
	var got []string
	for _, e := range s.Query(Query{}).Entries {
		got = append(got, fmt.Sprintf("%s %s %s %v", e.Level, e.Name, e.Message, e.Fields))
	}
	want := []string{
		"warn other reset []",
		"info websonic plain line []",
		"error websonic http: TLS handshake error []",
		"info websonic printed now [{h 0xff}]",
		"error websonic.module.chat module call failed [{version 1.2.0} {status 500}]",
		"warn websonic printed [{a 1} {err boom}]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("store holds\n%q\nwant\n%q", got, want)
	}
}

// TestHammer: writers and readers at once (run with -race); every page is in
// order and the bounds hold throughout.
func TestHammer(t *testing.T) {
	const writers, loops, readers = 8, 300, 4
	s := New(Config{MaxEntries: 500, MaxBytes: 64 << 10})
	l := Tee(hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: nopWriter{}}), s)
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				select {
				case <-done:
					return
				default:
				}
				q := Query{Limit: 20, Level: hclog.Level(2 + r%3), Text: "loop"}
				for range 3 {
					p := s.Query(q)
					for i := 1; i < len(p.Entries); i++ {
						if p.Entries[i].Seq >= p.Entries[i-1].Seq {
							errs <- fmt.Errorf("page out of order: %d after %d", p.Entries[i].Seq, p.Entries[i-1].Seq)
							return
						}
					}
					if p.Next == 0 {
						break
					}
					q.Before = p.Next
				}
				if n, b := s.Len(); n > 500 || b > 64<<10 {
					errs <- fmt.Errorf("bounds broken: %d entries, %d bytes", n, b)
					return
				}
				s.Components()
			}
		}()
	}
	var ww sync.WaitGroup
	for w := range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			ml := l.Named(fmt.Sprintf("module.m%d", w))
			for i := range loops {
				ml.Log(hclog.Level(3+i%3), "loop", "i", i, "payload", strings.Repeat("x", i%300))
			}
		}()
	}
	ww.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := s.Len(); n == 0 {
		t.Error("nothing kept")
	}
	if p := s.Query(Query{Limit: 1}); p.Entries[0].Seq != writers*loops {
		t.Errorf("newest seq %d, want %d", p.Entries[0].Seq, writers*loops)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func FuzzCut(f *testing.F) {
	f.Add("héllo wörld", 5)
	f.Add("\xff\xfe", 2)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < len(Truncated) || limit > 1<<16 {
			return
		}
		got := cut(s, limit)
		if len(got) > limit {
			t.Fatalf("cut(%q, %d) = %q: too long", s, limit, got)
		}
		if len(s) <= limit && got != s {
			t.Fatalf("cut changed a short string")
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("cut(%q, %d) = %q: broke a rune", s, limit, got)
		}
	})
}

// TestComponentShare: a component logging without end keeps its burst and
// then its rate, the others keep theirs, and what it lost is counted on
// its next kept entry.
func TestComponentShare(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s := New(Config{MaxEntries: 1000, Burst: 10, PerMinute: 60, Now: func() time.Time { return now }})
	s.Accept("runtime", hclog.Warn, "before the flood")
	for range 10000 {
		s.Accept("module.chatty", hclog.Info, "spam")
	}
	s.Accept("runtime", hclog.Warn, "after the flood")
	if n, _ := s.Len(); n != 12 {
		t.Fatalf("%d entries kept, want the runtime's 2 and the module's burst of 10", n)
	}
	now = now.Add(time.Second) // one more token
	s.Accept("module.chatty", hclog.Info, "later")
	p := s.Query(Query{Component: "module.chatty", Limit: 1})
	if len(p.Entries) != 1 || p.Entries[0].Message != "later" {
		t.Fatalf("newest chatty entry: %+v", p.Entries)
	}
	var dropped string
	for _, f := range p.Entries[0].Fields {
		if f.Key == "dropped" {
			dropped = f.Value
		}
	}
	if dropped != "9990" {
		t.Fatalf("dropped = %q, want 9990", dropped)
	}
	if p := s.Query(Query{Text: "flood"}); len(p.Entries) != 2 {
		t.Fatalf("the runtime's entries: %+v", p.Entries)
	}
}
