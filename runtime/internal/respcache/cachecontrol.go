package respcache

import (
	"strconv"
	"strings"
	"time"
)

// Directives are the Cache-Control directives the cache acts on.
type Directives struct {
	MaxAge, SMaxAge       time.Duration
	HasMaxAge, HasSMaxAge bool
	Public, Private       bool
	NoStore, NoCache      bool
	// Invalid is set when a directive the cache acts on is malformed or
	// repeated with another value: such a response is not stored.
	Invalid bool
}

// maxSeconds bounds a delta-seconds value (RFC 9111 section 1.2.2: a
// larger one means "as long as you like"; we cap it anyway).
const maxSeconds = 1 << 31

// ParseCacheControl parses the Cache-Control field values of a response
// (every line of the header; RFC 9111 section 5.2). Unknown directives are
// ignored; a directive's name is matched without regard to case. A
// qualified private="…" or no-cache="…" counts as the unqualified one (the
// cache does not store a response it would have to trim).
func ParseCacheControl(values []string) Directives {
	var d Directives
	for _, v := range values {
		for len(v) > 0 {
			var part string
			part, v = nextDirective(v)
			name, arg, hasArg := strings.Cut(part, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			arg = strings.TrimSpace(arg)
			switch name {
			case "max-age", "s-maxage":
				n, ok := parseSeconds(arg, hasArg)
				if !ok {
					d.Invalid = true
					continue
				}
				dur, has := &d.MaxAge, &d.HasMaxAge
				if name == "s-maxage" {
					dur, has = &d.SMaxAge, &d.HasSMaxAge
				}
				if *has && *dur != n {
					d.Invalid = true
				}
				*dur, *has = n, true
			case "public":
				d.Public = true
			case "private":
				d.Private = true
			case "no-store":
				d.NoStore = true
			case "no-cache":
				d.NoCache = true
			}
		}
	}
	return d
}

// nextDirective splits the first directive off v, honouring quoted
// strings (a comma inside quotes does not end a directive).
func nextDirective(v string) (part, rest string) {
	inQuote, escaped := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			return v[:i], v[i+1:]
		}
	}
	return v, ""
}

// parseSeconds parses a delta-seconds argument, in quotes or not (RFC
// 9111 allows senders the token form only, and recipients the quoted one).
func parseSeconds(arg string, hasArg bool) (time.Duration, bool) {
	if !hasArg {
		return 0, false
	}
	if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
		arg = arg[1 : len(arg)-1]
	}
	if arg == "" || len(arg) > 12 {
		if arg != "" && strings.Trim(arg, "0123456789") == "" {
			return maxSeconds * time.Second, true // very large: as long as allowed
		}
		return 0, false
	}
	for i := 0; i < len(arg); i++ {
		if arg[i] < '0' || arg[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(min(n, maxSeconds)) * time.Second, true
}

// Lifetime is how long a response with d stays fresh in the cache:
// s-maxage, or max-age without it (this is a shared cache).
func (d Directives) Lifetime() (time.Duration, bool) {
	switch {
	case d.HasSMaxAge:
		return d.SMaxAge, true
	case d.HasMaxAge:
		return d.MaxAge, true
	}
	return 0, false
}
