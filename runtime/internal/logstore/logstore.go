package logstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

// Config bounds a Store. Zero fields take the defaults shown.
type Config struct {
	// MaxEntries is how many entries the store keeps, newest first (5000).
	MaxEntries int
	// MaxBytes caps the entries' total size, counted as the bytes of their
	// strings plus a fixed overhead each (4 MiB).
	MaxBytes int
	// Level is the lowest level kept (hclog.Info).
	Level hclog.Level
	// MaxMessage cuts longer messages (2048 bytes).
	MaxMessage int
	// MaxFields is how many key/value pairs of an entry are kept (32).
	MaxFields int
	// MaxValue cuts longer keys and values (512 bytes).
	MaxValue int
	// Skip, when set, drops the entries it returns true for (for example
	// the access log's line per request, which would crowd out the rest).
	Skip func(name string, level hclog.Level, msg string) bool
	// Burst and PerMinute bound what one component (one logger name, such
	// as one module's) may add: Burst entries at once, then PerMinute a
	// minute (500 and 120), so that no module, however chatty or driven
	// by its visitors, pushes everything else out. What a component loses
	// is counted on its next kept entry (field "dropped").
	Burst, PerMinute int
	// Now is the clock (time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxEntries <= 0 {
		c.MaxEntries = 5000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 4 << 20
	}
	if c.Level == hclog.NoLevel {
		c.Level = hclog.Info
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 2048
	}
	if c.MaxFields <= 0 {
		c.MaxFields = 32
	}
	if c.MaxValue <= 0 {
		c.MaxValue = 512
	}
	if c.Burst <= 0 {
		c.Burst = 500
	}
	if c.PerMinute <= 0 {
		c.PerMinute = 120
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// bucket is one component's share (Config.Burst, PerMinute).
type bucket struct {
	tokens  float64
	last    time.Time
	dropped int
}

// maxBuckets bounds the components tracked; past it the shares start over.
const maxBuckets = 4096

// admit takes one of name's tokens at now; the caller holds s.mu. It
// returns whether the entry is kept and how many were dropped before it.
func (s *Store) admit(name string, now time.Time) (keep bool, dropped int) {
	b := s.buckets[name]
	if b == nil {
		if len(s.buckets) >= maxBuckets {
			clear(s.buckets)
		}
		b = &bucket{tokens: float64(s.cfg.Burst), last: now}
		s.buckets[name] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(s.cfg.Burst), b.tokens+d.Minutes()*float64(s.cfg.PerMinute))
		b.last = now
	}
	if b.tokens < 1 {
		b.dropped++
		return false, 0
	}
	b.tokens--
	dropped, b.dropped = b.dropped, 0
	return true, dropped
}

// entryOverhead is what an entry counts towards MaxBytes besides its
// strings.
const entryOverhead = 96

// Truncated ends a string the store cut.
const Truncated = "…"

// Field is one key/value pair of an entry, as text.
type Field struct {
	Key, Value string
}

// Entry is one kept log entry. Its strings are bounded (Config).
type Entry struct {
	// Seq numbers the store's entries from 1, in the order they came.
	Seq     uint64
	Time    time.Time
	Level   hclog.Level
	Name    string // the logger's name, e.g. "websonic.module.noticeboard"
	Message string
	Fields  []Field
}

func (e *Entry) size() int {
	n := entryOverhead + len(e.Name) + len(e.Message)
	for _, f := range e.Fields {
		n += len(f.Key) + len(f.Value) + 32
	}
	return n
}

// Store is a bounded, in-memory ring of log entries. Safe for concurrent use.
type Store struct {
	cfg Config

	mu    sync.RWMutex
	ring  []Entry // capacity MaxEntries; the oldest at start
	start int
	n     int
	bytes int
	seq   uint64
	// buckets are the components' shares (admit).
	buckets map[string]*bucket
}

var _ hclog.SinkAdapter = (*Store)(nil)

// New returns an empty store.
func New(cfg Config) *Store {
	cfg.defaults()
	return &Store{cfg: cfg, ring: make([]Entry, cfg.MaxEntries), buckets: map[string]*bucket{}}
}

// Level is the lowest level the store keeps.
func (s *Store) Level() hclog.Level { return s.cfg.Level }

