package tlsserve

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapLogger is a zap logger writing to log: certmagic logs through zap,
// the rest of Web Sonic through hclog.
func zapLogger(log hclog.Logger) *zap.Logger { return zap.New(&hclogCore{log: log}) }

// hclogCore is a zapcore.Core that writes entries to an hclog logger, zap's
// logger names becoming hclog's and fields key/value pairs.
type hclogCore struct {
	log    hclog.Logger
	fields []zapcore.Field
}

var _ zapcore.Core = (*hclogCore)(nil)

func hclogLevel(l zapcore.Level) hclog.Level {
	switch {
	case l < zapcore.InfoLevel:
		return hclog.Debug
	case l == zapcore.InfoLevel:
		return hclog.Info
	case l == zapcore.WarnLevel:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (c *hclogCore) Enabled(l zapcore.Level) bool {
	switch hclogLevel(l) {
	case hclog.Debug:
		return c.log.IsDebug()
	case hclog.Info:
		return c.log.IsInfo()
	case hclog.Warn:
		return c.log.IsWarn()
	}
	return c.log.IsError()
}

func (c *hclogCore) With(fields []zapcore.Field) zapcore.Core {
	return &hclogCore{log: c.log, fields: append(slices.Clip(c.fields), fields...)}
}

func (c *hclogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *hclogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		v := enc.Fields[k]
		if _, ok := v.(error); !ok {
			if s, ok := v.(fmt.Stringer); ok {
				v = s.String()
			}
		}
		args = append(args, k, v)
	}
	log := c.log
	if name := strings.Trim(e.LoggerName, "."); name != "" {
		log = log.Named(name)
	}
	log.Log(hclogLevel(e.Level), e.Message, args...)
	return nil
}

func (c *hclogCore) Sync() error { return nil }
