package sdk

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

func TestLevelMapping(t *testing.T) {
	for _, tc := range []struct {
		in   slog.Level
		want uint32
	}{
		{slog.LevelDebug - 4, abi.LevelTrace},
		{slog.LevelDebug, abi.LevelDebug},
		{slog.LevelInfo - 1, abi.LevelDebug},
		{slog.LevelInfo, abi.LevelInfo},
		{slog.LevelWarn, abi.LevelWarn},
		{slog.LevelError, abi.LevelError},
		{slog.LevelError + 8, abi.LevelError},
	} {
		if got := level(tc.in); got != tc.want {
			t.Errorf("level(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestLogAttrsFlatten checks that attributes, groups and WithAttrs end up
// as the flat key/value pairs of an abi.LogRecord.
func TestLogAttrsFlatten(t *testing.T) {
	var h slog.Handler = &logHandler{}
	h = h.WithAttrs([]slog.Attr{slog.String("module", "hello")})
	h = h.WithGroup("req").WithGroup("")
	h = h.WithAttrs([]slog.Attr{slog.Int("id", 7)})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "signed", 0)
	r.AddAttrs(
		slog.String("user", "ada"),
		slog.Group("db", slog.Int("rows", 2), slog.Group("", slog.Bool("inline", true))),
		slog.Attr{}, // empty attrs are dropped
		slog.Any("lazy", slog.StringValue("v")),
	)
	lh := h.(*logHandler)
	rec := abi.LogRecord{Msg: r.Message, Attrs: slices.Clone(lh.attrs)}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs = appendAttr(rec.Attrs, lh.prefix, a)
		return true
	})
	want := []string{"module", "hello", "req.id", "7", "req.user", "ada", "req.db.rows", "2", "req.db.inline", "true", "req.lazy", "v"}
	if !slices.Equal(rec.Attrs, want) {
		t.Errorf("attrs = %q\nwant    %q", rec.Attrs, want)
	}
	var back abi.LogRecord
	if err := back.Unmarshal(rec.AppendMarshal(nil)); err != nil {
		t.Fatal(err)
	}
	// Handle must not fail natively (the record is dropped).
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}
