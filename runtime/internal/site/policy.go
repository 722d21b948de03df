package site

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Password policy, after NIST SP 800-63B-4 §3.1.1.2 (see RATIONALE.md, "Why
// 15 characters?"): passwords are this site's only factor, so at least 15
// characters (Unicode code points), at most 1024, any characters, no
// composition rules, not the username nor containing it, and not a common or
// breached password nor an obvious derivative of one (checked lowercased).
// It applies when a password is chosen; existing passwords keep working.
const (
	minPasswordLen = 15
	maxPasswordLen = 1024
)

//go:embed blocklist/*.txt.gz
var blocklistFS embed.FS

// blocklist is the sorted, de-duplicated union of the embedded lists,
// loaded once on first use.
var blocklist = sync.OnceValues(func() ([]string, error) {
	var all []string
	for _, name := range []string{"blocklist/passwords.txt.gz", "blocklist/english_wikipedia.txt.gz"} {
		gz, err := blocklistFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("site: password blocklist: %w", err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, fmt.Errorf("site: password blocklist %s: %w", name, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("site: password blocklist %s: %w", name, err)
		}
		all = append(all, strings.Fields(string(b))...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
})

// checkPassword applies the policy to a new password for username
// (normalized). Its errors are *PasswordError, which match ErrWeakPassword,
// or an internal error if the blocklist cannot be read.
func checkPassword(password, username string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPasswordLen:
		return &PasswordError{Reason: PasswordTooShort}
	case n > maxPasswordLen:
		return &PasswordError{Reason: PasswordTooLong}
	}
	lower := strings.ToLower(password)
	if username != "" && strings.Contains(lower, username) {
		return &PasswordError{Reason: PasswordHasUsername}
	}
	list, err := blocklist()
	if err != nil {
		return err
	}
	if guessable(lower, list) {
		return &PasswordError{Reason: PasswordCommon}
	}
	return nil
}

// walks are keyboard rows and sequences: a password that is part of one
// (forwards or backwards) is refused.
var walks = []string{
	"abcdefghijklmnopqrstuvwxyz",
	strings.Repeat("0123456789", 4),
	"qwertyuiopasdfghjklzxcvbnm",
	"1234567890qwertyuiopasdfghjklzxcvbnm",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
	"qazwsxedcrfvtgbyhnujmikolp",
	"azertyuiopqsdfghjklmwxcvbn",
	"qwertzuiopasdfghjklyxcvbnm",
}

// guessable reports whether s (lowercased) is on the list, or is a
// derivative of a listed entry: with separators removed, with digits,
// punctuation and spaces stripped from either end, or a repetition of a
// listed, very short or sequential unit; or a keyboard walk or sequence.
func guessable(s string, list []string) bool {
	squashed := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, s)
	for _, c := range []string{s, squashed, core(s), core(squashed)} {
		if c == "" {
			continue // no letters at all: judged by length, walks and repetition
		}
		if listed(c, list) || walk(c) {
			return true
		}
		if u := repeatedUnit(c); u != "" && (utf8.RuneCountInString(u) <= 4 || listed(u, list) || walk(u)) {
			return true
		}
	}
	return false
}

// core strips digits, punctuation, symbols and spaces from both ends: the
// "word" of "password123!" is "password".
func core(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
}

func listed(s string, list []string) bool {
	_, found := slices.BinarySearch(list, s)
	return found
}

// walk reports whether s, of at least 4 characters, is part of a walk,
// forwards or backwards.
func walk(s string) bool {
	if len(s) < 4 {
		return false
	}
	r := []rune(s)
	slices.Reverse(r)
	rev := string(r)
	for _, w := range walks {
		if strings.Contains(w, s) || strings.Contains(w, rev) {
			return true
		}
	}
	return false
}

// repeatedUnit returns u when s is u repeated at least twice (a partial
// last copy allowed: "abcabcab"), the shortest such u; else "".
func repeatedUnit(s string) string {
	r := []rune(s)
	for p := 1; p <= len(r)/2; p++ {
		ok := true
		for i := p; i < len(r); i++ {
			if r[i] != r[i-p] {
				ok = false
				break
			}
		}
		if ok {
			return string(r[:p])
		}
	}
	return ""
}
