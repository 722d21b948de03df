package logstore

import (
	"bytes"
	"io"
	"log"
	"regexp"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Tee returns a logger that logs to inner, exactly as inner would, and keeps
// in s every entry inner prints at s's level or above (so the store never
// holds what the log does not show). Named, With and the standard loggers
// it makes keep both. With inner's IncludeLocation on, the location shown
// is one frame off (Tee's own).
func Tee(inner hclog.Logger, s *Store) hclog.Logger {
	return &tee{inner: inner, store: s}
}

type tee struct {
	inner hclog.Logger
	store *Store
}

var _ hclog.Logger = (*tee)(nil)

func (t *tee) Log(level hclog.Level, msg string, args ...any) {
	t.inner.Log(level, msg, args...)
	if level >= t.store.Level() && level >= t.inner.GetLevel() {
		if implied := t.inner.ImpliedArgs(); len(implied) > 0 {
			args = append(append(make([]any, 0, len(implied)+len(args)), implied...), args...)
		}
		t.store.Accept(t.inner.Name(), level, msg, args...)
	}
}

func (t *tee) Trace(msg string, args ...any) { t.Log(hclog.Trace, msg, args...) }
func (t *tee) Debug(msg string, args ...any) { t.Log(hclog.Debug, msg, args...) }
func (t *tee) Info(msg string, args ...any)  { t.Log(hclog.Info, msg, args...) }
func (t *tee) Warn(msg string, args ...any)  { t.Log(hclog.Warn, msg, args...) }
func (t *tee) Error(msg string, args ...any) { t.Log(hclog.Error, msg, args...) }

func (t *tee) IsTrace() bool { return t.inner.IsTrace() }
func (t *tee) IsDebug() bool { return t.inner.IsDebug() }
func (t *tee) IsInfo() bool  { return t.inner.IsInfo() }
func (t *tee) IsWarn() bool  { return t.inner.IsWarn() }
func (t *tee) IsError() bool { return t.inner.IsError() }

func (t *tee) ImpliedArgs() []any { return t.inner.ImpliedArgs() }
func (t *tee) With(args ...any) hclog.Logger {
	return &tee{inner: t.inner.With(args...), store: t.store}
}
func (t *tee) Name() string { return t.inner.Name() }
func (t *tee) Named(name string) hclog.Logger {
	return &tee{inner: t.inner.Named(name), store: t.store}
}
func (t *tee) ResetNamed(name string) hclog.Logger {
	return &tee{inner: t.inner.ResetNamed(name), store: t.store}
}
func (t *tee) SetLevel(level hclog.Level) { t.inner.SetLevel(level) }
func (t *tee) GetLevel() hclog.Level      { return t.inner.GetLevel() }

func (t *tee) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(t.StandardWriter(opts), "", 0)
}

// StandardWriter is hclog's standard-library adapter over the tee: the same
// level inference (InferLevels, InferLevelsWithTimestamp, ForceLevel).
func (t *tee) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdWriter{log: t, opts: *opts}
}

type stdWriter struct {
	log  hclog.Logger
	opts hclog.StandardLoggerOptions
}

var logTimestamp = regexp.MustCompile(`^[\d\s\:\/\.\+-TZ]*`)

func (w *stdWriter) Write(data []byte) (int, error) {
	str := string(bytes.TrimRight(data, " \t\n"))
	switch {
	case w.opts.ForceLevel != hclog.NoLevel:
		_, str = pickLevel(str)
		w.log.Log(w.opts.ForceLevel, str)
	case w.opts.InferLevels:
		if w.opts.InferLevelsWithTimestamp {
			str = str[logTimestamp.FindStringIndex(str)[1]:]
		}
		level, str := pickLevel(str)
		w.log.Log(level, str)
	default:
		w.log.Info(str)
	}
	return len(data), nil
}

func pickLevel(str string) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{{"[DEBUG]", hclog.Debug}, {"[TRACE]", hclog.Trace}, {"[INFO]", hclog.Info}, {"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error}} {
		if rest, ok := strings.CutPrefix(str, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, str
}
