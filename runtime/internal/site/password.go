package site

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// hashParams are the argon2id parameters of one hash (memory in KiB).
type hashParams struct {
	Memory  uint32
	Time    uint32
	Threads uint8
}

// defaultParams are OWASP's argon2id minimum (m=19 MiB, t=2, p=1). Hashes
// made with other parameters still verify and are replaced on the next login.
var defaultParams = hashParams{Memory: 19456, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Limits the parser enforces, so that a damaged or hostile stored string
// cannot make verification allocate or spin without bound.
const (
	maxMemoryKiB = 1 << 21 // 2 GiB
	maxTime      = 64
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 128
)

// phc is a parsed argon2id PHC string.
type phc struct {
	hashParams
	Salt []byte
	Key  []byte
}

// errBadHash is a stored hash that is not a canonical argon2id PHC string.
var errBadHash = errors.New("site: malformed password hash")

var b64 = base64.RawStdEncoding.Strict()

// String formats h as "$argon2id$v=19$m=...,t=...,p=...$salt$key", with
// unpadded standard base64 as the PHC format prescribes.
func (h phc) String() string {
	return "$argon2id$v=19$m=" + strconv.FormatUint(uint64(h.Memory), 10) +
		",t=" + strconv.FormatUint(uint64(h.Time), 10) +
		",p=" + strconv.FormatUint(uint64(h.Threads), 10) +
		"$" + b64.EncodeToString(h.Salt) + "$" + b64.EncodeToString(h.Key)
}

// parseHash parses a PHC string made by String. It accepts only the canonical
// form (parameters in the order m,t,p, no leading zeros, strict base64), so
// parseHash(s).String() == s whenever it succeeds.
func parseHash(s string) (phc, error) {
	var h phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return h, errBadHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, errBadHash
	}
	m, ok1 := parseParam(params[0], "m=", maxMemoryKiB)
	t, ok2 := parseParam(params[1], "t=", maxTime)
	p, ok3 := parseParam(params[2], "p=", 255)
	if !ok1 || !ok2 || !ok3 || t < 1 || p < 1 || m < 8*p {
		return h, errBadHash
	}
	h.hashParams = hashParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	var ok bool
	if h.Salt, ok = decodeB64(parts[4]); !ok || len(h.Salt) < minSaltLen || len(h.Salt) > maxSaltLen {
		return phc{}, errBadHash
	}
	if h.Key, ok = decodeB64(parts[5]); !ok || len(h.Key) < minKeyLen || len(h.Key) > maxKeyLen {
		return phc{}, errBadHash
	}
	return h, nil
}

// decodeB64 decodes unpadded standard base64 in canonical form only (the
// decoder alone would skip \r and \n).
func decodeB64(s string) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || b64.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// parseParam parses "name=<decimal>" with no sign and no leading zeros.
func parseParam(s, name string, max uint64) (uint64, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || len(v) > 10 || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// derive computes the argon2id key of password with h's parameters and salt,
// as long as h.Key.
func (h phc) derive(password string) []byte {
	return argon2.IDKey([]byte(password), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Key)))
}

// newHash hashes password with p and a fresh random salt.
func newHash(password string, p hashParams) string {
	h := phc{hashParams: p, Salt: make([]byte, saltLen), Key: make([]byte, keyLen)}
	rand.Read(h.Salt) // never fails (crypto/rand)
	h.Key = h.derive(password)
	return h.String()
}

// verifyHash reports whether password matches the stored PHC string, and
// whether the stored hash should be replaced because its parameters are not p.
func verifyHash(password, stored string, p hashParams) (ok, rehash bool, err error) {
	h, err := parseHash(stored)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(h.derive(password), h.Key) == 1
	return ok, ok && (h.hashParams != p || len(h.Key) != keyLen || len(h.Salt) != saltLen), nil
}
