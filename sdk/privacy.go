package sdk

import "context"

// Seal encrypts plaintext (at most 1 MiB) with the site's data key, for
// this module and purpose: only this module, giving the same purpose, can
// Open it, on this site. purpose names what the data is ("email",
// "notes/body"…): 1 to 128 characters of letters, digits, '.', '_', '-',
// ':' and '/'. The result is binary (store it in a bytea column); it is 33
// bytes longer than plaintext, and sealing the same plaintext twice gives
// different results. The site's key never leaves the runtime, and values
// sealed before a key rotation still open. Needs "seal": true in the
// manifest's capabilities (sdk/ABI.md section 17).
func Seal(ctx context.Context, purpose string, plaintext []byte) ([]byte, error) {
	var resp struct {
		Sealed []byte `json:"sealed"`
	}
	if err := callHost(ctx, "privacy.seal", struct {
		Purpose   string `json:"purpose"`
		Plaintext []byte `json:"plaintext"`
	}{purpose, plaintext}, &resp); err != nil {
		return nil, err
	}
	return resp.Sealed, nil
}

// Open decrypts a value Seal made for this module and purpose. A value
// changed in any way, sealed by another module or for another purpose
// fails with a *HostError of code "invalid".
func Open(ctx context.Context, purpose string, sealed []byte) ([]byte, error) {
	var resp struct {
		Plaintext []byte `json:"plaintext"`
	}
	if err := callHost(ctx, "privacy.open", struct {
		Purpose string `json:"purpose"`
		Sealed  []byte `json:"sealed"`
	}{purpose, sealed}, &resp); err != nil {
		return nil, err
	}
	if resp.Plaintext == nil {
		resp.Plaintext = []byte{}
	}
	return resp.Plaintext, nil
}
