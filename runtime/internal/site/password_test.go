package site

import (
	"strings"
	"testing"
)

func TestHashRoundTrip(t *testing.T) {
	s := newHash(goodPassword, defaultParams)
	if !strings.HasPrefix(s, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not in PHC format", s)
	}
	h, err := parseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	if h.hashParams != defaultParams || len(h.Salt) != saltLen || len(h.Key) != keyLen || h.String() != s {
		t.Errorf("parsed %+v, formats as %q", h, h.String())
	}
	if ok, rehash, err := verifyHash(goodPassword, s, defaultParams); !ok || rehash || err != nil {
		t.Errorf("right password: %v %v %v", ok, rehash, err)
	}
	if ok, _, err := verifyHash(goodPassword+"x", s, defaultParams); ok || err != nil {
		t.Errorf("wrong password: %v %v", ok, err)
	}
	// Parameters come from the stored string.
	weak := newHash(goodPassword, hashParams{Memory: 64, Time: 1, Threads: 2})
	if ok, rehash, err := verifyHash(goodPassword, weak, defaultParams); !ok || !rehash || err != nil {
		t.Errorf("other parameters: %v %v %v", ok, rehash, err)
	}
	if newHash(goodPassword, defaultParams) == s {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestParseHashRejects(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, err := parseHash(good); err != nil {
		t.Fatalf("good hash rejected: %v", err)
	}
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=7,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=19456,t=2,p=1,k=1$" + salt + "$" + key,
	} {
		if _, err := parseHash(bad); err == nil {
			t.Errorf("parseHash(%q) succeeded", bad)
		}
	}
}

// FuzzParseHash checks that the parser of stored hashes never panics, never
// accepts parameters beyond its limits, and accepts only canonical strings.
func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.Memory > maxMemoryKiB || h.Time < 1 || h.Time > maxTime || h.Threads < 1 || h.Memory < 8*uint32(h.Threads) ||
			len(h.Salt) < minSaltLen || len(h.Salt) > maxSaltLen || len(h.Key) < minKeyLen || len(h.Key) > maxKeyLen {
			t.Fatalf("parseHash(%q) accepted out-of-range %+v", s, h)
		}
		if h.String() != s {
			t.Fatalf("parseHash(%q) is not canonical: formats as %q", s, h.String())
		}
	})
}
