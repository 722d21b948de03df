package sdk

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// Logger returns a structured logger whose records go to the site's log,
// under a logger named after the module.
func Logger() *slog.Logger { return slog.New(&logHandler{}) }

// logHandler is a slog.Handler that sends records over the ABI.
type logHandler struct {
	attrs  []string // flattened key, value pairs from WithAttrs
	prefix string   // group prefix, "a.b."
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	rec := abi.LogRecord{Msg: r.Message, Attrs: append([]string(nil), h.attrs...)}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs = appendAttr(rec.Attrs, h.prefix, a)
		return true
	})
	hostcall.Log(level(r.Level), rec.AppendMarshal(nil))
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]string(nil), h.attrs...)
	for _, a := range as {
		h2.attrs = appendAttr(h2.attrs, h.prefix, a)
	}
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

func appendAttr(kv []string, prefix string, a slog.Attr) []string {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			kv = appendAttr(kv, p, g)
		}
		return kv
	}
	if a.Key == "" {
		return kv
	}
	return append(kv, prefix+a.Key, fmt.Sprint(v.Any()))
}

func level(l slog.Level) uint32 {
	switch {
	case l < slog.LevelDebug:
		return abi.LevelTrace
	case l < slog.LevelInfo:
		return abi.LevelDebug
	case l < slog.LevelWarn:
		return abi.LevelInfo
	case l < slog.LevelError:
		return abi.LevelWarn
	default:
		return abi.LevelError
	}
}
