package tlsserve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The self-signed development certificate's files in Dir: SelfSignedCert is
// what a client pins.
const (
	SelfSignedCert = "self-signed.pem"
	selfSignedKey  = "self-signed.key"
)

// loadSelfSigned serves the development certificate in Dir, made first
// when it is missing or has less than 30 days left.
func (l *Listener) loadSelfSigned(ctx context.Context) error {
	certPath, keyPath := filepath.Join(l.cfg.Dir, SelfSignedCert), filepath.Join(l.cfg.Dir, selfSignedKey)
	certPEM, errC := os.ReadFile(certPath)
	keyPEM, errK := os.ReadFile(keyPath)
	usable := false
	switch {
	case errC == nil && errK == nil:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		usable = err == nil && time.Until(pair.Leaf.NotAfter) > 30*24*time.Hour
	case !errors.Is(errC, fs.ErrNotExist) && errC != nil:
		return fmt.Errorf("tlsserve: %w", errC)
	case !errors.Is(errK, fs.ErrNotExist) && errK != nil:
		return fmt.Errorf("tlsserve: %w", errK)
	}
	if !usable {
		var err error
		if certPEM, keyPEM, err = newSelfSigned(time.Now()); err != nil {
			return err
		}
		if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			return fmt.Errorf("tlsserve: %w", err)
		}
		if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
			return fmt.Errorf("tlsserve: %w", err)
		}
	}
	if _, err := l.magic.CacheUnmanagedCertificatePEMBytes(ctx, certPEM, keyPEM, nil); err != nil {
		return fmt.Errorf("tlsserve: self-signed certificate: %w", err)
	}
	l.log.Warn("serving a self-signed development certificate: clients must pin it; never use it in production", "certificate", certPath)
	return nil
}

// newSelfSigned makes a one-year ECDSA P-256 certificate for localhost,
// 127.0.0.1 and ::1 that is its own CA, so that a client can pin it as
// its root.
func newSelfSigned(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsserve: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("tlsserve: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Web Sonic development (self-signed)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsserve: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsserve: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
