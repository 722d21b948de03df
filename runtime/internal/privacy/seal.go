package privacy

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
)

// Sealed format constants (see the package doc).
const (
	Version      = 1
	headerLen    = 1 + 4
	nonceLen     = 12
	tagLen       = 16
	Overhead     = headerLen + nonceLen + tagLen // bytes a seal adds
	MaxPlaintext = 1 << 20                       // bytes one seal may hold
	MaxSealed    = MaxPlaintext + Overhead
)

// Errors of Seal and Open.
var (
	// ErrInvalidPurpose: a purpose must match purposeRE.
	ErrInvalidPurpose = errors.New("privacy: purpose must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', '-', ':' or '/', starting with a letter or digit")
	// ErrTooLarge: a plaintext over MaxPlaintext, or a sealed value over
	// MaxSealed.
	ErrTooLarge = errors.New("privacy: too large")
	// ErrMalformed: not a sealed value of a version this runtime reads.
	ErrMalformed = errors.New("privacy: not a sealed value")
	// ErrUnknownKey: sealed under a key this runtime does not hold.
	ErrUnknownKey = errors.New("privacy: sealed under a data key this runtime does not hold")
	// ErrOpen: the value does not open: tampered with, or sealed by another
	// module or for another purpose.
	ErrOpen = errors.New("privacy: does not open: tampered with, or sealed by another module or for another purpose")
)

var purposeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// ValidPurpose reports whether p is a valid purpose.
func ValidPurpose(p string) bool { return purposeRE.MatchString(p) }

// derivedKey names a module's key derived from one ring key.
type derivedKey struct {
	id     uint32
	module string
}

// moduleKey is a module's AEAD under one ring key.
type moduleKey struct{ aead cipher.AEAD }

// maxDerived bounds the cache of derived keys (modules × keys).
const maxDerived = 4096

// aead returns the AEAD of module under key id, or nil if the ring lacks id.
func (k *Keyring) aead(id uint32, module string) (cipher.AEAD, error) {
	dk := derivedKey{id, module}
	k.mu.RLock()
	mk, ok := k.derived[dk]
	master := k.keys[id]
	k.mu.RUnlock()
	if ok {
		return mk.aead, nil
	}
	if master == nil {
		return nil, nil
	}
	sub, err := hkdf.Key(sha256.New, master, nil, "websonic seal v1\x00"+module, 32)
	if err != nil {
		return nil, fmt.Errorf("privacy: derive key: %w", err)
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	k.mu.Lock()
	if len(k.derived) >= maxDerived {
		clear(k.derived)
	}
	k.derived[dk] = &moduleKey{a}
	k.mu.Unlock()
	return a, nil
}

// additionalData binds a sealed value's header, module and purpose.
func additionalData(header []byte, module, purpose string) []byte {
	ad := make([]byte, 0, len(header)+len(module)+len(purpose)+24)
	ad = append(ad, "websonic seal"...)
	ad = append(ad, header...)
	ad = binary.AppendUvarint(ad, uint64(len(module)))
	ad = append(ad, module...)
	ad = binary.AppendUvarint(ad, uint64(len(purpose)))
	ad = append(ad, purpose...)
	return ad
}

// Seal encrypts plaintext for module and purpose under the newest key.
// Errors: ErrInvalidPurpose, ErrTooLarge.
func (k *Keyring) Seal(ctx context.Context, module, purpose string, plaintext []byte) ([]byte, error) {
	if !ValidPurpose(purpose) {
		return nil, ErrInvalidPurpose
	}
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes to seal, at most %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	k.reload(ctx, false)
	id := k.newestID()
	if id == 0 {
		k.reload(ctx, true)
		if id = k.newestID(); id == 0 {
			return nil, k.missingErr()
		}
	}
	a, err := k.aead(id, module)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerLen+nonceLen, Overhead+len(plaintext))
	out[0] = Version
	binary.BigEndian.PutUint32(out[1:5], id)
	rand.Read(out[headerLen:]) // never fails
	return a.Seal(out, out[headerLen:], plaintext, additionalData(out[:headerLen], module, purpose)), nil
}

// missingErr is why the ring is empty.
func (k *Keyring) missingErr() error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.missing != nil {
		return k.missing
	}
	return ErrKeyMissing
}

// Header is the readable part of a sealed value.
type Header struct {
	Version uint8
	KeyID   uint32
}

// ParseSealed splits a sealed value into its header, nonce and ciphertext
// (aliasing b). Errors: ErrTooLarge, ErrMalformed.
func ParseSealed(b []byte) (h Header, nonce, ciphertext []byte, err error) {
	switch {
	case len(b) > MaxSealed:
		return h, nil, nil, fmt.Errorf("%w: %d sealed bytes, at most %d", ErrTooLarge, len(b), MaxSealed)
	case len(b) < Overhead:
		return h, nil, nil, fmt.Errorf("%w: %d bytes, at least %d", ErrMalformed, len(b), Overhead)
	case b[0] != Version:
		return h, nil, nil, fmt.Errorf("%w: version %d, this runtime reads %d", ErrMalformed, b[0], Version)
	}
	h = Header{Version: b[0], KeyID: binary.BigEndian.Uint32(b[1:5])}
	if h.KeyID == 0 {
		return h, nil, nil, fmt.Errorf("%w: key id 0", ErrMalformed)
	}
	return h, b[headerLen : headerLen+nonceLen], b[headerLen+nonceLen:], nil
}

// Open decrypts a value Seal made for the same module and purpose.
// Errors: ErrInvalidPurpose, ErrTooLarge, ErrMalformed, ErrUnknownKey,
// ErrOpen.
func (k *Keyring) Open(ctx context.Context, module, purpose string, sealed []byte) ([]byte, error) {
	if !ValidPurpose(purpose) {
		return nil, ErrInvalidPurpose
	}
	h, nonce, ct, err := ParseSealed(sealed)
	if err != nil {
		return nil, err
	}
	a, err := k.aead(h.KeyID, module)
	if err != nil {
		return nil, err
	}
	if a == nil { // perhaps rotated on another replica: look once more
		k.reload(ctx, true)
		if a, err = k.aead(h.KeyID, module); err != nil {
			return nil, err
		}
		if a == nil {
			if k.newestID() == 0 {
				return nil, k.missingErr()
			}
			return nil, fmt.Errorf("%w: key %d", ErrUnknownKey, h.KeyID)
		}
	}
	pt, err := a.Open(nil, nonce, ct, additionalData(sealed[:headerLen], module, purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
