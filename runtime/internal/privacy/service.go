package privacy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
)

// Host service names.
const (
	ServiceSeal = "privacy.seal"
	ServiceOpen = "privacy.open"
)

// SealRequest is privacy.seal's payload; Plaintext is base64 in JSON.
type SealRequest struct {
	Purpose   string `json:"purpose"`
	Plaintext []byte `json:"plaintext"`
}

// SealReply is privacy.seal's answer.
type SealReply struct {
	Sealed []byte `json:"sealed"`
}

// OpenRequest is privacy.open's payload.
type OpenRequest struct {
	Purpose string `json:"purpose"`
	Sealed  []byte `json:"sealed"`
}

// OpenReply is privacy.open's answer.
type OpenReply struct {
	Plaintext []byte `json:"plaintext"`
}

// maxPayload bounds a request's JSON (base64 of the largest value, and
// room for the rest).
const maxPayload = MaxSealed/3*4 + 4096

// Register adds privacy.seal and privacy.open to services. Both need the
// caller's manifest to set capabilities.seal (else denied); every module
// seals under its own name.
func (k *Keyring) Register(services map[string]modhost.Service) {
	services[ServiceSeal] = modhost.ServiceFunc(k.serveSeal)
	services[ServiceOpen] = modhost.ServiceFunc(k.serveOpen)
}

func (k *Keyring) serveSeal(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
	if !c.Manifest.Capabilities.Seal {
		return nil, modhost.Denied("%s: the module's manifest does not ask for seal", ServiceSeal)
	}
	var req SealRequest
	if err := DecodeStrict(payload, &req, maxPayload); err != nil {
		return nil, modhost.Invalid("%s: %v", ServiceSeal, err)
	}
	sealed, err := k.Seal(ctx, c.Module, req.Purpose, req.Plaintext)
	if err != nil {
		return nil, hostError(ServiceSeal, err)
	}
	return json.Marshal(SealReply{Sealed: sealed})
}

func (k *Keyring) serveOpen(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
	if !c.Manifest.Capabilities.Seal {
		return nil, modhost.Denied("%s: the module's manifest does not ask for seal", ServiceOpen)
	}
	var req OpenRequest
	if err := DecodeStrict(payload, &req, maxPayload); err != nil {
		return nil, modhost.Invalid("%s: %v", ServiceOpen, err)
	}
	pt, err := k.Open(ctx, c.Module, req.Purpose, req.Sealed)
	if err != nil {
		return nil, hostError(ServiceOpen, err)
	}
	return json.Marshal(OpenReply{Plaintext: pt})
}

// hostError maps Seal's and Open's errors to the ABI's codes.
func hostError(service string, err error) error {
	code := abi.HostErrFailed
	switch {
	case errors.Is(err, ErrInvalidPurpose), errors.Is(err, ErrMalformed), errors.Is(err, ErrOpen):
		code = abi.HostErrInvalid
	case errors.Is(err, ErrTooLarge):
		code = abi.HostErrLimit
	case errors.Is(err, ErrUnknownKey):
		code = abi.HostErrNotFound
	case errors.Is(err, ErrKeyMissing):
		return &abi.HostError{Code: code, Message: service + ": this runtime has no data key (its owner must copy the site's key file to it)"}
	}
	return &abi.HostError{Code: code, Message: fmt.Sprintf("%s: %v", service, err)}
}

// DecodeStrict decodes one JSON object of at most max bytes into v:
// unknown fields, trailing data and a null or non-object document are
// errors.
func DecodeStrict(payload []byte, v any, max int) error {
	if len(payload) > max {
		return fmt.Errorf("payload of %d bytes exceeds %d", len(payload), max)
	}
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("payload must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad payload: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("bad payload: data after the JSON object")
	}
	return nil
}