// Accept keeps an entry (hclog.SinkAdapter): name is the logger's name and
// args alternate keys and values, as hclog's. Entries below Config.Level
// are dropped.
func (s *Store) Accept(name string, level hclog.Level, msg string, args ...any) {
	if level < s.cfg.Level || level >= hclog.Off {
		return
	}
	if s.cfg.Skip != nil && s.cfg.Skip(name, level, msg) {
		return
	}
	e := Entry{
		Time:    s.cfg.Now(),
		Level:   level,
		Name:    cut(name, s.cfg.MaxValue),
		Message: cut(msg, s.cfg.MaxMessage),
		Fields:  s.fields(args),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep, dropped := s.admit(e.Name, e.Time)
	if !keep {
		return
	}
	if dropped > 0 {
		e.Fields = append(e.Fields, Field{Key: "dropped", Value: strconv.Itoa(dropped)})
	}
	size := e.size()
	for s.n > 0 && (s.n == len(s.ring) || s.bytes+size > s.cfg.MaxBytes) {
		s.bytes -= s.ring[s.start].size()
		s.ring[s.start] = Entry{}
		s.start = (s.start + 1) % len(s.ring)
		s.n--
	}
	s.seq++
	e.Seq = s.seq
	s.ring[(s.start+s.n)%len(s.ring)] = e
	s.n++
	s.bytes += size
}

// fields turns hclog's alternating keys and values into bounded text, as
// hclog prints them: an odd value at the end gets the key hclog gives it.
func (s *Store) fields(args []any) []Field {
	if len(args) == 0 {
		return nil
	}
	n := min((len(args)+1)/2, s.cfg.MaxFields)
	fs := make([]Field, 0, n)
	for i := 0; i < len(args) && len(fs) < n; i += 2 {
		if i+1 == len(args) {
			fs = append(fs, Field{Key: "EXTRA_VALUE_AT_END", Value: cut(text(args[i]), s.cfg.MaxValue)})
			break
		}
		fs = append(fs, Field{Key: cut(text(args[i]), s.cfg.MaxValue), Value: cut(text(args[i+1]), s.cfg.MaxValue)})
	}
	return fs
}

// text is a value as hclog's text format shows it.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		f, _ := v[0].(string)
		return fmt.Sprintf(f, v[1:]...)
	case hclog.Hex:
		return fmt.Sprintf("0x%x", int64(v))
	case hclog.Octal:
		return fmt.Sprintf("0%o", int64(v))
	case hclog.Binary:
		return fmt.Sprintf("0b%b", int64(v))
	case hclog.Quote:
		return fmt.Sprintf("%q", string(v))
	case hclog.CapturedStacktrace:
		return string(v)
	default:
		return fmt.Sprint(v) // Error and String, panics caught
	}
}

// cut bounds s to limit bytes, on a rune boundary, marking the cut.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := limit - len(Truncated)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:max(n, 0)] + Truncated
}

// Query selects entries. The zero Query is the newest page of everything.
type Query struct {
	// Level is the lowest level wanted (hclog.NoLevel: all kept).
	Level hclog.Level
	// Component keeps the entries of the loggers whose dotted name holds
	// these segments: "module.noticeboard" matches
	// "websonic.module.noticeboard" (and its sub-loggers), "updater" the
	// updater's.
	Component string
	// Text keeps the entries whose message, logger name or a field holds
	// it, ignoring case.
	Text string
	// Before pages: only entries older than the one of this Seq (0: from
	// the newest). Page.Next gives the next page's.
	Before uint64
	// Limit is the page size (50; at most 500).
	Limit int
}

// Page is one page of a query's answer, newest first.
type Page struct {
	Entries []Entry
	// Next is the Query.Before of the next (older) page; 0 when this page
	// is the last.
	Next uint64
}

// ModuleComponent is Query.Component for a module's log.
func ModuleComponent(module string) string { return "module." + module }

// Query returns a page of the entries q selects, newest first. The entries
// are copies: the caller may keep them.
func (s *Store) Query(q Query) Page {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 500)
	comp := ""
	if q.Component != "" {
		comp = "." + strings.Trim(q.Component, ".") + "."
	}
	needle := strings.ToLower(q.Text)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var p Page
	for i := s.n - 1; i >= 0; i-- {
		e := &s.ring[(s.start+i)%len(s.ring)]
		if q.Before != 0 && e.Seq >= q.Before {
			continue
		}
		if e.Level < q.Level {
			continue
		}
		if comp != "" && !strings.Contains("."+e.Name+".", comp) {
			continue
		}
		if needle != "" && !e.contains(needle) {
			continue
		}
		if len(p.Entries) == q.Limit {
			p.Next = p.Entries[len(p.Entries)-1].Seq
			break
		}
		c := *e
		c.Fields = append([]Field(nil), e.Fields...)
		p.Entries = append(p.Entries, c)
	}
	return p
}

func (e *Entry) contains(lower string) bool {
	if containsFold(e.Message, lower) || containsFold(e.Name, lower) {
		return true
	}
	for _, f := range e.Fields {
		if containsFold(f.Value, lower) || containsFold(f.Key, lower) {
			return true
		}
	}
	return false
}

func containsFold(s, lower string) bool { return strings.Contains(strings.ToLower(s), lower) }

// Components lists the logger names of the kept entries, sorted, for a
// filter's choices.
func (s *Store) Components() []string {
	s.mu.RLock()
	seen := map[string]bool{}
	for i := 0; i < s.n; i++ {
		seen[s.ring[(s.start+i)%len(s.ring)].Name] = true
	}
	s.mu.RUnlock()
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Len is the number of entries kept and their size in bytes.
func (s *Store) Len() (entries, bytes int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.n, s.bytes
}
