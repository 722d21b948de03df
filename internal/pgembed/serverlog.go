package pgembed

import (
	"bufio"
	"io"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// tailLines is how many server log lines an error about a failed start carries.
const tailLines = 30

// serverLog forwards the server's stderr to a logger line by line and keeps
// the last lines for error messages.
type serverLog struct {
	log  hclog.Logger
	done chan struct{} // closed when the stream ends

	mu   sync.Mutex
	tail []string
}

func newServerLog(log hclog.Logger) *serverLog {
	return &serverLog{log: log, done: make(chan struct{})}
}

// consume reads r until EOF; run it in its own goroutine.
func (l *serverLog) consume(r io.ReadCloser) {
	defer close(l.done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64*1024)
	last := hclog.Info
	for {
		line, err := readLine(br, maxLogLine)
		if err != nil {
			if err != io.EOF {
				l.log.Debug("server log stream ended", "error", err)
			}
			return
		}
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		level, msg := classify(line)
		if level != hclog.NoLevel {
			last = level
		} else {
			level = last
		}
		l.mu.Lock()
		l.tail = append(l.tail, line)
		if len(l.tail) > tailLines {
			l.tail = l.tail[len(l.tail)-tailLines:]
		}
		l.mu.Unlock()
		l.log.Log(level, msg)
	}
}

// maxLogLine caps one server log line; longer lines (a huge failing
// statement, say) are cut, never allowed to stop the log.
const maxLogLine = 16 << 10

// readLine reads one line, keeping at most max bytes of it.
func readLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if len(buf) > 0 {
				return string(buf), nil
			}
			return "", err
		}
		if room := max - len(buf); room > 0 {
			buf = append(buf, chunk[:min(len(chunk), room)]...)
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

// Tail returns the last lines of the log, newline-separated.
func (l *serverLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}

// severities maps a postgres message severity to a level; follow-up
// severities map to NoLevel, meaning "the level of the previous line".
var severities = map[string]hclog.Level{
	"DEBUG":     hclog.Debug,
	"DEBUG1":    hclog.Debug,
	"DEBUG2":    hclog.Debug,
	"DEBUG3":    hclog.Debug,
	"DEBUG4":    hclog.Debug,
	"DEBUG5":    hclog.Debug,
	"LOG":       hclog.Info,
	"INFO":      hclog.Info,
	"NOTICE":    hclog.Info,
	"WARNING":   hclog.Warn,
	"ERROR":     hclog.Error,
	"FATAL":     hclog.Error,
	"PANIC":     hclog.Error,
	"DETAIL":    hclog.NoLevel,
	"HINT":      hclog.NoLevel,
	"QUERY":     hclog.NoLevel,
	"CONTEXT":   hclog.NoLevel,
	"LOCATION":  hclog.NoLevel,
	"STATEMENT": hclog.NoLevel,
}

// classify splits "SEVERITY:  message" (the server runs with an empty
// log_line_prefix). Lines without a known severity (continuations, output of
// libraries) get NoLevel and keep the whole line as the message.
func classify(line string) (hclog.Level, string) {
	sev, msg, ok := strings.Cut(line, ":")
	if !ok {
		return hclog.NoLevel, line
	}
	level, known := severities[sev]
	if !known {
		return hclog.NoLevel, line
	}
	msg = strings.TrimSpace(msg)
	if level == hclog.NoLevel {
		return hclog.NoLevel, sev + ": " + msg
	}
	return level, msg
}
