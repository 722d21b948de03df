package tlsserve

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"time"
)

// fileState is the certificate files as last loaded.
type fileState struct {
	stamp [2]fileStamp
	hash  string // certmagic's hash of the served certificate
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// Reload reads CertFile and KeyFile again and serves them from the next
// handshake on. A pair that does not load (unreadable, mismatched, expired)
// is an error and leaves the served certificate as it was. Without
// certificate files it does nothing.
func (l *Listener) Reload(ctx context.Context) error {
	if l.cfg.CertFile == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var stamp [2]fileStamp
	var pems [2][]byte
	for i, path := range []string{l.cfg.CertFile, l.cfg.KeyFile} {
		var err error
		if stamp[i], err = stampOf(path); err != nil {
			return fmt.Errorf("tlsserve: %w", err)
		}
		if pems[i], err = os.ReadFile(path); err != nil {
			return fmt.Errorf("tlsserve: %w", err)
		}
	}
	pair, err := tls.X509KeyPair(pems[0], pems[1])
	if err != nil {
		return fmt.Errorf("tlsserve: %s and %s: %w", l.cfg.CertFile, l.cfg.KeyFile, err)
	}
	if now := time.Now(); now.After(pair.Leaf.NotAfter) {
		return fmt.Errorf("tlsserve: %s expired at %s", l.cfg.CertFile, pair.Leaf.NotAfter.Format(time.RFC3339))
	}
	hash, err := l.magic.CacheUnmanagedCertificatePEMBytes(ctx, pems[0], pems[1], nil)
	if err != nil {
		return fmt.Errorf("tlsserve: %s: %w", l.cfg.CertFile, err)
	}
	if old := l.files.hash; old != "" && old != hash {
		l.cache.Remove([]string{old})
	}
	if l.files.hash != hash {
		l.log.Info("serving certificate", "file", l.cfg.CertFile, "names", pair.Leaf.DNSNames, "ips", pair.Leaf.IPAddresses,
			"expires", pair.Leaf.NotAfter.Format(time.RFC3339))
	}
	l.files = fileState{stamp: stamp, hash: hash}
	return nil
}

// changed reports whether the files differ from those last loaded.
func (l *Listener) changed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, path := range []string{l.cfg.CertFile, l.cfg.KeyFile} {
		s, err := stampOf(path)
		if err != nil || s != l.files.stamp[i] {
			return true
		}
	}
	return false
}

// watchFiles reloads the certificate files when they change. A certificate
// tool may write the two files one after the other: a half-written pair
// fails to load, is logged, and is tried again at the next check.
func (l *Listener) watchFiles(ctx context.Context) {
	defer l.bg.Done()
	t := time.NewTicker(l.cfg.ReloadEvery)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !l.changed() {
			continue
		}
		if err := l.Reload(ctx); err != nil {
			if err.Error() != lastErr {
				l.log.Error("the certificate files changed but do not load; the previous certificate keeps serving", "error", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
	}
}
